/**
 * proc_step2 throughput (part of `npm run bench`; alone: `node test/bench/agentless.ts`):
 * a synthetic set of instances (structures with several 1,500-line Python files) and a step-2
 * output of BENCH_STEP2_LINES lines (default 4,000), each answer editing two files with one exact and
 * one whitespace-shifted edit; `agentless bugfixer proc_step2` with --num_workers 1 and 2 (the
 * ratio of the two is the figure; the outputs must be identical), best of BENCH_RUNS each.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, CLI, best, printTable, timed } from "./common.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DATA = join(ROOT, "test/bench/data/agentless");
const LINES = Number(process.env.BENCH_STEP2_LINES ?? 4000);
const INSTANCES = 50;
const PASSK = Math.ceil(LINES / INSTANCES);
const RUNS = Math.max(1, Math.floor(Number(process.env.BENCH_RUNS ?? 1)));

function fileLines(seed: number): string[] {
  const out: string[] = [];
  for (let f = 0; f < 100; f++) {
    out.push(`def func_${seed}_${f}(a, b):`, `    """Add things ${f}."""`, `    total = a + b * ${f}`);
    for (let k = 0; k < 10; k++) out.push(`    total += helper_${k}(a, "x${k}")  # é`);
    out.push(`    return total`, ``);
  }
  return out;
}

export function build(): void {
  mkdirSync(join(DATA, "structures"), { recursive: true });
  const rows: string[] = [];
  const out: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const id = `bench__proj-${1000 + i}`;
    const pkg: Record<string, unknown> = {};
    for (let m = 0; m < 6; m++) pkg[`mod${m}.py`] = { classes: [], functions: [], text: fileLines(i * 10 + m) };
    writeFileSync(join(DATA, "structures", `${id}.json`), JSON.stringify({ repo: "bench/proj", base_commit: "0".repeat(40), instance_id: id, structure: { proj: { "setup.py": { classes: [], functions: [], text: ["import setuptools"] } }, pkg } }));
    rows.push(JSON.stringify({ instance_id: id, repo: "bench/proj", base_commit: "0".repeat(40), problem_statement: "bench issue" }));
    for (let p = 0; p < PASSK && out.length < LINES; p++) {
      const f = (p * 7) % 100;
      const answer = [
        "```python", "pkg/mod1.py", "<<<<<<< SEARCH", `    total = a + b * ${f}`, "=======", `    total = a - b * ${f}`, ">>>>>>> REPLACE", "```",
        "```python", "pkg/mod4.py", "<<<<<<< SEARCH", `  total = a + b * ${(f + 3) % 100}`, `  return total`, "=======", `  total = a + b * ${(f + 3) % 100} + 1`, `  return total`, ">>>>>>> REPLACE", "```",
      ].join("\n");
      out.push(JSON.stringify({ id: `r${out.length}`, custom_id: `${id}__pass${p}`, response: { status_code: 200, request_id: "q", body: { choices: [{ index: 0, message: { role: "assistant", content: `<think>edit mod1 and mod4</think>\n${answer}` }, finish_reason: "stop" }] } }, error: null }));
    }
  }
  writeFileSync(join(DATA, "dataset.jsonl"), rows.join("\n") + "\n");
  writeFileSync(join(DATA, "step2.jsonl"), out.join("\n") + "\n");
}

/** proc_step2 with 1 and 2 workers on the same input; the outputs must be identical. */
export async function procStep2(): Promise<BenchRow[]> {
  if (!existsSync(join(DATA, "step2.jsonl"))) build();
  console.log(`proc_step2: ${LINES} step-2 lines, ${INSTANCES} instances x passk ${PASSK}, two edited 1,500-line files per answer`);
  const rows: BenchRow[] = [];
  for (const workers of [1, 2]) {
    const save = join(DATA, `save-${workers}`);
    // Each run starts with the last one's 780 MB of output deleted and written back, so it does not pay for them.
    const clean = () => (rmSync(save, { recursive: true, force: true }), spawnSync("sync"));
    const r = await best(RUNS, `proc_step2 --num_workers ${workers}`, () => (clean(), timed("node", [CLI, "agentless", "bugfixer", "proc_step2", "--dataset", join(DATA, "dataset.jsonl"), "--repostructure_dir", join(DATA, "structures"), "--input_file", join(DATA, "step2.jsonl"), "--save_dir", save, "--passk", String(PASSK), "--num_workers", String(workers), "-q"])));
    rows.push({ section: "proc_step2", name: `--num_workers ${workers}`, value: LINES / r.wall, unit: "lines/s", rssMb: r.rssMb, ...(workers === 2 ? { baseline: "--num_workers 1", target: 1.8 } : {}) });
  }
  const same = spawnSync("diff", ["-r", join(DATA, "save-1"), join(DATA, "save-2")]).status === 0;
  for (const workers of [1, 2]) rmSync(join(DATA, `save-${workers}`), { recursive: true, force: true });
  if (!same) throw new Error("the outputs of 1 and 2 workers differ");
  rows[1]!.note = "outputs identical to 1 worker's";
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await procStep2();
  rows[1]!.ratio = rows[1]!.value! / rows[0]!.value!;
  printTable(rows);
}
