/**
 * The five phases of SWE-ABS Stage 1 over preds.json, each with the guide's success condition
 * and retries. Generation phases (test_gen, hard_code_fix, coverage_fix) send batch requests
 * through `PhaseEnv.ask`; evaluation phases (gold_eval, coverage_eval) run tests through a runner.
 *
 * - test_gen: an instance succeeds when its answer gives a non-empty `model_test_patch`
 *   (exit_status "Submitted"); the failed ones are asked again, up to --max-test-gen-retries.
 * - hard_code_fix: every instance with a patch; an answer that gives no usable patch keeps the
 *   current one (the phase succeeds as a whole, like the script's exit code 0).
 * - gold_eval: `pass_gold_patch_status` "success" when the tests apply, fail at base_commit and
 *   pass with the gold patch. Failures get hard_code_fix again with the failure in the prompt
 *   and are re-evaluated (--max-hard-code-fix-retries), then regenerated + fixed + evaluated
 *   (--max-combined-retries). Coverage of the gold patch's changed lines is measured here too.
 * - coverage_fix: instances that pass with coverage_rate < 1 get a request listing the uncovered
 *   lines; the new patch is a candidate.
 * - coverage_eval: candidates are evaluated with coverage; one that passes and covers more
 *   replaces the old patch, otherwise the old patch and its results stay. Still below 1: another
 *   coverage_fix + coverage_eval, up to --max-coverage-fix-attempts in all.
 * "All instances fail" in test_gen or gold_eval stops the run (a BatchlineError); one instance
 * failing never stops the others.
 */
import { BatchlineError } from "../core/errors.ts";
import type { Answer } from "../agentless/answers.ts";
import { mapConcurrent } from "../internal/concurrency.ts";
import type { Runner } from "../runners/types.ts";
import { answerToTestPatch, currentTestFiles } from "./answer-patch.ts";
import { type InstanceEvaluation, evaluateInstance } from "./evaluate-instance.ts";
import type { PredsInstance } from "./preds-store.ts";
import { coverageFixPrompt, hardCodeFixPrompt, testGenPrompt, type ShownFile } from "./prompts.ts";
import { goldSourceFiles, openRepoAt, relatedTestFiles } from "./repo-files.ts";

export const PHASES = ["test_gen", "hard_code_fix", "gold_eval", "coverage_fix", "coverage_eval"] as const;
export type PhaseName = (typeof PHASES)[number];
export type GenerationPhase = "test_gen" | "hard_code_fix" | "coverage_fix";

/** Names the original writes in `stage[]` (`stage`) and the guide shows (`stage_name`). */
const STAGE_NAMES: Record<GenerationPhase, { stage_name: string; stage: string }> = {
  test_gen: { stage_name: "test_generation", stage: "patch_generation" },
  hard_code_fix: { stage_name: "hard_code_fix", stage: "Hard_Code_Fix" },
  coverage_fix: { stage_name: "coverage_fix", stage: "Coverage_Fix" },
};

/** The options the phases read (the pipeline's, parsed). */
export interface PhaseOptions {
  model: string;
  temperature: number;
  maxTokens: number;
  maxTestGenRetries: number;
  maxHardCodeFixRetries: number;
  maxCombinedRetries: number;
  maxCoverageFixAttempts: number;
  /** Seconds per test run. */
  evalTimeout: number;
  maxEvalWorkers: number;
  reposDir: string;
  subset: string;
}

/** One request to send: the instance it is for and the prompt. */
export interface PromptRequest {
  custom_id: string;
  instance_id: string;
  prompt: string;
}

/** What the phases need from the pipeline: options, the runner, a way to ask the model, logs, preds.json. */
export interface PhaseEnv {
  options: PhaseOptions;
  runner(): Promise<Runner>;
  /** Sends the prompts as one batch (label: `<phase>_<round>`); answers by custom_id (missing: no answer). */
  ask(label: string, requests: readonly PromptRequest[]): Promise<Map<string, Answer>>;
  log(line: string): void;
  /** Writes these instances into preds.json (under its lock). */
  save(instances: readonly PredsInstance[]): Promise<void>;
  /** Records per-instance exit statuses of one phase run (exit_statuses/<phase>_exit_statuses_<ts>.yaml). */
  exitStatuses(phase: PhaseName, statuses: ReadonlyMap<string, string>): Promise<void>;
  /** Writes the test output of an evaluation (logs/<phase>/<instance>/gold.log, base.log). */
  evalLogs(phase: PhaseName, instanceId: string, logs: { gold: string; base: string }): Promise<void>;
  signal?: AbortSignal;
}

