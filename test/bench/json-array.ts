/**
 * JSON arrays (a dataset shipped as one `[...]`, like SWE-bench's JSON exports): our scanner
 * (src/datasets/json-array.ts) against stream-json's streamArray, each in its own process on the
 * same generated array of SWE-bench-shaped rows (BENCH_JSON_MB MiB, default 1024): MB/s and peak
 * RSS. Both must read the same items. Part of `npm run bench`; alone: `node test/bench/json-array.ts`.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, DATA_DIR, best, printTable, timed } from "./common.ts";

const MIB = 1024 * 1024;

/** A deterministic SWE-bench-like row of roughly 20 KB (problem statement, patches, test lists). */
function row(i: number): string {
  const code = (n: number) => Array.from({ length: n }, (_, k) => `    value_${k} = compute("x${i}", ${k})  # é \\ "quoted"\n`).join("");
  const tests = Array.from({ length: 120 }, (_, k) => `tests/test_mod.py::TestThing::test_case_${i}_${k}`);
  return JSON.stringify({
    repo: "bench/project",
    instance_id: `bench__project-${i}`,
    base_commit: (i * 2654435761).toString(16).padStart(40, "0").slice(0, 40),
    patch: `diff --git a/src/mod.py b/src/mod.py\n--- a/src/mod.py\n+++ b/src/mod.py\n@@ -1,40 +1,40 @@\n${code(40)}`,
    test_patch: `diff --git a/tests/test_mod.py b/tests/test_mod.py\n@@ -1,30 +1,30 @@\n${code(30)}`,
    problem_statement: `Issue ${i}: calling \`compute\` with a tab\tand unicode “quotes” fails.\n\n${code(60)}`,
    hints_text: i % 3 === 0 ? "" : `See also #${i - 1}.\r\nThanks!`,
    created_at: "2023-01-01T00:00:00Z",
    version: "1.0",
    FAIL_TO_PASS: JSON.stringify(tests.slice(0, 3)),
    PASS_TO_PASS: JSON.stringify(tests),
    environment_setup_commit: "0".repeat(40),
  });
}

function ensureArray(mb: number): { path: string; rows: number } {
  mkdirSync(DATA_DIR, { recursive: true });
  const path = join(DATA_DIR, `swe-bench-rows-${mb}mb.json`);
  const target = mb * MIB;
  const rowsFor = (bytes: number) => Math.max(1, Math.round(bytes / (row(0).length + 2)));
  if (existsSync(path)) return { path, rows: rowsFor(statSync(path).size) };
  const fd = openSync(`${path}.tmp`, "w");
  let written = 0;
  let n = 0;
  writeSync(fd, "[\n");
  let batch: string[] = [];
  while (written < target) {
    const text = row(n);
    batch.push(n === 0 ? text : `,\n${text}`);
    written += text.length + 2;
    n++;
    if (batch.length === 500) {
      writeSync(fd, batch.join(""));
      batch = [];
    }
  }
  writeSync(fd, batch.join("") + "\n]\n");
  closeSync(fd);
  renameSync(`${path}.tmp`, path);
  return { path, rows: n };
}

/** Ours against stream-json on the same file; the row compares ours with the library. */
export async function jsonArray(): Promise<BenchRow[]> {
  const mb = Number(process.env.BENCH_JSON_MB ?? 1024);
  const { path } = ensureArray(mb);
  const size = statSync(path).size / MIB;
  console.log(`json-array: ${path} (${size.toFixed(0)} MB)`);
  const reader = fileURLToPath(new URL("./json-array-reader.ts", import.meta.url));
  const results = new Map<string, { wall: number; rssMb: number | null; out: string }>();
  for (const mode of ["stream-json", "ours"]) {
    const r = await best(1, `json-array ${mode}`, () => timed("node", [reader, mode, path]));
    results.set(mode, { wall: r.wall, rssMb: r.rssMb, out: r.stdout.trim() });
  }
  const lib = results.get("stream-json")!;
  const ours = results.get("ours")!;
  if (lib.out !== ours.out) throw new Error(`the readers disagree: stream-json read "${lib.out}", ours "${ours.out}"`);
  return [
    { section: "json-array", name: "stream-json streamArray", value: size / lib.wall, unit: "MB/s", rssMb: lib.rssMb, note: `${lib.out.split(" ")[0]} rows` },
    { section: "json-array", name: "src/datasets/json-array.ts", value: size / ours.wall, unit: "MB/s", baseline: "stream-json streamArray", rssMb: ours.rssMb },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await jsonArray());
