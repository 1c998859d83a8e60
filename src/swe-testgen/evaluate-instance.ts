/**
 * gold_eval / coverage_eval for one instance through a runner: the generated test patch must
 * apply at base_commit, its tests must FAIL there and PASS with the gold patch. Two runs: with the
 * gold patch (under coverage.py when asked, measuring the files the gold patch changes), then
 * without it. Test names are as the repo's test tool reports them (pytest node ids).
 */
import type { Command, Runner, RunResult } from "../runners/types.ts";
import { type ChangedLineCoverage, changedLineCoverage } from "./coverage-rate.ts";
import { LOG_PARSERS, type TestStatusMap, isPass } from "./log-parsers.ts";
import { goldSourceFiles } from "./repo-files.ts";
import { patchFiles, testSpecFor } from "./test-specs.ts";

/** Why a test patch failed validation. */
export type GoldFailReason = "patch_does_not_apply" | "passes_on_base" | "fails_with_gold" | "timeout" | "collection_error" | "checkout_failed";

/** The instance fields evaluation needs (SWE-bench wire names). */
export interface EvalInstance {
  instance_id: string;
  repo: string;
  base_commit: string;
  version?: string | null | undefined;
  /** The gold patch. */
  patch: string;
}

export interface InstanceEvaluation {
  pass_gold_patch_status: "success" | "fail";
  reason?: GoldFailReason;
  detail: string;
  /** Generated tests that fail at base_commit and pass with the gold patch. */
  FAIL_TO_PASS: string[];
  PASS_TO_PASS: string[];
  /** Tests that do not pass with the gold patch. */
  FAIL_WITH_GOLD: string[];
  gold_statuses: TestStatusMap;
  base_statuses: TestStatusMap;
  /** Present when coverage was asked for and measured. */
  coverage?: ChangedLineCoverage;
  /** Wall time of both runs, seconds. */
  seconds: number;
  /** Test output of each run (tails), for logs/. */
  logs: { gold: string; base: string };
  notes: string[];
}

export interface EvaluateOptions {
  timeoutMs: number;
  coverage: boolean;
  /** Local checkout to clone from (local runner); image runners ignore it. */
  source?: string;
  signal?: AbortSignal;
}

/** Whether coverage.py can run the command: a `python` command or a repo script (`./tests/runtests.py`, `bin/test`), not tox. */
function coverable(argv: readonly string[]): boolean {
  return argv[0] === "python" || /^(\.\/|bin\/)/.test(argv[0] ?? "");
}

function commandOf(argv: readonly string[], directives: readonly string[], coverage: boolean): Command {
  if (argv[0] === "python") return { python: [...argv.slice(1), ...directives] };
  // coverage.py runs scripts too (`coverage run ./tests/runtests.py ...`)
  return coverage ? { python: [...argv, ...directives] } : { argv: [...argv, ...directives] };
}

const output = (r: RunResult) => `${r.stdout}${r.stderr ? `\n--- stderr ---\n${r.stderr}` : ""}`;

function setupFailure(r: RunResult, which: string): { reason: GoldFailReason; detail: string } | undefined {
  if (r.setup.ok) return undefined;
  if (r.setup.reason === "patch_does_not_apply") return { reason: "patch_does_not_apply", detail: `${r.setup.patch} does not apply at base_commit (${which} run): ${r.setup.detail}` };
  return { reason: "checkout_failed", detail: r.setup.detail };
}

/** Files a collection error names (`ERROR tests/test_x.py` without `::`), or none. */
function collectionErrors(statuses: TestStatusMap): string[] {
  return Object.entries(statuses).filter(([name, s]) => s === "ERROR" && !name.includes("::") && name.endsWith(".py")).map(([n]) => n);
}

