/**
 * What the bench sections share (test/bench/run.ts runs them all): the built CLI, the data folder,
 * the table row, timing a child process (wall clock, peak RSS via /usr/bin/time when it works), and
 * printing the one table. A module of its own so the sections never import run.ts back.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, "..", "..");
export const DATA_DIR = join(BENCH_DIR, "data");
/** The built bin, as `npx batchline` runs it (`npm run bench` builds first). */
export const CLI = join(ROOT, "dist/src/cli/main.js");

/** One line of the table: a figure, and its ratio to a baseline of the same run when it has one. */
export interface BenchRow {
  section: string;
  name: string;
  value: number | null;
  unit: string;
  /** The row this one is compared with (its `name`), and value / baseline value (for times: the inverse). */
  baseline?: string;
  ratio?: number | null;
  target?: number;
  rssMb?: number | null;
  note?: string;
}

/** Wall seconds and peak RSS (MiB, when /usr/bin/time works) of one child process. */
export interface Timed {
  wall: number;
  rssMb: number | null;
  code: number | null;
  stdout: string;
  stderr: string;
}

function timeWorks(): boolean {
  if (!existsSync("/usr/bin/time")) return false;
  const probe = join(tmpdir(), `batchline-bench-time-${process.pid}`);
  try {
    const r = spawnSync("/usr/bin/time", ["-f", "%M", "-o", probe, process.execPath, "-e", ""], { stdio: "ignore" });
    return r.status === 0 && /^\d+\s*$/.test(readFileSync(probe, "utf8"));
  } catch {
    return false;
  } finally {
    rmSync(probe, { force: true });
  }
}
export const TIME = timeWorks();

/** Runs a program to its end; `node` means this Node. */
export function timed(program: string, args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Timed> {
  const rssFile = join(tmpdir(), `batchline-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const exe = program === "node" ? process.execPath : program;
  const [cmd, argv] = TIME ? ["/usr/bin/time", ["-f", "%M", "-o", rssFile, exe, ...args]] : [exe, args];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv as string[], { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout = (stdout + d).slice(-20000)));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-20000)));
    child.stdin.end(options.input ?? "");
    child.on("error", reject);
    child.on("close", (code) => {
      const wall = (performance.now() - t0) / 1000;
      let rssMb: number | null = null;
      try {
        const m = /(\d+)\s*$/.exec(readFileSync(rssFile, "utf8"));
        if (m) rssMb = Number(m[1]) / 1024;
      } catch {
        // not measured
      }
      rmSync(rssFile, { force: true });
      resolve({ wall, rssMb, code, stdout, stderr });
    });
  });
}

/** Best of `runs` (least wall time; the worst peak RSS, since RSS targets are upper bounds). */
export async function best(runs: number, label: string, run: () => Promise<Timed>, check?: () => string | undefined): Promise<Timed> {
  let bestRun: Timed | undefined;
  let rss: number | null = null;
  for (let i = 0; i < runs; i++) {
    const r = await run();
    if (r.code !== 0) throw new Error(`${label}: exited with ${r.code}\n${r.stderr}${r.stdout}`);
    const problem = check?.();
    if (problem) throw new Error(`${label}: wrong output: ${problem}`);
    process.stderr.write(`  ${label}: ${r.wall.toFixed(2)} s${r.rssMb === null ? "" : `, ${r.rssMb.toFixed(0)} MB`}\n`);
    if (!bestRun || r.wall < bestRun.wall) bestRun = r;
    if (r.rssMb !== null) rss = Math.max(rss ?? 0, r.rssMb);
  }
  return { ...bestRun!, rssMb: rss };
}

function fmt(n: number | null | undefined, digits: number): string {
  return n === null || n === undefined ? "" : n.toFixed(digits);
}

/** Fills in each row's ratio from its baseline row (same section, or any section by name). */
export function ratios(rows: BenchRow[]): void {
  for (const row of rows) {
    if (!row.baseline || row.ratio !== undefined) continue;
    const base = rows.find((r) => r.name === row.baseline && r.section === row.section) ?? rows.find((r) => r.name === row.baseline);
    row.ratio = base?.value && row.value !== null ? row.value / base.value : null;
  }
}

/** Prints the one table (after filling in the ratios it can). */
export function printTable(rows: BenchRow[]): void {
  ratios(rows);
  const header = ["section", "benchmark", "value", "unit", "vs", "ratio", "target", "met", "peak RSS MB"];
  const body = rows.map((r) => [
    r.section,
    r.name,
    fmt(r.value, r.value !== null && r.value < 10 ? 2 : 1),
    r.unit,
    r.baseline ?? "",
    fmt(r.ratio, 2),
    r.target === undefined ? "" : `>= ${r.target}`,
    r.target === undefined || r.ratio === undefined || r.ratio === null ? "" : r.ratio >= r.target ? "yes" : "NO",
    fmt(r.rssMb, 0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i <= 1 || i === 3 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const cells of body) console.log(line(cells));
}

