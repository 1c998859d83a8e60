/**
 * swe-testgen end to end on the engine: the three fixture repos, answers replayed by the replay
 * backend, tests run for real by the local runner (pytest + coverage.py), outputs in the guide's
 * layout; --start-from-phase resume and its refusal; all-fail stops the run.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runPipeline } from "../src/pipeline/index.ts";
import definition from "../src/swe-testgen/swe-testgen.ts";
import { ANSWERS, DATASET, PYTHON, fixtureReposDir } from "./swe-testgen-fixtures.ts";
import { tempDir } from "./helpers.ts";
import { dockerStandin } from "./docker-standin.ts";
import { instanceImage } from "../src/runners/docker.ts";

let out = "";
let cleanup = async () => {};
const repos = fixtureReposDir();
before(async () => ({ dir: out, cleanup } = await tempDir()));
after(async () => {
  repos.cleanup();
  await cleanup();
});

const base = () => ({ output: out, model: "openai/gpt-5", backend: "replay", replayAnswers: ANSWERS, dataset: DATASET, reposDir: repos.dir, python: PYTHON, repoSelectNum: 0, maxEvalWorkers: 2 });

async function run(options: Record<string, unknown>) {
  const lines: string[] = [];
  const report = await runPipeline(definition, { ...base(), ...options }, { log: (l) => lines.push(l), env: {} });
  return { report, lines };
}

describe("pipeline swe-testgen (engine, replay backend, local runner)", () => {
  it("runs the five phases and writes the guide's layout", async () => {
    const { report } = await run({ runId: "e2e" });
    assert.equal(report.error, undefined);
    assert.deepEqual(Object.keys(report.steps), ["test_gen", "hard_code_fix", "gold_eval", "coverage_fix", "coverage_eval"]);
    const dir = join(out, "e2e");
    const preds = JSON.parse(readFileSync(join(dir, "preds.json"), "utf8")) as Record<string, { meta: Record<string, unknown>; stage: { stage_name: string; exit_status: string }[]; model_test_patch: string }>;
    assert.deepEqual(Object.keys(preds).sort(), ["acme__calc-1", "acme__shapes-3", "acme__textutil-2"]);
    for (const p of Object.values(preds)) {
      assert.equal(p.meta.pass_gold_patch_status, "success");
      assert.equal(p.meta.coverage_rate, 1);
      assert.match(p.model_test_patch, /^diff --git a\/tests\//);
    }
    const automation = JSON.parse(readFileSync(join(dir, "stage1_automation_report.json"), "utf8")) as { statistics: Record<string, unknown>; successful_instances: string[]; low_coverage_instances: string[] };
    assert.equal(automation.statistics.total_instances, 3);
    assert.equal(automation.statistics.successful_instances, 3);
    assert.equal(automation.statistics.coverage_fix_iterations, 1);
    assert.deepEqual(automation.low_coverage_instances, []);
    assert.ok(readdirSync(join(dir, "logs")).includes("stage1_automation.log"));
    assert.ok(readdirSync(join(dir, "logs")).some((f) => /^test_generation_\d+\.log$/.test(f)));
    assert.ok(readdirSync(join(dir, "exit_statuses")).some((f) => /^test_gen_exit_statuses_\d+\.yaml$/.test(f)));
    const gen = readFileSync(join(dir, "exit_statuses", readdirSync(join(dir, "exit_statuses")).find((f) => f.startsWith("test_gen_"))!), "utf8");
    assert.match(gen, /^instances_by_exit_status:\n {4}"Submitted":\n {4}- "acme__calc-1"/);
    const goldEval = readFileSync(join(dir, "phases", "gold_eval.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { custom_id: string; status: string });
    assert.deepEqual(goldEval.map((r) => r.status), ["passed", "passed", "passed"]);
  });

  it("refuses --start-from-phase with another --model or --run-id, and resumes with the same", async () => {
    await assert.rejects(run({ runId: "e2e", model: "openai/gpt-4o", startFromPhase: "gold_eval" }), /--model "openai\/gpt-4o" differs from the run being resumed \("openai\/gpt-5"\)/);
    await assert.rejects(run({ runId: "other", startFromPhase: "gold_eval" }), /no earlier run in .*other/);
    const { lines, report } = await run({ runId: "e2e", startFromPhase: "coverage_eval" });
    assert.ok(lines.includes("coverage_eval: running"), lines.join("\n"));
    assert.ok(!lines.includes("gold_eval: running"), lines.join("\n"));
    assert.ok(lines.some((l) => /^gold_eval: done earlier/.test(l)));
    assert.equal(report.error, undefined);
  });

  it("resumes a preds.json the original scripts wrote (quirks included) with --start-from-phase coverage_fix", async () => {
    const rows = readFileSync(DATASET, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const shapes = rows.find((r) => r.instance_id === "acme__shapes-3")!;
    const calc = rows.find((r) => r.instance_id === "acme__calc-1")!;
    const circle = 'diff --git a/tests/test_area.py b/tests/test_area.py\n--- a/tests/test_area.py\n+++ b/tests/test_area.py\n@@ -3,3 +3,8 @@ from shapes.area import area\n \n def test_square():\n     assert area("square", 3) == 9\n+\n+\n+def test_circle():\n+    import math\n+    assert abs(area("circle", 2) - math.pi * 4) < 1e-9\n';
    const original = {
      "acme__shapes-3": {
        subset: "verified", ...shapes, model_patch: shapes.patch, model_name_or_path: "openai/gpt-5", model_test_patch: circle,
        stage: [{ stage: "patch_generation", iteration: 1, model_test_patch: circle, outputs: "/old/traj", status: "completed", evaluation_info: { status: "completed", pass_gold_patch_status: "success" } }],
        meta: { hard_code_status: "success", pass_gold_patch_status: "success", coverage_rate: 0.5, iteration: 1, uncovered_lines: { "shapes/area.py": [[11, '    if kind == "triangle":'], [12, "        return math.sqrt(3) / 4 * size * size"]] } },
      },
      "acme__calc-1": { ...calc, model_test_patch: "", stage: [{ stage: "patch_generation", iteration: 1, model_test_patch: "", status: "incomplete" }], meta: { hard_code_status: "unknow", pass_gold_patch_status: "unknow", coverage_rate: "unknow", iteration: 1 } },
    };
    const dir = join(out, "from-original");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "preds.json"), JSON.stringify(original, null, 4));
    const { report, lines } = await run({ runId: "from-original", startFromPhase: "coverage_fix" });
    assert.equal(report.error, undefined, lines.join("\n"));
    const preds = JSON.parse(readFileSync(join(dir, "preds.json"), "utf8")) as Record<string, { meta: Record<string, unknown>; stage: Record<string, unknown>[]; model_test_patch: string }>;
    assert.equal(preds["acme__shapes-3"]!.meta.coverage_rate, 1);
    assert.match(preds["acme__shapes-3"]!.model_test_patch, /def test_triangle/);
    assert.equal(preds["acme__shapes-3"]!.stage[0]!.outputs, "/old/traj");
    const prompt = readFileSync(join(dir, "requests", "coverage_fix_1.jsonl"), "utf8");
    assert.match(prompt, /shapes\/area.py:11:     if kind == \\"triangle\\":/);
    assert.deepEqual(preds["acme__calc-1"]!.meta, original["acme__calc-1"].meta);
  });

  it("runs the evaluations in SWE-bench instance images with --runner docker, through DOCKER_HOST", async () => {
    const bin = join(out, "docker-bin");
    mkdirSync(bin);
    const images = Object.fromEntries(["calc", "textutil", "shapes"].map((n, k) => [instanceImage(`acme__${n}-${k + 1}`), join(repos.dir, `acme__${n}`)]));
    const standin = dockerStandin(bin, images, PYTHON);
    const lines: string[] = [];
    const report = await runPipeline(definition, { ...base(), runId: "docker", runner: "docker" }, { log: (l) => lines.push(l), env: { PATH: `${bin}:${process.env.PATH}`, DOCKER_HOST: "tcp://fleet.example.invalid:2376" } });
    assert.equal(report.error, undefined, lines.join("\n"));
    const preds = JSON.parse(readFileSync(join(out, "docker", "preds.json"), "utf8")) as Record<string, { meta: Record<string, unknown> }>;
    for (const p of Object.values(preds)) {
      assert.equal(p.meta.pass_gold_patch_status, "success");
      assert.equal(p.meta.coverage_rate, 1);
    }
    const calls = standin.calls();
    assert.ok(calls.length > 0 && calls.every((c) => c.DOCKER_HOST === "tcp://fleet.example.invalid:2376"));
    const started = calls.filter((c) => c.argv[0] === "run").map((c) => c.argv.find((a) => a.startsWith("swebench/")));
    assert.ok(started.includes("swebench/sweb.eval.x86_64.acme_1776_calc-1:latest"));
    assert.equal(calls.filter((c) => c.argv[0] === "run").length, calls.filter((c) => c.argv[0] === "rm").length);
  });

  it("stops with a clear error when every instance fails test generation", async () => {
    const empty = join(out, "no-answers.jsonl");
    writeFileSync(empty, "");
    await assert.rejects(run({ runId: "allfail", replayAnswers: empty, maxTestGenRetries: 1 }), /test_gen: all 3 instances failed test generation/);
    const preds = JSON.parse(readFileSync(join(out, "allfail", "preds.json"), "utf8")) as Record<string, { model_test_patch: string }>;
    assert.equal(Object.keys(preds).length, 3);
    assert.ok(Object.values(preds).every((p) => p.model_test_patch === ""));
  });
});