/** An instance as the phases carry it: a preds.json entry holding the SWE-bench row's fields. */
export type Instance = PredsInstance & {
  instance_id: string;
  repo: string;
  base_commit: string;
  patch: string;
  problem_statement: string;
  version?: string | null;
  model_test_patch: string;
  stage: Record<string, unknown>[];
  meta: Record<string, unknown>;
};

/** Statistics for stage1_automation_report.json, counted as the phases go. */
export interface PhaseStats {
  test_gen_iterations: number;
  hard_code_fix_iterations: number;
  coverage_fix_iterations: number;
  permanently_failed: string[];
}

export function newStats(): PhaseStats {
  return { test_gen_iterations: 0, hard_code_fix_iterations: 0, coverage_fix_iterations: 0, permanently_failed: [] };
}

/** Turns a SWE-bench row (plus what preds.json already holds for it) into an instance. */
export function instanceOf(row: Record<string, unknown>, existing: PredsInstance | undefined, o: { model: string; subset: string }): Instance {
  const base = existing ?? {};
  return {
    subset: o.subset,
    ...row,
    ...base,
    instance_id: String(row.instance_id),
    model_patch: String(row.patch ?? ""),
    model_name_or_path: o.model,
    model_test_patch: typeof base.model_test_patch === "string" ? base.model_test_patch : "",
    stage: Array.isArray(base.stage) ? base.stage : [],
    meta: { hard_code_status: "unknow", pass_gold_patch_status: "unknow", coverage_rate: "unknow", ...(base.meta ?? {}) },
  } as unknown as Instance;
}

/** Whether preds.json's entry counts as generated (non-empty patch; the last generation stage completed). */
export function hasTestPatch(i: PredsInstance): boolean {
  if (typeof i.model_test_patch !== "string" || i.model_test_patch.trim() === "") return false;
  const stages = Array.isArray(i.stage) ? i.stage : [];
  const isGen = (s: Record<string, unknown>) => s.stage === "patch_generation" || s.stage_name === "test_generation";
  const lastGen = stages.findLastIndex(isGen);
  if (lastGen === -1) return true;
  // a failed regeneration leaves the old patch in place, but it no longer counts
  return stages[lastGen]!.status === undefined || stages[lastGen]!.status === "completed";
}

/** `pass_gold_patch_status` is "success" (the original also writes "fail" and "unknow"). */
export function passesGold(i: PredsInstance): boolean {
  return i.meta?.pass_gold_patch_status === "success";
}

/** The coverage rate when it is a measured number in [0, 1] (404 = no data, "unknow" = not measured). */
export function measuredCoverage(i: PredsInstance): number | undefined {
  const r = i.meta?.coverage_rate;
  return typeof r === "number" && r >= 0 && r <= 1 ? r : undefined;
}

/** Uncovered lines as `path:line: source`, from ours (a list) or the original's `{path: [[line, source]]}`. */
export function uncoveredLines(i: PredsInstance): string[] {
  const u = i.meta?.uncovered_lines;
  if (Array.isArray(u)) return u.map(String);
  if (u && typeof u === "object") {
    const out: string[] = [];
    for (const [path, lines] of Object.entries(u as Record<string, unknown>)) {
      if (!Array.isArray(lines)) continue;
      for (const entry of lines) if (Array.isArray(entry)) out.push(`${path}:${String(entry[0])}: ${String(entry[1] ?? "")}`);
    }
    return out;
  }
  return [];
}

function attemptOf(i: Instance, phase: GenerationPhase): number {
  return i.stage.filter((s) => s.stage_name === STAGE_NAMES[phase].stage_name || s.stage === STAGE_NAMES[phase].stage).length + 1;
}

/** `<instance_id>__<phase>_<n>`: one custom_id per request, n counting this phase's requests for the instance from 1. */
export function customIdFor(instanceId: string, phase: GenerationPhase, attempt: number): string {
  return `${instanceId}__${phase}_${attempt}`;
}

