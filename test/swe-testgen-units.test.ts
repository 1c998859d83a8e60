import assert from "node:assert/strict";
import { describe, it, after } from "node:test";
import { addedLines } from "../src/swe-testgen/changed-lines.ts";
import { changedLineCoverage } from "../src/swe-testgen/coverage-rate.ts";
import { parseDjangoLog, parsePytestLog, parseSympyLog } from "../src/swe-testgen/log-parsers.ts";
import { patchFiles, testSpecFor } from "../src/swe-testgen/test-specs.ts";
import { openRepoAt, relatedTestFiles } from "../src/swe-testgen/repo-files.ts";
import { answerToTestPatch } from "../src/swe-testgen/answer-patch.ts";
import { evaluateInstance } from "../src/swe-testgen/evaluate-instance.ts";
import local from "../src/runners/local.ts";
import { PYTHON, fixtureReposDir, fixtureRows } from "./swe-testgen-fixtures.ts";

describe("swe-testgen log parsers", () => {
  it("reads pytest -rA summaries, with parametrized ids, messages and skip counts", () => {
    const log = [
      "tests/test_a.py ..F                                                      [100%]",
      "=========================== short test summary info ============================",
      "PASSED tests/test_a.py::test_one",
      "PASSED tests/test_a.py::test_param[1-2]",
      "FAILED tests/test_a.py::test_two - AssertionError: assert 1 == 2",
      "ERROR tests/test_b.py - ImportError: cannot import name 'x'",
      "SKIPPED [1] tests/test_a.py:10: needs network",
      "\u001b[32mPASSED\u001b[0m tests/test_a.py::test_colour",
    ].join("\n");
    assert.deepEqual(parsePytestLog(log), {
      "tests/test_a.py::test_one": "PASSED",
      "tests/test_a.py::test_param[1-2]": "PASSED",
      "tests/test_a.py::test_two": "FAILED",
      "tests/test_b.py": "ERROR",
      "tests/test_a.py::test_colour": "PASSED",
    });
  });

  it("reads Django's runner and sympy's bin/test", () => {
    const django = [
      "test_clean (validators.tests.TestValidators) ... ok",
      "test_slash (validators.tests.TestValidators) ... FAIL",
      "test_skip (validators.tests.TestValidators) ... skipped 'no db'",
      "test_noisy (validators.tests.TestValidators) ... Some output",
      "ok",
      "ERROR: test_boom (validators.tests.TestValidators)",
    ].join("\n");
    assert.deepEqual(parseDjangoLog(django), {
      "test_clean (validators.tests.TestValidators)": "PASSED",
      "test_slash (validators.tests.TestValidators)": "FAILED",
      "test_skip (validators.tests.TestValidators)": "SKIPPED",
      "test_noisy (validators.tests.TestValidators)": "PASSED",
      "test_boom (validators.tests.TestValidators)": "ERROR",
    });
    assert.deepEqual(parseSympyLog("test_sqrt ok\ntest_log F\ntest_exp E\ntest_todo f\n"), { test_sqrt: "PASSED", test_log: "FAILED", test_exp: "ERROR", test_todo: "XFAIL" });
  });

  it("picks the harness's command per repo and Django's dotted directives", () => {
    const django = testSpecFor("django/django", "3.0");
    assert.deepEqual(django.argv, ["./tests/runtests.py", "--verbosity", "2", "--settings=test_sqlite", "--parallel", "1"]);
    assert.deepEqual(django.directives(["tests/validators/tests.py", "docs/x.txt"]), ["validators.tests"]);
    assert.deepEqual(testSpecFor("django/django", "1.9").argv, ["./tests/runtests.py", "--verbosity", "2"]);
    assert.equal(testSpecFor("sympy/sympy", "1.1").parser, "sympy");
    assert.equal(testSpecFor("acme/calc").argv[0], "python");
    assert.deepEqual(patchFiles("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\ndiff --git a/y.py b/y.py\n"), ["x.py", "y.py"]);
  });
});

describe("swe-testgen changed-line coverage", () => {
  const patch = fixtureRows().find((r) => r.instance_id === "acme__shapes-3")!.patch;
  it("numbers added lines as in the patched file", () => {
    assert.deepEqual([...addedLines(patch).get("shapes/area.py")!.keys()], [8, 9, 10, 11, 12]);
  });
  it("counts only lines coverage.py can execute, pooled, and lists the others as path:line: source", () => {
    // line 9 is a comment: coverage.py reports it neither executed nor missing
    const cov = changedLineCoverage(patch, { "shapes/area.py": { executed: [1, 4, 6, 7, 8, 10, 11], missing: [12, 13], excluded: [] } });
    assert.equal(cov.executable, 4);
    assert.equal(cov.executed, 3);
    assert.equal(cov.rate, 0.75);
    assert.deepEqual(cov.uncovered, ["shapes/area.py:12:         return math.sqrt(3) / 4 * size * size"]);
    assert.equal(changedLineCoverage(patch, {}).rate, 0);
    assert.equal(changedLineCoverage("", {}).rate, 1);
  });
});

