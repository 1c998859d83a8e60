/**
 * The CLI's start-up: wall time of commands that do almost no work (`--version`, `slice` and
 * `validate` of the 4-line fixture, `--help`, which loads every command), median of
 * BENCH_STARTUP_RUNS (default 11) runs each. With BENCH_BEFORE, the same commands of that build
 * run interleaved with these as "(before)" rows, and each row's ratio is the speed-up
 * (before's time over this build's).
 */
import { join } from "node:path";
import { type BenchRow, CLI, ROOT, timed } from "./common.ts";

/** A 4-line request file. */
export const TINY_REQUESTS = join(ROOT, "fixtures/batch/requests.jsonl");

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function startup(before: string | undefined): Promise<BenchRow[]> {
  const raw = process.env.BENCH_STARTUP_RUNS;
  const runs = raw ? Math.max(1, Math.floor(Number(raw))) : 11;
  const cases: { name: string; args: string[] }[] = [
    { name: "--version", args: ["--version"] },
    { name: "slice (4-line file)", args: ["slice", TINY_REQUESTS, "--shard", "0/1", "-q"] },
    { name: "validate (4-line file)", args: ["validate", TINY_REQUESTS, "-q"] },
    { name: "--help (every command)", args: ["--help"] },
  ];
  const builds = before ? [{ cli: CLI, suffix: "" }, { cli: before, suffix: " (before)" }] : [{ cli: CLI, suffix: "" }];
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const walls = new Map<string, number[]>();
    const rss = new Map<string, number | null>();
    for (let i = 0; i < runs; i++) {
      for (const b of builds) {
        const t = await timed("node", [b.cli, ...c.args]);
        if (t.code !== 0) throw new Error(`start-up ${c.name}${b.suffix}: exited with ${t.code}\n${t.stderr}`);
        walls.set(b.suffix, [...(walls.get(b.suffix) ?? []), t.wall]);
        rss.set(b.suffix, t.rssMb === null ? null : Math.max(rss.get(b.suffix) ?? 0, t.rssMb));
      }
    }
    const value = (suffix: string) => median(walls.get(suffix)!);
    process.stderr.write(`  start-up ${c.name}: ${builds.map((b) => `${b.suffix || "now"} ${value(b.suffix).toFixed(3)} s`).join(", ")} (median of ${runs})\n`);
    const name = `cli start-up: ${c.name}`;
    const row: BenchRow = { section: "startup", name, value: value(""), unit: "s", rssMb: rss.get("") ?? null, note: `median of ${runs} runs` };
    if (before) {
      row.baseline = `${name} (before)`;
      row.ratio = value(" (before)") / value("");
      row.note += "; ratio = speed-up over the before build";
    }
    rows.push(row);
    if (before) rows.push({ section: "startup", name: `${name} (before)`, value: value(" (before)"), unit: "s", rssMb: rss.get(" (before)") ?? null });
  }
  return rows;
}
