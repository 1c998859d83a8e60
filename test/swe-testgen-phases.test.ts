import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, after } from "node:test";
import local from "../src/runners/local.ts";
import { automationReport, coverageEvalPhase, coverageFixPhase, goldEvalPhase, hardCodeFixPhase, instanceOf, newStats, testGenPhase, type Instance } from "../src/swe-testgen/phases.ts";
import { loadPreds } from "../src/swe-testgen/preds-store.ts";
import { openRunDir, runFiles } from "../src/swe-testgen/run-dir.ts";
import { ANSWERS, PYTHON, fixtureReposDir, fixtureRows } from "./swe-testgen-fixtures.ts";
import { tempDir } from "./helpers.ts";

/** Answers requests from the recorded answers by custom_id, the way the replay backend does (missing: an error line). */
function replaySubmit(requests: string, output: string): Promise<void> {
  const recorded = new Map(readFileSync(ANSWERS, "utf8").trim().split("\n").map((l) => [JSON.parse(l).custom_id as string, l]));
  const lines = readFileSync(requests, "utf8").trim().split("\n").map((l) => {
    const id = JSON.parse(l).custom_id as string;
    return recorded.get(id) ?? JSON.stringify({ id: `x_${id}`, custom_id: id, response: null, error: { code: "missing", message: "not recorded" } });
  });
  writeFileSync(output, lines.join("\n") + "\n");
  return Promise.resolve();
}

describe("swe-testgen phases (library, replayed answers, local runner)", () => {
  const repos = fixtureReposDir();
  after(() => repos.cleanup());

  it("runs the five phases: one passes at once, one is fixed on retry, one reaches full coverage through coverage_fix", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const options = { model: "openai/gpt-5", temperature: 1, maxTokens: 4096, maxTestGenRetries: 3, maxHardCodeFixRetries: 3, maxCombinedRetries: 2, maxCoverageFixAttempts: 2, evalTimeout: 60, maxEvalWorkers: 2, reposDir: repos.dir, subset: "verified" };
      const runner = local({ python: PYTHON, reposDir: repos.dir });
      const env = await openRunDir({ dir, options, runner: async () => runner, submit: replaySubmit });
      const instances: Instance[] = fixtureRows().map((r) => instanceOf(r as unknown as Record<string, unknown>, undefined, { model: options.model, subset: "verified" }));
      await env.save(instances);
      const stats = newStats();
      await testGenPhase(env, instances, stats);
      await hardCodeFixPhase(env, instances, stats);
      await goldEvalPhase(env, instances, stats);
      await coverageFixPhase(env, instances, stats);
      await coverageEvalPhase(env, instances, stats);

      const preds = await loadPreds(runFiles(dir).preds);
      const calc = preds.get("acme__calc-1")!;
      const text = preds.get("acme__textutil-2")!;
      const shapes = preds.get("acme__shapes-3")!;
      for (const p of [calc, text, shapes]) assert.equal(p.meta?.pass_gold_patch_status, "success", JSON.stringify(p.meta));
      assert.deepEqual(calc.meta?.FAIL_TO_PASS, ["tests/test_ops.py::test_clamp_high"]);
      assert.equal(calc.meta?.coverage_rate, 1);
      // textutil: passes_on_base first, then hard_code_fix_2 makes it fail without the fix
      const textStages = (text.stage ?? []).map((s) => `${s.stage_name}:${s.exit_status}`);
      assert.deepEqual(textStages, ["test_generation:Submitted", "hard_code_fix:Submitted", "hard_code_fix:Submitted"]);
      assert.deepEqual(text.meta?.FAIL_TO_PASS, ["tests/test_slug.py::test_slugify_lowercases"]);
      // shapes: 0.5 after gold_eval (the triangle branch uncovered), 1.0 after coverage_fix
      const goldEval = (shapes.stage ?? []).find((s) => s.stage === "Hard_Code_Fix")?.evaluation_info as { coverage_rate: number; uncovered_lines: string[] };
      assert.equal(goldEval.coverage_rate, 0.5);
      assert.deepEqual(goldEval.uncovered_lines, ['shapes/area.py:11:     if kind == "triangle":', "shapes/area.py:12:         return math.sqrt(3) / 4 * size * size"]);
      assert.equal(shapes.meta?.coverage_rate, 1);
      assert.deepEqual(shapes.meta?.uncovered_lines, []);
      assert.ok((shapes.stage ?? []).some((s) => s.stage === "Coverage_Fix" && s.exit_status === "Submitted"));
      assert.match(String(shapes.model_test_patch), /def test_triangle/);
      assert.equal(stats.coverage_fix_iterations, 1);
      const report = automationReport(instances, stats);
      assert.deepEqual(report.failed_instances, []);
      // the exit status files and logs are where the guide says
      assert.ok(readdirSync(join(dir, "exit_statuses")).some((f) => /^gold_eval_exit_statuses_\d+\.yaml$/.test(f)));
      assert.match(readFileSync(join(dir, "logs", "gold_eval", "acme__calc-1", "gold.log"), "utf8"), /PASSED tests\/test_ops.py::test_clamp_high/);
    } finally {
      await cleanup();
    }
  });
});