describe("swe-testgen answers and evaluation on the fixture repos", () => {
  const repos = fixtureReposDir();
  after(() => repos.cleanup());
  const rows = fixtureRows();
  const calc = rows.find((r) => r.instance_id === "acme__calc-1")!;
  const runner = local({ python: PYTHON, reposDir: repos.dir });

  it("finds the existing tests of the files a patch changes", async () => {
    const repo = await openRepoAt(repos.dir, calc.repo, calc.base_commit);
    assert.deepEqual(relatedTestFiles(await repo.files(), ["calc/ops.py"], 3), ["tests/test_ops.py"]);
    assert.equal(await repo.read("nope.py"), undefined);
  });

  it("turns SEARCH/REPLACE answers into a diff that applies at base_commit, test files only", async () => {
    const repo = await openRepoAt(repos.dir, calc.repo, calc.base_commit);
    const answer = "### tests/test_ops.py\n<<<<<<< SEARCH\n=======\n\n\ndef test_high():\n    assert clamp(11, 0, 10) == 10\n>>>>>>> REPLACE\n";
    const r = await answerToTestPatch(answer, repo, "");
    assert.ok(r.ok, JSON.stringify(r));
    assert.match(r.patch, /^diff --git a\/tests\/test_ops.py b\/tests\/test_ops.py\n/);
    assert.match(r.patch, /\+def test_high\(\):/);
    // edits on top of the current patch still give one diff from base_commit
    const more = await answerToTestPatch("### tests/test_ops.py\n<<<<<<< SEARCH\n    assert clamp(11, 0, 10) == 10\n=======\n    assert clamp(12, 0, 10) == 10\n>>>>>>> REPLACE\n", repo, r.patch);
    assert.ok(more.ok, JSON.stringify(more));
    assert.match(more.patch, /\+    assert clamp\(12, 0, 10\) == 10/);
    assert.doesNotMatch(more.patch, /clamp\(11/);
    const refused = await answerToTestPatch("### calc/ops.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n", repo, "");
    assert.equal(!refused.ok && refused.reason, "non_test_file");
    const none = await answerToTestPatch("I cannot help with that.", repo, "");
    assert.equal(!none.ok && none.reason, "no_edits");
  });

  const testPatch = (body: string) => `diff --git a/tests/test_ops.py b/tests/test_ops.py\n--- a/tests/test_ops.py\n+++ b/tests/test_ops.py\n@@ -7,3 +7,7 @@ def test_add():\n \n def test_clamp_low():\n     assert clamp(-5, 0, 10) == 0\n+\n+\n+def test_new():\n+    ${body}\n`;

  it("gold_eval: FAIL_TO_PASS as pytest names them, PASS_TO_PASS, and coverage of the gold patch's lines", async () => {
    const r = await evaluateInstance(runner, calc, testPatch("assert clamp(15, 0, 10) == 10"), { timeoutMs: 60_000, coverage: true });
    assert.equal(r.pass_gold_patch_status, "success", r.detail + r.logs.gold);
    assert.deepEqual(r.FAIL_TO_PASS, ["tests/test_ops.py::test_new"]);
    assert.deepEqual(r.PASS_TO_PASS.sort(), ["tests/test_ops.py::test_add", "tests/test_ops.py::test_clamp_low"]);
    assert.equal(r.coverage?.rate, 1);
  });

  it("gold_eval failure reasons: passes_on_base, fails_with_gold, collection_error, patch_does_not_apply, timeout", async () => {
    const o = { timeoutMs: 60_000, coverage: false };
    assert.equal((await evaluateInstance(runner, calc, testPatch("assert clamp(5, 0, 10) == 5"), o)).reason, "passes_on_base");
    const withGold = await evaluateInstance(runner, calc, testPatch("assert clamp(15, 0, 10) == 15"), o);
    assert.equal(withGold.reason, "fails_with_gold");
    assert.deepEqual(withGold.FAIL_WITH_GOLD, ["tests/test_ops.py::test_new"]);
    assert.equal((await evaluateInstance(runner, calc, testPatch("assert clamp(15, 0, 10) ==="), o)).reason, "collection_error");
    assert.equal((await evaluateInstance(runner, calc, testPatch("x").replace("def test_clamp_low", "def test_clamp_lower"), o)).reason, "patch_does_not_apply");
    const slow = await evaluateInstance(runner, calc, testPatch("import time; time.sleep(30)"), { timeoutMs: 1500, coverage: false });
    assert.equal(slow.reason, "timeout");
  });
});