/** The test files as the instance's current test patch leaves them, for a fix prompt. */
async function testFilesNow(env: PhaseEnv, i: Instance): Promise<ShownFile[]> {
  const repo = await openRepoAt(env.options.reposDir, i.repo, i.base_commit);
  const files = await currentTestFiles(repo, i.model_test_patch);
  return [...files].filter((e): e is [string, string] => e[1] !== null).map(([path, text]) => ({ path, text }));
}

/** The test_gen prompt for an instance: issue, gold patch, changed sources and related tests at base_commit. */
async function testGenPromptFor(env: PhaseEnv, i: Instance): Promise<string> {
  const repo = await openRepoAt(env.options.reposDir, i.repo, i.base_commit);
  const sources: ShownFile[] = [];
  const changed = goldSourceFiles(i.patch);
  for (const path of changed) {
    const text = await repo.read(path);
    if (text !== undefined) sources.push({ path, text });
  }
  const tests: ShownFile[] = [];
  for (const path of relatedTestFiles(await repo.files(), changed, 2)) tests.push({ path, text: (await repo.read(path)) ?? "" });
  const previous = i.meta.fail_reason ? `${String(i.meta.fail_reason)}: ${String(i.meta.fail_detail ?? "")}` : undefined;
  return testGenPrompt({ problemStatement: i.problem_statement, goldPatch: i.patch, sources, tests, ...(previous ? { previousFailure: previous } : {}) });
}

/**
 * One round of a generation phase for `todo`: prompts, one batch, answers -> patches. Each
 * instance gets a stage entry; `apply` decides what a good patch changes. Returns exit statuses.
 */
async function generate(env: PhaseEnv, phase: GenerationPhase, label: string, todo: Instance[], promptOf: (i: Instance) => Promise<string>, apply: (i: Instance, patch: string) => void): Promise<Map<string, string>> {
  const statuses = new Map<string, string>();
  if (todo.length === 0) return statuses;
  const requests: PromptRequest[] = [];
  const attempts = new Map<string, number>();
  for (const i of todo) {
    const n = attemptOf(i, phase);
    attempts.set(i.instance_id, n);
    try {
      requests.push({ custom_id: customIdFor(i.instance_id, phase, n), instance_id: i.instance_id, prompt: await promptOf(i) });
    } catch (err) {
      if (!(err instanceof BatchlineError)) throw err;
      statuses.set(i.instance_id, "repo_unavailable");
      i.stage.push({ ...STAGE_NAMES[phase], iteration: n, exit_status: "repo_unavailable", status: "incomplete", detail: err.message });
    }
  }
  env.log(`${label}: ${requests.length} request(s)`);
  const answers = await env.ask(label, requests);
  for (const req of requests) {
    const i = todo.find((t) => t.instance_id === req.instance_id)!;
    const n = attempts.get(i.instance_id)!;
    const answer = answers.get(req.custom_id);
    let exit: string;
    let detail = "";
    let patch: string | undefined;
    if (!answer) {
      exit = "no_answer";
      detail = "the backend returned no answer for this request";
    } else if (!answer.ok) {
      exit = answer.reason;
      detail = answer.detail;
    } else {
      const repo = await openRepoAt(env.options.reposDir, i.repo, i.base_commit);
      const r = await answerToTestPatch(answer.text, repo, phase === "test_gen" ? "" : i.model_test_patch);
      if (r.ok) {
        exit = "Submitted";
        patch = r.patch;
      } else {
        exit = r.reason;
        detail = r.detail;
      }
    }
    statuses.set(i.instance_id, exit);
    const entry: Record<string, unknown> = { ...STAGE_NAMES[phase], iteration: n, custom_id: req.custom_id, exit_status: exit, status: patch !== undefined ? "completed" : "incomplete", model_test_patch: patch ?? "" };
    if (detail) entry.detail = detail;
    i.stage.push(entry);
    if (patch !== undefined) apply(i, patch);
  }
  return statuses;
}

