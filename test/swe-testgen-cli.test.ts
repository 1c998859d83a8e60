/** `batchline pipeline swe-testgen` through the CLI: the guide's options, replayed answers, the local runner. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempDir } from "./helpers.ts";
import { ANSWERS, DATASET, PYTHON, fixtureReposDir } from "./swe-testgen-fixtures.ts";

let out = "";
let cleanup = async () => {};
const repos = fixtureReposDir();
before(async () => ({ dir: out, cleanup } = await tempDir()));
after(async () => {
  repos.cleanup();
  await cleanup();
});

const args = (runId: string, ...more: string[]) => ["pipeline", "swe-testgen", "--output", out, "--model", "openai/gpt-5", "--run-id", runId, "--workers", "2", "--benchmark", "swebench", "--subset", "verified", "--split", "test", "--repo-select-num", "0", "--temperature", "1.0", "--max-test-gen-retries", "3", "--max-hard-code-fix-retries", "3", "--max-combined-retries", "2", "--max-coverage-fix-attempts", "2", "--eval-timeout", "60", "--max-eval-workers", "2", "--backend", "replay", "--replay-answers", ANSWERS, "--dataset", DATASET, "--repos-dir", repos.dir, "--python", PYTHON, ...more];

describe("batchline pipeline swe-testgen (CLI)", () => {
  it("runs every phase with the guide's options and writes <output>/<run-id>/preds.json", async () => {
    const r = await runCli(args("cli"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const preds = JSON.parse(readFileSync(join(out, "cli", "preds.json"), "utf8")) as Record<string, { meta: { pass_gold_patch_status: string; coverage_rate: number } }>;
    assert.deepEqual(Object.values(preds).map((p) => [p.meta.pass_gold_patch_status, p.meta.coverage_rate]), [["success", 1], ["success", 1], ["success", 1]]);
    assert.match(r.stderr, /coverage_eval/);
  });

  it("refuses --start-from-phase with another --model in one line, and an unknown option", async () => {
    const r = await runCli([...args("cli", "--start-from-phase", "gold_eval").map((a) => (a === "openai/gpt-5" ? "openai/gpt-4o" : a))]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: --start-from-phase gold_eval: --model "openai\/gpt-4o" differs from the run being resumed \("openai\/gpt-5"\)/m);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
    const bad = await runCli(args("cli2", "--max-eval-worker", "3"));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /max-eval-worker/);
    const phase = await runCli(args("cli3", "--start-from-phase", "gold"));
    assert.equal(phase.code, 1);
    assert.match(phase.stderr, /start-from-phase/);
  });

  it("with --skip-coverage-fix stops after gold_eval's results (coverage phases pass through)", async () => {
    const r = await runCli(args("skip", "--skip-coverage-fix"));
    assert.equal(r.code, 0, r.stderr);
    const preds = JSON.parse(readFileSync(join(out, "skip", "preds.json"), "utf8")) as Record<string, { meta: { coverage_rate: number }; model_test_patch: string }>;
    assert.equal(preds["acme__shapes-3"]!.meta.coverage_rate, 0.5);
    assert.doesNotMatch(preds["acme__shapes-3"]!.model_test_patch, /test_triangle/);
  });
});