/** Evaluates `testPatch` for `instance` on `runner`. Never throws for a failing test patch. */
export async function evaluateInstance(runner: Runner, instance: EvalInstance, testPatch: string, o: EvaluateOptions): Promise<InstanceEvaluation> {
  const started = performance.now();
  const spec = testSpecFor(instance.repo, instance.version);
  const parse = LOG_PARSERS[spec.parser];
  const testFiles = patchFiles(testPatch).filter((f) => f.endsWith(".py"));
  const directives = spec.directives(testFiles);
  const result: InstanceEvaluation = { pass_gold_patch_status: "fail", detail: "", FAIL_TO_PASS: [], PASS_TO_PASS: [], FAIL_WITH_GOLD: [], gold_statuses: {}, base_statuses: {}, seconds: 0, logs: { gold: "", base: "" }, notes: [] };
  const done = (reason: GoldFailReason | undefined, detail: string): InstanceEvaluation => {
    result.seconds = Math.round(performance.now() - started) / 1000;
    result.detail = detail;
    if (reason) result.reason = reason;
    else result.pass_gold_patch_status = "success";
    return result;
  };
  if (testFiles.length === 0) return done("collection_error", "the test patch changes no Python file");
  const workspace = (patches: { name: string; diff: string }[]) => ({
    kind: "repo" as const,
    repo: instance.repo,
    commit: instance.base_commit,
    instanceId: instance.instance_id,
    patches,
    ...(o.source === undefined ? {} : { source: o.source }),
  });
  const runOptions = o.signal ? { signal: o.signal } : {};

  const coverage = o.coverage && coverable(spec.argv);
  if (o.coverage && !coverage) result.notes.push(`no coverage: ${spec.argv[0]} is not a command coverage.py can run`);
  const gold = await runner.run(
    {
      id: `${instance.instance_id}/gold`,
      workspace: workspace([{ name: "gold patch", diff: instance.patch }, { name: "model_test_patch", diff: testPatch }]),
      command: commandOf(spec.argv, directives, coverage),
      env: spec.env,
      timeoutMs: o.timeoutMs,
      ...(coverage ? { coverage: { include: goldSourceFiles(instance.patch) } } : {}),
    },
    runOptions,
  );
  result.notes.push(...gold.notes);
  result.logs.gold = output(gold);
  const goldSetup = setupFailure(gold, "gold");
  if (goldSetup) return done(goldSetup.reason, goldSetup.detail);
  if (gold.timedOut) return done("timeout", `the tests ran longer than ${o.timeoutMs / 1000} s with the gold patch`);
  result.gold_statuses = parse(gold.stdout + "\n" + gold.stderr);
  const collection = collectionErrors(result.gold_statuses);
  if (Object.keys(result.gold_statuses).length === 0 || collection.length > 0) {
    const tail = (gold.stdout + gold.stderr).trim().split("\n").slice(-5).join("\n");
    return done("collection_error", `no test results with the gold patch${collection.length ? ` (collection errors in ${collection.join(", ")})` : ""}: exit ${gold.exitCode}; ${tail}`);
  }
  if (coverage && gold.coverage) result.coverage = changedLineCoverage(instance.patch, gold.coverage);
  result.FAIL_WITH_GOLD = Object.entries(result.gold_statuses).filter(([, s]) => !isPass(s)).map(([n]) => n);
  if (result.FAIL_WITH_GOLD.length > 0) return done("fails_with_gold", `with the gold patch these tests do not pass: ${result.FAIL_WITH_GOLD.join(", ")}`);

  const base = await runner.run(
    {
      id: `${instance.instance_id}/base`,
      workspace: workspace([{ name: "model_test_patch", diff: testPatch }]),
      command: commandOf(spec.argv, directives, false),
      env: spec.env,
      timeoutMs: o.timeoutMs,
    },
    runOptions,
  );
  result.logs.base = output(base);
  const baseSetup = setupFailure(base, "base");
  if (baseSetup) return done(baseSetup.reason, baseSetup.detail);
  if (base.timedOut) return done("timeout", `the tests ran longer than ${o.timeoutMs / 1000} s at base_commit`);
  result.base_statuses = parse(base.stdout + "\n" + base.stderr);
  for (const [name, status] of Object.entries(result.gold_statuses)) {
    if (status !== "PASSED") continue;
    // a test missing at base (its file failed to import there) did not pass there
    if (isPass(result.base_statuses[name]) && result.base_statuses[name] === "PASSED") result.PASS_TO_PASS.push(name);
    else result.FAIL_TO_PASS.push(name);
  }
  if (result.FAIL_TO_PASS.length === 0) return done("passes_on_base", `every generated test also passes without the gold patch: ${result.PASS_TO_PASS.join(", ")}`);
  return done(undefined, `${result.FAIL_TO_PASS.length} test(s) fail at base_commit and pass with the gold patch`);
}