/** Phase 1. `instances` are the run's instances (fresh ones have no patch); returns them all. */
export async function testGenPhase(env: PhaseEnv, instances: Instance[], stats: PhaseStats, only?: ReadonlySet<string>): Promise<Instance[]> {
  const all = new Map<string, string>();
  for (let attempt = 1; attempt <= Math.max(1, env.options.maxTestGenRetries); attempt++) {
    const todo = instances.filter((i) => (!only || only.has(i.instance_id)) && (only ? attempt === 1 || !hasTestPatch(i) : !hasTestPatch(i)));
    if (todo.length === 0) break;
    stats.test_gen_iterations++;
    const statuses = await generate(env, "test_gen", `test_gen_${stats.test_gen_iterations}`, todo, (i) => testGenPromptFor(env, i), (i, patch) => {
      i.model_test_patch = patch;
      i.meta = { ...i.meta, hard_code_status: "unknow", pass_gold_patch_status: "unknow", coverage_rate: "unknow", iteration: attemptOf(i, "test_gen") - 1 };
      delete i.meta.fail_reason;
      delete i.meta.fail_detail;
    });
    for (const [k, v] of statuses) all.set(k, v);
    await env.save(todo);
  }
  await env.exitStatuses("test_gen", all);
  const scope = instances.filter((i) => !only || only.has(i.instance_id));
  const failed = scope.filter((i) => !hasTestPatch(i));
  if (!only && scope.length > 0 && failed.length === scope.length) {
    throw new BatchlineError(`test_gen: all ${scope.length} instances failed test generation (exit statuses: ${[...new Set(all.values())].join(", ")}); see logs/`);
  }
  if (failed.length > 0) env.log(`test_gen: ${failed.length}/${scope.length} instance(s) without a test patch: ${failed.map((i) => i.instance_id).join(", ")}`);
  return instances;
}

/** Phase 2 (and the retries of phase 3): rewrite tests of `todo` so they do not hard-code the gold implementation. */
export async function hardCodeFixPhase(env: PhaseEnv, instances: Instance[], stats: PhaseStats, only?: ReadonlySet<string>): Promise<Instance[]> {
  const todo = instances.filter((i) => hasTestPatch(i) && (!only || only.has(i.instance_id)));
  if (todo.length === 0) return instances;
  stats.hard_code_fix_iterations++;
  const statuses = await generate(
    env,
    "hard_code_fix",
    `hard_code_fix_${stats.hard_code_fix_iterations}`,
    todo,
    async (i) => {
      const failure = i.meta.fail_reason ? `${String(i.meta.fail_reason)}: ${String(i.meta.fail_detail ?? "")}` : undefined;
      return hardCodeFixPrompt({ problemStatement: i.problem_statement, goldPatch: i.patch, testFiles: await testFilesNow(env, i), ...(failure ? { failure } : {}) });
    },
    (i, patch) => {
      i.model_test_patch = patch;
      i.meta = { ...i.meta, hard_code_status: "success" };
    },
  );
  await env.save(todo);
  await env.exitStatuses("hard_code_fix", statuses);
  return instances;
}

/** Records an evaluation in the instance's meta (and `evaluation_info` on its last stage, as the original does). */
function recordEvaluation(i: Instance, e: InstanceEvaluation): void {
  const coverage = e.coverage;
  const rate = e.pass_gold_patch_status !== "success" ? "unknow" : coverage ? coverage.rate : 404;
  const meta: Record<string, unknown> = {
    ...i.meta,
    pass_gold_patch_status: e.pass_gold_patch_status,
    coverage_rate: rate,
    uncovered_lines: coverage && e.pass_gold_patch_status === "success" ? coverage.uncovered : [],
    FAIL_TO_PASS: e.FAIL_TO_PASS,
    PASS_TO_PASS: e.PASS_TO_PASS,
    eval_seconds: e.seconds,
  };
  if (e.reason) {
    meta.fail_reason = e.reason;
    meta.fail_detail = e.detail;
  } else {
    delete meta.fail_reason;
    delete meta.fail_detail;
  }
  if (coverage) meta.coverage_lines = { executable: coverage.executable, executed: coverage.executed };
  i.meta = meta;
  const info = { status: "completed", pass_gold_patch_status: e.pass_gold_patch_status, error_info: e.reason ? `${e.reason}: ${e.detail}` : "", coverage_rate: rate, uncovered_lines: meta.uncovered_lines };
  const last = i.stage.at(-1);
  if (last) last.evaluation_info = info;
}

