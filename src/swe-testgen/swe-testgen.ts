/**
 * The `swe-testgen` pipeline: SWE-ABS Stage 1 (SWE-bench test-patch generation) as five steps,
 * one per phase of the guide, in its run directory `<output>/<run-id>/`:
 *
 *   test_gen       SWE-bench rows -> batch requests -> model_test_patch      (retries: --max-test-gen-retries)
 *   hard_code_fix  tests rewritten not to hard-code the gold implementation
 *   gold_eval      runner: fail at base_commit, pass with the gold patch      (hard_code_fix / combined retries)
 *   coverage_fix   batch requests listing the gold patch's uncovered lines
 *   coverage_eval  runner + coverage.py: coverage_rate, uncovered_lines       (--max-coverage-fix-attempts)
 *
 * preds.json is the state every phase reads and writes (under its lock, in SWE-ABS's shape), so
 * `--start-from-phase` resumes a run this pipeline or the original scripts wrote. Each step also
 * writes phases/<phase>.jsonl (one record per instance) for the engine's manifest and report.
 */
import { createReadStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { BatchlineError, UsageError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { definePipeline, evaluate, type EvalResult, type Step, type StepContext, type StepResult } from "../pipeline/index.ts";
import { submitReporting } from "../pipeline/steps/submit.ts";
import { submitFile } from "../submitters/submit-file.ts";
import { backendOptionsOf } from "../pipeline/run-options.ts";
import { createRunner, isRunnerName } from "../runners/index.ts";
import type { Runner } from "../runners/types.ts";
import {
  PHASES,
  type Instance,
  type PhaseEnv,
  type PhaseName,
  type PhaseStats,
  automationReport,
  coverageEvalPhase,
  coverageFixPhase,
  goldEvalPhase,
  hardCodeFixPhase,
  hasTestPatch,
  instanceOf,
  measuredCoverage,
  newStats,
  passesGold,
  testGenPhase,
} from "./phases.ts";
import { loadPreds, updatePreds } from "./preds-store.ts";
import { checkRunIdentity, openRunDir, runFiles } from "./run-dir.ts";
import { datasetName, selectRows } from "./select.ts";

const int = (d: number) => z.coerce.number().int().min(0).default(d);
const flag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]).default(false);

/** The guide's options (same names and defaults), plus what batchline needs to run without an agent. */
export const SweTestgenOptions = z.object({
  output: z.string().min(1).describe("output root directory; the run lives in <output>/<run-id>/"),
  model: z.string().min(1).describe("model name (e.g. openai/gpt-5; a litellm provider prefix is dropped in requests)"),
  runId: z.string().min(1).default("stage1_auto").describe("run ID, the output subdirectory (default stage1_auto)"),
  workers: int(2).describe("requests in flight for direct backends (default 2)"),
  benchmark: z.enum(["swebench", "swebenchpro"]).default("swebench").describe("swebench or swebenchpro (default swebench)"),
  subset: z.string().default("verified").describe("dataset subset: verified, lite, full (default verified)"),
  split: z.string().default("test").describe("dataset split (default test)"),
  repoSelectNum: int(5).describe("instances selected per repo, a seeded choice; 0 = all (default 5)"),
  temperature: z.coerce.number().min(0).default(1.0).describe("generation temperature (default 1.0)"),
  maxTestGenRetries: int(3).describe("test generation attempts per instance (default 3)"),
  maxHardCodeFixRetries: int(3).describe("hard_code_fix + gold_eval retries for instances failing gold validation (default 3)"),
  maxCombinedRetries: int(2).describe("test_gen + hard_code_fix + gold_eval rounds for what still fails (default 2)"),
  maxCoverageFixAttempts: int(2).describe("coverage_fix + coverage_eval attempts while coverage < 1 (default 2)"),
  evalTimeout: z.coerce.number().positive().default(120).describe("seconds per test run (default 120)"),
  maxEvalWorkers: z.coerce.number().int().min(1).default(12).describe("instances evaluated at once (default 12)"),
  skipCoverageFix: flag.describe("skip phases 4 and 5 (coverage_fix, coverage_eval)"),
  startFromPhase: z.enum(PHASES).optional().describe("resume at this phase: test_gen, hard_code_fix, gold_eval, coverage_fix, coverage_eval (same --output, --model, --run-id)"),
  runner: z.string().default("local").describe("where tests run: local (temp clone, unshare -n) or docker (SWE-bench images; DOCKER_HOST honoured)"),
  reposDir: z.string().min(1).describe("local checkouts or mirrors of the repos (<dir>/<owner>__<name>, <dir>/<owner>/<name> or <dir>/<name>), read at base_commit for prompts (and cloned by the local runner)"),
  dataset: z.string().optional().describe("dataset instead of the one --benchmark/--subset name: a hub id or a .jsonl/.json/.parquet file"),
  instanceIds: z.string().optional().describe("comma-separated instance ids to run (instead of --repo-select-num)"),
  python: z.string().default("python3").describe("local runner: Python interpreter with pytest and coverage (default python3)"),
  imageTemplate: z.string().optional().describe("docker runner: image name template with {instance_id} / {docker_id} (default swebench/sweb.eval.x86_64.{docker_id}:latest)"),
  maxTokens: int(16384).describe("max_tokens of each request (default 16384)"),
  replayAnswers: z.string().optional().describe("--backend replay: the recorded batch output that answers every request"),
});
export type SweTestgenOptions = z.infer<typeof SweTestgenOptions>;

