/**
 * `batchline pipeline agentless-bugfixer|agentless-testwriter --workdir W --backend B ...`: every
 * step of a rollout in one command, each step's output a file in W written atomically:
 *   gen_step1 -> submit_step1 -> proc_step1_gen_step2 -> submit_step2 -> proc_step2 -> rounds -> report
 * `W/manifest.json` records each finished step with the hash of its inputs and options; a re-run
 * skips finished steps whose hash is unchanged and redoes the rest (`--start-from` forces a step
 * and everything after it). A killed submit resumes from its own state file, so nothing is paid
 * twice. Retry rounds re-request, for proc_step2's failures, the step-2 lines (up to --rounds).
 * W has a run lock; a stale one from a dead process is taken over.
 */
import type { CAC } from "cac";
import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../../core/atomic-file.ts";
import { UsageError } from "../../core/errors.ts";
import { joinLines, readJsonl, readJsonlLines } from "../../core/jsonl.ts";
import { type Manifest, fileHash, loadManifest, lockWorkdir, outputsExist, saveManifest, stepHash } from "../../pipeline/workdir.ts";
import { loadState, statePathFor } from "../../submitters/state.ts";
import { journalPathFor } from "../../submitters/direct-runner.ts";
import { BUNDLED_PRICES, batchPrice, loadPriceTable, type PriceTable } from "../../submitters/prices.ts";
import { camelKey, stringOption } from "../options.ts";
import { AGENTLESS_RUN_OPTIONS, runAgentless } from "./agentless.ts";
import { SUBMIT_BACKEND_OPTIONS, type SubmitEnv, type SubmitOptions, submit } from "./submit.ts";

export const PIPELINES = ["agentless-bugfixer", "agentless-testwriter"] as const;
export type PipelineName = (typeof PIPELINES)[number];
/** The steps in order, and those of each retry round (named round<N>_<step>). */
const STEPS = ["gen_step1", "submit_step1", "proc_step1_gen_step2", "submit_step2", "proc_step2"];
const ROUND_STEPS = ["requests", "submit", "proc_step2"];

/** Options that change what the steps produce (and so their hashes); --num_workers and the like do not. */
const STAGE_KEYS = ["dataset", "split", "revision", "repostructureDir", "modelName", "temp", "maxTokens", "passk", "enableThinking", "thinkingBudget", "convertCrlf", "step1PromptTemplate", "step2PromptTemplate", "start", "end", "startFile", "endFile", "shard"];
/** A different --base-url alone does not re-run a finished submit: the answers it has are paid for (use --start-from). */
const SUBMIT_KEYS = ["backend", "retryFailed", "maxChunkLines", "maxChunkMb", "maxRetries", "from", "fromStep1", "fromStep2"];

/** How a step's submit is done: backend name and its options; the demo and tests plug in their own. */
export interface SubmitPlan {
  backend: string;
  options: SubmitOptions;
  env: SubmitEnv;
}

export interface PipelineRun {
  pipeline: PipelineName;
  workdir: string;
  options: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** The submit of step 1 or 2 (round 0) and of retry rounds. */
  submitFor: (step: "step1" | "step2") => SubmitPlan;
  rounds: number;
  startFrom?: string;
  log: (line: string) => void;
  prices?: PriceTable;
}