/** Evaluates `todo` with at most --max-eval-workers at once; returns the evaluations by instance id. */
async function evaluateAll(env: PhaseEnv, phase: PhaseName, todo: Instance[]): Promise<Map<string, InstanceEvaluation>> {
  const runner = await env.runner();
  const out = new Map<string, InstanceEvaluation>();
  const evaluations = mapConcurrent(todo, Math.max(1, env.options.maxEvalWorkers), async (i) => {
    const e = await evaluateInstance(runner, i, i.model_test_patch, { timeoutMs: env.options.evalTimeout * 1000, coverage: true, ...(env.signal ? { signal: env.signal } : {}) });
    return { i, e };
  });
  for await (const { i, e } of evaluations) {
    out.set(i.instance_id, e);
    await env.evalLogs(phase, i.instance_id, e.logs);
    for (const n of new Set(e.notes)) env.log(`${phase}: ${i.instance_id}: ${n}`);
    env.log(`${phase}: ${i.instance_id}: ${e.pass_gold_patch_status}${e.reason ? ` (${e.reason})` : ""}${e.coverage ? `, coverage ${e.coverage.rate}` : ""}, ${e.seconds.toFixed(1)} s`);
  }
  return out;
}

async function goldEvalOnce(env: PhaseEnv, instances: Instance[], ids: ReadonlySet<string> | undefined): Promise<Map<string, string>> {
  const todo = instances.filter((i) => hasTestPatch(i) && (!ids || ids.has(i.instance_id)));
  const results = await evaluateAll(env, "gold_eval", todo);
  const statuses = new Map<string, string>();
  for (const i of todo) {
    const e = results.get(i.instance_id)!;
    recordEvaluation(i, e);
    statuses.set(i.instance_id, e.reason ?? "success");
  }
  await env.save(todo);
  return statuses;
}

/** Phase 3, with hard_code_fix retries and combined re-generation for what keeps failing. */
export async function goldEvalPhase(env: PhaseEnv, instances: Instance[], stats: PhaseStats): Promise<Instance[]> {
  const statuses = await goldEvalOnce(env, instances, undefined);
  const failing = () => new Set(instances.filter((i) => !passesGold(i)).map((i) => i.instance_id));
  for (let n = 1; n <= env.options.maxHardCodeFixRetries && failing().size > 0; n++) {
    const ids = failing();
    env.log(`gold_eval: retry ${n}/${env.options.maxHardCodeFixRetries}: hard_code_fix again for ${ids.size} instance(s)`);
    await hardCodeFixPhase(env, instances, stats, ids);
    for (const [k, v] of await goldEvalOnce(env, instances, ids)) statuses.set(k, v);
  }
  for (let n = 1; n <= env.options.maxCombinedRetries && failing().size > 0; n++) {
    const ids = failing();
    env.log(`gold_eval: combined retry ${n}/${env.options.maxCombinedRetries}: test_gen + hard_code_fix + gold_eval for ${ids.size} instance(s)`);
    await testGenPhase(env, instances, stats, ids);
    await hardCodeFixPhase(env, instances, stats, ids);
    for (const [k, v] of await goldEvalOnce(env, instances, ids)) statuses.set(k, v);
  }
  await env.exitStatuses("gold_eval", statuses);
  const failed = instances.filter((i) => !passesGold(i));
  if (instances.length > 0 && failed.length === instances.length) {
    throw new BatchlineError(`gold_eval: all ${instances.length} instances failed gold patch validation (${failed.map((i) => `${i.instance_id}: ${String(i.meta.fail_reason ?? i.meta.pass_gold_patch_status)}`).join("; ")})`);
  }
  for (const i of failed) if (!stats.permanently_failed.includes(i.instance_id)) stats.permanently_failed.push(i.instance_id);
  return instances;
}

/** Instances that pass and are measured below full coverage. */
function lowCoverage(instances: Instance[]): Instance[] {
  return instances.filter((i) => passesGold(i) && (measuredCoverage(i) ?? 1) < 1);
}

