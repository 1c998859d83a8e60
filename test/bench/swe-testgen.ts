/**
 * swe-testgen evaluation wall time (part of `npm run bench`; alone: `node test/bench/swe-testgen.ts`):
 * the pipeline on the three fixture repos, each instance copied BENCH_SWE_COPIES times (default 4,
 * so 12 instances), answers replayed, tests run for real by the local runner (/usr/bin/python3:
 * pytest + coverage.py). Figures: wall time of gold_eval + coverage_eval per instance with
 * --max-eval-workers 1 and 2 (the ratio of the two is the scaling on this machine), and the mean
 * of one evaluation (a run with the gold patch under coverage.py plus a run at base_commit).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runPipeline } from "../../src/pipeline/index.ts";
import definition from "../../src/swe-testgen/swe-testgen.ts";
import { type BenchRow, printTable } from "./common.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const F = join(ROOT, "fixtures", "swe-testgen");
const COPIES = Number(process.env.BENCH_SWE_COPIES ?? 4);

export async function sweTestgenEval(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "batchline-bench-swe-"));
  try {
    const repos = join(dir, "repos");
    for (const name of ["calc", "textutil", "shapes"]) execFileSync("git", ["clone", "-q", join(F, `${name}.bundle`), join(repos, `acme__${name}`)]);
    const rows = readFileSync(join(F, "dataset.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { instance_id: string });
    const answers = readFileSync(join(F, "answers.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { custom_id: string });
    const copy = (id: string, k: number) => `${id}-r${k}`;
    const data: string[] = [];
    const recorded: string[] = [];
    for (let k = 0; k < COPIES; k++) {
      for (const r of rows) data.push(JSON.stringify({ ...r, instance_id: copy(r.instance_id, k) }));
      for (const a of answers) {
        const cut = a.custom_id.indexOf("__", a.custom_id.indexOf("__") + 2);
        recorded.push(JSON.stringify({ ...a, custom_id: copy(a.custom_id.slice(0, cut), k) + a.custom_id.slice(cut) }));
      }
    }
    writeFileSync(join(dir, "dataset.jsonl"), data.join("\n") + "\n");
    writeFileSync(join(dir, "answers.jsonl"), recorded.join("\n") + "\n");
    const n = data.length;
    console.log(`swe-testgen: ${n} instances (${COPIES} copies of 3 fixtures), local runner, /usr/bin/python3`);
    const out: BenchRow[] = [];
    for (const workers of [1, 2]) {
      const report = await runPipeline(
        definition,
        { output: dir, runId: `w${workers}`, model: "openai/gpt-5", backend: "replay", replayAnswers: join(dir, "answers.jsonl"), dataset: join(dir, "dataset.jsonl"), reposDir: repos, python: "/usr/bin/python3", repoSelectNum: 0, maxEvalWorkers: workers },
        { env: {} },
      );
      if (report.error) throw new Error(report.error);
      const evalSeconds = (report.stepSeconds.gold_eval ?? 0) + (report.stepSeconds.coverage_eval ?? 0);
      const preds = JSON.parse(readFileSync(join(dir, `w${workers}`, "preds.json"), "utf8")) as Record<string, { meta: { pass_gold_patch_status: string; coverage_rate: number; eval_seconds: number } }>;
      const ok = Object.values(preds).filter((p) => p.meta.pass_gold_patch_status === "success" && p.meta.coverage_rate === 1).length;
      if (ok !== n) throw new Error(`only ${ok}/${n} instances passed with full coverage`);
      const mean = Object.values(preds).reduce((s, p) => s + p.meta.eval_seconds, 0) / n;
      process.stderr.write(`  --max-eval-workers ${workers}: gold_eval ${report.stepSeconds.gold_eval?.toFixed(1)} s + coverage_eval ${report.stepSeconds.coverage_eval?.toFixed(1)} s for ${n} instances; one evaluation ${mean.toFixed(2)} s\n`);
      out.push({ section: "swe-testgen", name: `gold+coverage eval, --max-eval-workers ${workers}`, value: evalSeconds / n, unit: "s/instance", ...(workers === 2 ? { baseline: "gold+coverage eval, --max-eval-workers 1" } : {}) });
      if (workers === 1) out.push({ section: "swe-testgen", name: "one evaluation (gold+coverage run, base run)", value: mean, unit: "s" });
    }
    // a time: the ratio is the speed-up, 1 worker's time over 2 workers'
    const w2 = out.find((r) => r.baseline);
    if (w2 && out[0]?.value && w2.value) w2.ratio = out[0].value / w2.value;
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTable(await sweTestgenEval());
}