function pick(options: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

/** Removes a submit's state, chunks, journal and output: the step starts over. */
async function resetSubmit(output: string): Promise<void> {
  await rm(statePathFor(output), { force: true });
  await rm(`${output}.chunks`, { recursive: true, force: true });
  await rm(journalPathFor(output), { force: true });
  await rm(output, { force: true });
}

/** On a resume, a state made for another request file cannot be resumed: start over. */
async function resetStaleSubmit(requests: string, output: string): Promise<void> {
  const state = await loadState(statePathFor(output)).catch(() => undefined);
  if (state && state.requests.sha256 !== (await fileHash(requests))) await resetSubmit(output);
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  try {
    for await (const _ of readJsonlLines(createReadStream(path))) n++;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return n;
}

async function reasons(path: string, stage?: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    for await (const rec of readJsonl(createReadStream(path), { file: path })) {
      const f = rec.value as { reason: string; stage?: string };
      if (stage && f.stage !== stage) continue;
      out[f.reason] = (out[f.reason] ?? 0) + 1;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return out;
}

/** Outcomes, tokens and cost of one batch output file. */
async function outputUsage(path: string, prices: PriceTable): Promise<{ lines: number; succeeded: number; failed: number; promptTokens: number; completionTokens: number; costUSD: number | null }> {
  const u = { lines: 0, succeeded: 0, failed: 0, promptTokens: 0, completionTokens: 0, costUSD: 0 as number | null };
  try {
    for await (const rec of readJsonl(createReadStream(path), { file: path })) {
      const line = rec.value as { response: { status_code: number; body?: { model?: string; usage?: { prompt_tokens?: number; completion_tokens?: number } } } | null };
      u.lines++;
      if (line.response?.status_code === 200) u.succeeded++;
      else u.failed++;
      const usage = line.response?.body?.usage;
      const p = usage?.prompt_tokens ?? 0;
      const c = usage?.completion_tokens ?? 0;
      u.promptTokens += p;
      u.completionTokens += c;
      const price = line.response?.body?.model ? batchPrice(prices, line.response.body.model) : undefined;
      if ((p || c) && u.costUSD !== null) u.costUSD = price ? u.costUSD + (p * price.input + c * price.output) / 1e6 : null;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return u;
}

/** Runs (or resumes) a pipeline; returns the report written to `<workdir>/report.json`. */
export async function runPipeline(run: PipelineRun): Promise<Record<string, unknown>> {
  const W = resolve(run.workdir);
  const role = run.pipeline === "agentless-bugfixer" ? "bugfixer" : "testwriter";
  const release = await lockWorkdir(W, run.log);
  const started = Date.now();
  try {
    const manifest: Manifest = await loadManifest(W, run.pipeline);
    const files = {
      step1Requests: join(W, "step1_requests.jsonl"),
      step1Output: join(W, "step1_output.jsonl"),
      step2Requests: join(W, "step2_requests.jsonl"),
      step2Output: join(W, "step2_output.jsonl"),
      save: join(W, "save"),
    };
    const stageOptions = pick(run.options, STAGE_KEYS);
    const agentless = (stage: string, extra: Record<string, unknown>) => runAgentless([role, stage], { ...run.options, ...extra, quiet: true }, run.env);
    // Steps share the save dir, so once one step runs, every later step runs too.
    let dirty = false;
    const order: string[] = [];
    const startedHashes = (manifest.started ??= {});

    const step = async (name: string, inputs: string[], outputs: string[], options: unknown, body: (resume: boolean) => Promise<void>) => {
      order.push(name);
      if (run.startFrom === name) dirty = true;
      const hash = await stepHash(name, options, inputs);
      const done = manifest.steps[name];
      if (!dirty && done && done.hash === hash && (await outputsExist(outputs))) {
        run.log(`${name}: done earlier, inputs and options unchanged: skipped`);
        return;
      }
      dirty = true;
      const t0 = Date.now();
      const resume = startedHashes[name] === hash && !done;
      run.log(`${name}: ${resume ? "resuming" : "running"}`);
      delete manifest.steps[name];
      startedHashes[name] = hash;
      await saveManifest(W, manifest);
      await body(resume);
      manifest.steps[name] = { hash, finishedAt: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, outputs };
      await saveManifest(W, manifest);
    };

    const submitStep = async (name: string, which: "step1" | "step2", requests: string, output: string) => {
      const plan = run.submitFor(which);
      await step(name, [requests], [output], { plan: pick(plan.options as Record<string, unknown>, SUBMIT_KEYS), backend: plan.backend }, async (resume) => {
        if (!resume) await resetSubmit(output);
        else await resetStaleSubmit(requests, output);
        if ((await countLines(requests)) === 0) {
          await writeFileAtomic(output, "");
          return;
        }
        await submit(plan.backend, requests, { ...plan.options, output, quiet: true }, plan.env);
      });
    };

    await mkdir(W, { recursive: true });
    await step("gen_step1", [], [files.step1Requests], stageOptions, () => agentless("gen_step1", { outputFile: files.step1Requests }));
    await submitStep("submit_step1", "step1", files.step1Requests, files.step1Output);
    await step("proc_step1_gen_step2", [files.step1Output], [files.step2Requests], stageOptions, () => agentless("proc_step1_gen_step2", { inputFile: files.step1Output, outputFile: files.step2Requests }));
    await submitStep("submit_step2", "step2", files.step2Requests, files.step2Output);
    await step("proc_step2", [files.step2Output, files.step1Output], [join(files.save, "failures.jsonl")], stageOptions, async () => {
      await rm(files.save, { recursive: true, force: true });
      await agentless("proc_step2", { inputFile: files.step2Output, saveDir: files.save, ...(role === "testwriter" ? { step1File: files.step1Output } : {}) });
    });

    // Retry rounds: the step-2 requests of custom_ids proc_step2 could not turn into a patch.
    for (let round = 1; round <= run.rounds; round++) {
      const dir = join(W, `round${round}`);
      const requests = join(dir, "step2_requests.jsonl");
      const output = join(dir, "step2_output.jsonl");
      await step(`round${round}_requests`, [join(files.save, "failures.jsonl"), files.step2Requests], [requests], {}, async () => {
        const failed = new Set<string>();
        for await (const rec of readJsonl(createReadStream(join(files.save, "failures.jsonl")), { file: "failures.jsonl" })) {
          const f = rec.value as { stage: string; custom_id: string };
          if (f.stage === "proc_step2") failed.add(f.custom_id);
        }
        async function* lines(): AsyncGenerator<string> {
          for await (const { text } of readJsonlLines(createReadStream(files.step2Requests))) {
            if (failed.has((JSON.parse(text) as { custom_id: string }).custom_id)) yield text;
          }
        }
        await mkdir(dir, { recursive: true });
        await writeFileAtomic(requests, joinLines(lines()));
      });
      if ((await countLines(requests)) === 0) {
        run.log(`round${round}: nothing left to retry`);
        break;
      }
      await submitStep(`round${round}_submit`, "step2", requests, output);
      await step(`round${round}_proc_step2`, [output, files.step1Output], [join(files.save, "failures.jsonl")], stageOptions, () =>
        agentless("proc_step2", { inputFile: output, saveDir: files.save, ...(role === "testwriter" ? { step1File: files.step1Output } : {}) }),
      );
    }

    // The report: counts per step, failures by reason, tokens and cost, wall time.
    const prices = run.prices ?? BUNDLED_PRICES;
    const report = {
      pipeline: run.pipeline,
      workdir: W,
      finishedAt: new Date().toISOString(),
      wallSeconds: (Date.now() - started) / 1000,
      steps: {
        gen_step1: { requests: await countLines(files.step1Requests), failures: await reasons(`${files.step1Requests}.failures.jsonl`) },
        submit_step1: await outputUsage(files.step1Output, prices),
        proc_step1_gen_step2: { requests: await countLines(files.step2Requests), failures: await reasons(`${files.step2Requests}.failures.jsonl`) },
        submit_step2: await outputUsage(files.step2Output, prices),
        proc_step2: { failures: await reasons(join(files.save, "failures.jsonl"), "proc_step2") },
      } as Record<string, unknown>,
      stepSeconds: Object.fromEntries(order.map((n) => [n, manifest.steps[n]?.seconds ?? null])),
      priceTableDate: prices.date,
    };
    for (let round = 1; round <= run.rounds; round++) {
      const out = join(W, `round${round}`, "step2_output.jsonl");
      if (order.includes(`round${round}_submit`)) report.steps[`round${round}_submit`] = await outputUsage(out, prices);
    }
    await writeFileAtomic(join(W, "report.json"), JSON.stringify(report, null, 2) + "\n");
    return report;
  } finally {
    await release();
  }
}

/** The report as a few readable lines. */
export function formatReport(report: Record<string, unknown>): string[] {
  const steps = report.steps as Record<string, Record<string, unknown>>;
  const lines = [`${report.pipeline} in ${report.workdir}: ${(report.wallSeconds as number).toFixed(1)} s`];
  for (const [name, s] of Object.entries(steps)) {
    const parts = Object.entries(s).map(([k, v]) => `${k} ${typeof v === "object" && v !== null ? JSON.stringify(v) : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : v}`);
    lines.push(`  ${name}: ${parts.join(", ")}`);
  }
  return lines;
}

export function registerPipeline(cli: CAC, env: NodeJS.ProcessEnv & SubmitEnv): void {
  const command = cli
    .command("pipeline <name>", `Run a whole rollout with checkpoints, resume and retry rounds (${PIPELINES.join(", ")})`)
    .option("--workdir <dir>", "Where every step's file, manifest.json, report.json and the lock live")
    .option("--backend <name>", "openai-batch, anthropic-batch, openai-compatible or replay")
    .option("--rounds <n>", "Retry rounds for instances/passes without a patch (default 2)")
    .option("--start-from <step>", "Redo this step and everything after it (gen_step1, submit_step1, proc_step1_gen_step2, submit_step2, proc_step2)")
    .option("--from-step1 <file>", "replay: the recorded step-1 output")
    .option("--from-step2 <file>", "replay: the recorded step-2 output")
    .option("--price-table <file>", "Price table for the report's cost")
    .option("-q, --quiet", "Only the report at the end");
  const own = new Set(command.options.flatMap((o) => o.names));
  for (const [flag, description] of [...AGENTLESS_RUN_OPTIONS, ...SUBMIT_BACKEND_OPTIONS]) {
    if (!flag.split(/[ ,]+/).some((f) => own.has(camelKey(f.replace(/^-+/, ""))))) command.option(flag, description);
  }
  command
    .example("batchline pipeline agentless-bugfixer --dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --model_name gpt-4.1-mini --backend openai-batch --workdir runs/lite --passk 4")
    .action(async (name: string, options: Record<string, unknown>) => {
      if (!(PIPELINES as readonly string[]).includes(name)) throw new UsageError(`unknown pipeline ${name}; pipelines: ${PIPELINES.join(", ")}`);
      const workdir = stringOption(options.workdir);
      if (!workdir) throw new UsageError("pipeline needs --workdir <dir>");
      const backend = stringOption(options.backend);
      if (!backend) throw new UsageError("pipeline needs --backend openai-batch|anthropic-batch|openai-compatible|replay");
      const rounds = options.rounds === undefined ? 2 : Number(options.rounds);
      if (!Number.isInteger(rounds) || rounds < 0) throw new UsageError(`--rounds ${String(options.rounds)}: expected a whole number`);
      const startFrom = stringOption(options.startFrom);
      const steps = [...STEPS, ...Array.from({ length: rounds }, (_, i) => ROUND_STEPS.map((s) => `round${i + 1}_${s}`)).flat()];
      if (startFrom !== undefined && !steps.includes(startFrom)) throw new UsageError(`--start-from ${startFrom}: not a step of ${name}; steps: ${steps.join(", ")}`);
      const priceTable = stringOption(options.priceTable);
      const log = options.quiet ? () => {} : (line: string) => process.stderr.write(`pipeline: ${line}\n`);
      const submitFor = (which: "step1" | "step2"): SubmitPlan => {
        const from = which === "step1" ? stringOption(options.fromStep1) : stringOption(options.fromStep2);
        if (backend === "replay" && !from) throw new UsageError(`--backend replay needs --from-step1 and --from-step2 (the recorded outputs)`);
        return { backend, options: { ...(options as SubmitOptions), ...(from ? { from } : {}) }, env };
      };
      const report = await runPipeline({
        pipeline: name as PipelineName,
        workdir,
        options,
        env,
        submitFor,
        rounds,
        ...(startFrom ? { startFrom } : {}),
        log,
        ...(priceTable ? { prices: await loadPriceTable(priceTable) } : {}),
      });
      process.stderr.write(formatReport(report).join("\n") + "\n");
    });
}