/** Phase 4: one coverage_fix request per low-coverage instance; a good answer becomes the candidate patch. */
export async function coverageFixPhase(env: PhaseEnv, instances: Instance[], stats: PhaseStats): Promise<Instance[]> {
  const todo = lowCoverage(instances).filter((i) => i.meta.coverage_candidate_of === undefined);
  if (todo.length === 0) {
    env.log("coverage_fix: no instance below full coverage");
    await env.exitStatuses("coverage_fix", new Map());
    return instances;
  }
  stats.coverage_fix_iterations++;
  const statuses = await generate(
    env,
    "coverage_fix",
    `coverage_fix_${stats.coverage_fix_iterations}`,
    todo,
    async (i) => {
      return coverageFixPrompt({ problemStatement: i.problem_statement, goldPatch: i.patch, testFiles: await testFilesNow(env, i), uncoveredLines: uncoveredLines(i) });
    },
    (i, patch) => {
      // the evaluated patch and its results stay until coverage_eval says the candidate is better
      i.meta = { ...i.meta, coverage_candidate_of: { model_test_patch: i.model_test_patch, meta: { ...i.meta } } };
      i.model_test_patch = patch;
    },
  );
  await env.save(todo);
  await env.exitStatuses("coverage_fix", statuses);
  return instances;
}

/** Phase 5: evaluate the candidates with coverage; keep the better patch; more coverage_fix attempts while below 1. */
export async function coverageEvalPhase(env: PhaseEnv, instances: Instance[], stats: PhaseStats): Promise<Instance[]> {
  const statuses = new Map<string, string>();
  for (let attempt = 1; ; attempt++) {
    // candidates, and passing instances never measured ("unknow"); 404 (no coverage data) is not measured again
    const todo = instances.filter((i) => i.meta.coverage_candidate_of !== undefined || (attempt === 1 && passesGold(i) && typeof i.meta.coverage_rate !== "number"));
    const results = await evaluateAll(env, "coverage_eval", todo);
    for (const i of todo) {
      const e = results.get(i.instance_id)!;
      const previous = i.meta.coverage_candidate_of as { model_test_patch: string; meta: Record<string, unknown> } | undefined;
      const before = previous ? measuredCoverage({ meta: previous.meta }) : undefined;
      const rate = e.coverage?.rate;
      if (previous && (e.pass_gold_patch_status !== "success" || rate === undefined || (before !== undefined && rate < before))) {
        // the candidate is worse: keep the patch that passed, note why
        i.model_test_patch = previous.model_test_patch;
        i.meta = { ...previous.meta, coverage_fix_rejected: e.reason ? `${e.reason}: ${e.detail}` : `coverage ${rate ?? "not measured"} below ${before}` };
        statuses.set(i.instance_id, `rejected (${e.reason ?? "lower coverage"})`);
      } else {
        recordEvaluation(i, e);
        delete i.meta.coverage_candidate_of;
        statuses.set(i.instance_id, e.reason ?? `coverage ${e.coverage?.rate ?? 404}`);
      }
      delete i.meta.coverage_candidate_of;
    }
    await env.save(todo);
    if (attempt >= env.options.maxCoverageFixAttempts || lowCoverage(instances).length === 0) break;
    env.log(`coverage_eval: coverage_fix attempt ${attempt + 1}/${env.options.maxCoverageFixAttempts} for ${lowCoverage(instances).length} instance(s)`);
    await coverageFixPhase(env, instances, stats);
    if (!instances.some((i) => i.meta.coverage_candidate_of !== undefined)) break;
  }
  await env.exitStatuses("coverage_eval", statuses);
  const low = lowCoverage(instances);
  env.log(low.length === 0 ? "coverage_eval: every passing instance covers the gold patch fully" : `coverage_eval: ${low.length} instance(s) still below full coverage`);
  return instances;
}

/** stage1_automation_report.json, in the original's shape. */
export function automationReport(instances: readonly Instance[], stats: PhaseStats): Record<string, unknown> {
  const successful = instances.filter((i) => passesGold(i)).map((i) => i.instance_id);
  const failed = instances.filter((i) => !passesGold(i)).map((i) => i.instance_id);
  const low = instances.filter((i) => passesGold(i) && (measuredCoverage(i) ?? 1) < 1 && (measuredCoverage(i) ?? 0) > 0).map((i) => i.instance_id);
  return {
    statistics: { ...stats, total_instances: instances.length, successful_instances: successful.length, failed_instances: failed.length },
    successful_instances: successful,
    failed_instances: failed,
    low_coverage_instances: low,
  };
}