type Ctx = StepContext<SweTestgenOptions>;

/** The run directory: `<output>/<run-id>`. */
export function runDirOf(options: { output: string; runId: string }): string {
  return resolve(options.output, options.runId);
}

async function loadStats(dir: string): Promise<PhaseStats> {
  const text = await readFile(join(dir, "phases", "stats.json"), "utf8").catch(() => undefined);
  return text ? { ...newStats(), ...(JSON.parse(text) as Partial<PhaseStats>) } : newStats();
}

async function saveStats(dir: string, stats: PhaseStats, instances: Instance[]): Promise<void> {
  await mkdir(join(dir, "phases"), { recursive: true });
  await writeFileAtomic(join(dir, "phases", "stats.json"), `${JSON.stringify(stats, null, 2)}\n`);
  await writeFileAtomic(runFiles(dir).report, `${JSON.stringify(automationReport(instances, stats), null, 2)}\n`);
}

const runners = new WeakMap<object, Promise<Runner>>();

/** The PhaseEnv of a step: the run dir's files, submits through the run's backend, the chosen runner. */
async function phaseEnv(ctx: Ctx, phase: PhaseName): Promise<PhaseEnv> {
  const o = ctx.options;
  const dir = ctx.workdir;
  const env = await openRunDir({
    dir,
    options: {
      model: o.model,
      temperature: o.temperature,
      maxTokens: o.maxTokens,
      maxTestGenRetries: o.maxTestGenRetries,
      maxHardCodeFixRetries: o.maxHardCodeFixRetries,
      maxCombinedRetries: o.maxCombinedRetries,
      maxCoverageFixAttempts: o.maxCoverageFixAttempts,
      evalTimeout: o.evalTimeout,
      maxEvalWorkers: o.maxEvalWorkers,
      reposDir: resolve(o.reposDir),
      subset: o.subset,
    },
    runner: () => {
      let r = runners.get(ctx.env);
      if (!r) {
        r = createRunner(o.runner as "local" | "docker", { python: o.python, reposDir: resolve(o.reposDir), baseEnv: ctx.env, log: (l) => ctx.log(l), ...(o.imageTemplate ? { imageTemplate: o.imageTemplate } : {}) });
        runners.set(ctx.env, r);
      }
      return r;
    },
    submit: async (requests, output, label) => {
      const backend = { concurrency: o.workers, ...backendOptionsOf(ctx.run), ...(o.replayAnswers ? { from: o.replayAnswers } : {}), ...ctx.stepOptions };
      await submitFile(ctx.run.backend, { ...backend, requests, output, env: ctx.env, ...submitReporting(ctx, `${phase}: ${label}`), ...(ctx.signal ? { signal: ctx.signal } : {}) });
    },
    log: (line) => ctx.log(line),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  env.phaseStarted(phase);
  return env;
}

/** The instances of the run, as preds.json holds them, in the order of `ids`. */
async function instancesFor(dir: string, ids: readonly string[]): Promise<Instance[]> {
  const preds = await loadPreds(runFiles(dir).preds, new Set(ids));
  const missing = ids.filter((id) => !preds.has(id));
  if (missing.length > 0) throw new BatchlineError(`${runFiles(dir).preds}: no entry for ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}`);
  return ids.map((id) => preds.get(id) as Instance);
}

async function idsOf(path: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const { value } of readJsonl(createReadStream(path), { file: path })) ids.push(String((value as { custom_id: string }).custom_id));
  return ids;
}

/** One record per instance for phases/<phase>.jsonl. */
function recordOf(i: Instance): Record<string, unknown> {
  return {
    custom_id: i.instance_id,
    instance_id: i.instance_id,
    has_test_patch: hasTestPatch(i),
    pass_gold_patch_status: i.meta.pass_gold_patch_status ?? "unknow",
    coverage_rate: i.meta.coverage_rate ?? "unknow",
    model_test_patch: i.model_test_patch,
  };
}

async function writeRecords(ctx: Ctx, rel: string, instances: Instance[]): Promise<void> {
  const path = ctx.file(rel);
  await mkdir(join(path, ".."), { recursive: true });
  await writeFileAtomic(path, instances.map((i) => `${JSON.stringify(recordOf(i))}\n`).join(""));
}

/** True when --start-from-phase (or --skip-coverage-fix) says this phase does not run. */
function skipped(o: SweTestgenOptions, phase: PhaseName): string | undefined {
  if (o.startFromPhase && PHASES.indexOf(phase) < PHASES.indexOf(o.startFromPhase)) return `before --start-from-phase ${o.startFromPhase}`;
  if (o.skipCoverageFix && (phase === "coverage_fix" || phase === "coverage_eval")) return "--skip-coverage-fix";
  return undefined;
}

/**
 * What decides a phase's output, for the engine's hash. --start-from-phase is not in it: earlier
 * finished phases stay done, and the engine redoes the named phase and the ones after it.
 */
const hashedOf = (phase: PhaseName, keys: (keyof SweTestgenOptions)[]) => (ctx: Ctx) => ({
  ...Object.fromEntries(keys.map((k) => [k, ctx.options[k] ?? null])),
  skippedByOption: ctx.options.skipCoverageFix && (phase === "coverage_fix" || phase === "coverage_eval"),
});
const GEN_KEYS: (keyof SweTestgenOptions)[] = ["model", "temperature", "maxTokens", "reposDir"];

/** A generation phase as a step: it submits batches (so preflight checks the backend and --replay-answers). */
function generationStep(phase: "test_gen" | "hard_code_fix" | "coverage_fix", io: { in: string[]; out: string }, keys: (keyof SweTestgenOptions)[], work: (ctx: Ctx, env: PhaseEnv, instances: Instance[], stats: PhaseStats) => Promise<Instance[]>, ids: (ctx: Ctx) => Promise<string[]>): Step<SweTestgenOptions> {
  return {
    kind: "submit",
    name: phase,
    in: io.in,
    out: [io.out],
    submitOptions: { in: io.in[0] ?? io.out, out: io.out, replay: "replayAnswers" },
    hashed: hashedOf(phase, [...GEN_KEYS, ...keys]),
    async run(ctx): Promise<StepResult> {
      const why = skipped(ctx.options, phase);
      const stats = await loadStats(ctx.workdir);
      // a test_gen skipped by --start-from-phase works on what preds.json holds (maybe written by the original)
      const runIds = why && phase === "test_gen" ? [...(await loadPreds(runFiles(ctx.workdir).preds)).keys()] : await ids(ctx);
      const instances = await instancesFor(ctx.workdir, runIds);
      try {
        if (why) ctx.log(`${phase}: skipped (${why})`);
        else await work(ctx, await phaseEnv(ctx, phase), instances, stats);
      } finally {
        await saveStats(ctx.workdir, stats, instances);
      }
      await writeRecords(ctx, io.out, instances);
      const withPatch = instances.filter(hasTestPatch).length;
      return { produced: instances.length, summary: why ? { instances: instances.length, skipped: why } : { instances: instances.length, with_test_patch: withPatch } };
    },
  } as Step<SweTestgenOptions> & { submitOptions: unknown };
}

/** An evaluation phase as an `eval` step: one result per instance. */
function evaluationStep(phase: "gold_eval" | "coverage_eval", io: { in: string; out: string }, work: (env: PhaseEnv, instances: Instance[], stats: PhaseStats) => Promise<Instance[]>): Step<SweTestgenOptions> {
  return evaluate<SweTestgenOptions>(phase, {
    in: io.in,
    out: io.out,
    hashed: hashedOf(phase, ["model", "evalTimeout", "runner", "python", "imageTemplate", "reposDir", "maxHardCodeFixRetries", "maxCombinedRetries", "maxCoverageFixAttempts"]),
    async *evaluate(records, ctx): AsyncGenerator<EvalResult> {
      const ids: string[] = [];
      for await (const r of records) ids.push(String((r.value as { custom_id: string }).custom_id));
      const why = skipped(ctx.options, phase);
      const stats = await loadStats(ctx.workdir);
      const instances = await instancesFor(ctx.workdir, ids);
      try {
        if (why) ctx.log(`${phase}: skipped (${why})`);
        else await work(await phaseEnv(ctx, phase), instances, stats);
      } finally {
        await saveStats(ctx.workdir, stats, instances);
      }
      for (const i of instances) {
        const rate = measuredCoverage(i);
        const passed = passesGold(i) && (phase === "gold_eval" || why !== undefined || rate === undefined || rate >= 1);
        const reason = !passesGold(i) ? String(i.meta.fail_reason ?? (hasTestPatch(i) ? "not_validated" : "no_test_patch")) : "coverage_below_1";
        yield {
          ...recordOf(i),
          custom_id: i.instance_id,
          status: passed ? "passed" : "failed",
          ...(passed ? {} : { reason, detail: String(i.meta.fail_detail ?? (reason === "coverage_below_1" ? `coverage_rate ${rate}` : "")) }),
        };
      }
    },
  });
}

export default definePipeline({
  name: "swe-testgen",
  description: "SWE-bench rows -> generated test patches validated on the gold patch, with changed-line coverage (SWE-ABS Stage 1)",
  options: SweTestgenOptions,
  volatile: ["workers", "maxEvalWorkers"],
  example: "batchline pipeline swe-testgen --output result/model_gen_test --model openai/gpt-5 --run-id my_experiment --repos-dir ./repos --backend openai-batch",
  engineDefaults: (o) => ({ workdir: runDirOf(o), startFrom: o.startFromPhase }),
  async preflight({ options, workdir }) {
    const o = options as SweTestgenOptions;
    if (!isRunnerName(o.runner)) throw new UsageError(`--runner ${o.runner}: unknown runner; runners: local, docker`);
    await checkRunIdentity(workdir, { output: resolve(o.output), model: o.model, run_id: o.runId }, o.startFromPhase);
  },
  steps: [
    generationStep(
      "test_gen",
      { in: [], out: "phases/test_gen.jsonl" },
      ["dataset", "benchmark", "subset", "split", "repoSelectNum", "instanceIds", "maxTestGenRetries"],
      (_ctx, env, instances, stats) => testGenPhase(env, instances, stats),
      async (ctx) => {
        const o = ctx.options;
        const rows = await selectRows({
          dataset: o.dataset ?? datasetName(o.benchmark, o.subset),
          split: o.split,
          repoSelectNum: o.repoSelectNum,
          instanceIds: o.instanceIds?.split(",").map((s) => s.trim()).filter((s) => s !== ""),
          hub: {
            ...(ctx.env.HF_ENDPOINT ? { hubUrl: ctx.env.HF_ENDPOINT } : {}),
            ...(ctx.env.HF_TOKEN ? { accessToken: ctx.env.HF_TOKEN } : {}),
            ...(ctx.env.HF_HUB_CACHE || ctx.env.HF_HOME ? { cacheDir: ctx.env.HF_HUB_CACHE ?? join(ctx.env.HF_HOME!, "hub") } : {}),
          },
        });
        if (rows.length === 0) throw new UsageError(`no instances selected from ${o.dataset ?? datasetName(o.benchmark, o.subset)}`);
        // new instances go into preds.json as the original writes them; existing entries are kept
        const preds = await loadPreds(runFiles(ctx.workdir).preds, new Set(rows.map((r) => r.instance_id)));
        const fresh = new Map(rows.filter((r) => !preds.has(r.instance_id)).map((r) => [r.instance_id, instanceOf(r, undefined, { model: o.model, subset: o.subset })]));
        await updatePreds(runFiles(ctx.workdir).preds, fresh.keys(), (id) => fresh.get(id)!);
        return rows.map((r) => r.instance_id);
      },
    ),
    generationStep("hard_code_fix", { in: ["phases/test_gen.jsonl"], out: "phases/hard_code_fix.jsonl" }, [], (_ctx, env, instances, stats) => hardCodeFixPhase(env, instances, stats), (ctx) => idsOf(ctx.file("phases/test_gen.jsonl"))),
    evaluationStep("gold_eval", { in: "phases/hard_code_fix.jsonl", out: "phases/gold_eval.jsonl" }, goldEvalPhase),
    generationStep("coverage_fix", { in: ["phases/gold_eval.jsonl"], out: "phases/coverage_fix.jsonl" }, ["maxCoverageFixAttempts"], (_ctx, env, instances, stats) => coverageFixPhase(env, instances, stats), (ctx) => idsOf(ctx.file("phases/gold_eval.jsonl"))),
    evaluationStep("coverage_eval", { in: "phases/coverage_fix.jsonl", out: "phases/coverage_eval.jsonl" }, coverageEvalPhase),
  ],
});
