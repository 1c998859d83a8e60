/**
 * `batchline submit <backend> <requests|-> -o <output>` and `batchline batch status|cancel|download <state>`:
 * send a request file to a batch endpoint and bring every answer back, resumably.
 */
import type { CAC } from "cac";
import { mkdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { BatchlineError, UsageError } from "../../core/errors.ts";
import { cancelJob, downloadJob, jobStatus, loadJobState, runBatchJob, type BatchJobSummary } from "../../submitters/batch-runner.ts";
import { type DirectBackend, runDirectJob } from "../../submitters/direct-runner.ts";
import { BACKENDS, BATCH_BACKENDS, DIRECT_BACKENDS, isBatchBackend } from "../../submitters/index.ts";
import type { BatchBackend } from "../../submitters/types.ts";
import { acquireLock } from "../../internal/run-lock.ts";
import { stringOption } from "../options.ts";
import { spoolStdinTo } from "./common.ts";
import { type CostOptions, checkCost } from "./plan.ts";

/** What the CLI read from the environment (main.ts is the only module that reads env). */
export interface SubmitEnv {
  OPENAI_API_KEY?: string;
  OPENAI_BASE_URL?: string;
  ANTHROPIC_API_KEY?: string;
  ANTHROPIC_BASE_URL?: string;
}

export interface SubmitOptions extends CostOptions {
  output?: string;
  retryFailed?: string | number;
  pollInterval?: string | number;
  maxPollInterval?: string | number;
  baseUrl?: string;
  maxChunkLines?: string | number;
  maxChunkMb?: string | number;
  createInterval?: string | number;
  tokenLimitRetries?: string | number;
  tokenLimitBackoff?: string | number;
  concurrency?: string | number;
  rpm?: string | number;
  tpm?: string | number;
  timeout?: string | number;
  maxRetries?: string | number;
  retryBackoff?: string | number;
  from?: string;
  quiet?: boolean;
}

function positive(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} ${String(value)}: expected a number > 0`);
  return n;
}

function wholeNumber(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} ${String(value)}: expected a whole number >= 0`);
  return n;
}

function seconds(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} ${String(value)}: expected seconds >= 0`);
  return n * 1000;
}

async function makeBatchBackend(name: string, env: SubmitEnv, baseUrlFlag?: string): Promise<{ backend: BatchBackend; baseURL: string | null }> {
  if (!isBatchBackend(name)) throw new UsageError(`unknown backend ${name}; backends: ${Object.keys(BACKENDS).join(", ")}`);
  const anthropic = name === "anthropic-batch";
  const baseURL = baseUrlFlag ?? (anthropic ? env.ANTHROPIC_BASE_URL : env.OPENAI_BASE_URL);
  const apiKey = anthropic ? env.ANTHROPIC_API_KEY : env.OPENAI_API_KEY;
  if (!apiKey) throw new UsageError(`[${name}] missing API key: set ${anthropic ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY (any value for a local batchline serve)"}`);
  return { backend: await BATCH_BACKENDS[name]({ apiKey, ...(baseURL ? { baseURL } : {}) }), baseURL: baseURL ?? null };
}

/** Copies stdin into the job's work directory, so that a resumed run can check and reuse it. */
function spoolRequests(output: string): Promise<string> {
  return spoolStdinTo(join(dirname(resolve(output)), `${basename(output)}.chunks`, "stdin-requests.jsonl"));
}

function printSummary(s: BatchJobSummary, quiet: boolean | undefined): void {
  if (quiet) return;
  const codes = Object.entries(s.byCode).map(([c, n]) => `${c} ${n}`).join(", ");
  process.stderr.write(`${s.output}: ${s.total} lines, ${s.succeeded} succeeded, ${s.failed} failed${codes ? ` (${codes})` : ""}; ${s.batches} batch(es) in ${s.rounds} round(s)\n`);
}

async function makeDirectBackend(name: string, options: SubmitOptions, env: SubmitEnv): Promise<DirectBackend & { missing?: string[] }> {
  if (name === "replay") {
    const from = stringOption(options.from);
    if (!from) throw new UsageError("submit replay needs --from <recorded output.jsonl>");
    return (await import("../../submitters/replay.ts")).default({ from });
  }
  const baseURL = stringOption(options.baseUrl) ?? env.OPENAI_BASE_URL;
  if (!baseURL) throw new UsageError("submit openai-compatible needs --base-url <url> (or OPENAI_BASE_URL), e.g. http://127.0.0.1:8000/v1");
  const concurrency = positive(options.concurrency, "--concurrency");
  const rpm = positive(options.rpm, "--rpm");
  const tpm = positive(options.tpm, "--tpm");
  const timeout = positive(options.timeout, "--timeout");
  const retryBackoff = positive(options.retryBackoff, "--retry-backoff");
  const maxRetries = options.maxRetries === undefined ? undefined : Number(options.maxRetries);
  if (maxRetries !== undefined && (!Number.isInteger(maxRetries) || maxRetries < 0)) throw new UsageError(`--max-retries ${options.maxRetries}: expected a whole number`);
  return (await import("../../submitters/openai-compatible.ts")).default({
    baseURL,
    ...(env.OPENAI_API_KEY ? { apiKey: env.OPENAI_API_KEY } : {}),
    ...(concurrency ? { concurrency: Math.floor(concurrency) } : {}),
    ...(rpm ? { requestsPerMinute: rpm } : {}),
    ...(tpm ? { tokensPerMinute: tpm } : {}),
    ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
    ...(maxRetries !== undefined ? { maxRetries } : {}),
    ...(retryBackoff ? { backoffMs: retryBackoff * 1000 } : {}),
  });
}

async function submitDirect(backendName: string, requests: string, output: string, options: SubmitOptions, env: SubmitEnv): Promise<void> {
  const backend = await makeDirectBackend(backendName, options, env);
  const path = requests === "-" ? await spoolRequests(output) : requests;
  const concurrency = positive(options.concurrency, "--concurrency");
  const summary = await runDirectJob(backend, {
    requests: path,
    output,
    ...(concurrency ? { concurrency: Math.floor(concurrency) } : {}),
    ...(options.quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
  });
  if (!options.quiet) {
    const codes = Object.entries(summary.byCode).map(([c, n]) => `${c} ${n}`).join(", ");
    process.stderr.write(
      `${summary.output}: ${summary.total} lines, ${summary.succeeded} succeeded, ${summary.failed} failed${codes ? ` (${codes})` : ""}; ${summary.sent} sent, ${summary.skipped} already answered; ${summary.seconds.toFixed(1)} s\n`,
    );
    if (backend.missing && backend.missing.length > 0) {
      process.stderr.write(`[${backend.name}] ${backend.missing.length} custom_id(s) not in the recording, e.g. ${backend.missing.slice(0, 5).join(", ")}\n`);
    }
  }
}

export async function submit(backendName: string, requests: string, options: SubmitOptions, env: SubmitEnv): Promise<void> {
  const output = stringOption(options.output);
  if (!output || output === "-") throw new UsageError("submit needs -o <output.jsonl> (a file: its state file and chunks live beside it)");
  if (options.maxCost !== undefined && requests !== "-") {
    const plan = await checkCost(requests, options);
    if (!options.quiet) process.stderr.write(`plan: up to $${plan.maxCost.toFixed(2)} at batch prices (table of ${plan.priceTableDate}), within --max-cost ${options.maxCost}\n`);
  } else if (options.maxCost !== undefined) {
    throw new UsageError("--max-cost needs a request file, not - (plan reads it before anything is sent)");
  }
  // One submit per output at a time: a second one would upload and pay for the same lines again.
  await mkdir(dirname(resolve(output)), { recursive: true });
  const release = await acquireLock(`${output}.lock`, output, options.quiet ? () => {} : (line) => process.stderr.write(`submit: ${line}\n`));
  try {
    await submitLocked(backendName, requests, output, options, env);
  } finally {
    await release();
  }
}

async function submitLocked(backendName: string, requests: string, output: string, options: SubmitOptions, env: SubmitEnv): Promise<void> {
  if ((DIRECT_BACKENDS as readonly string[]).includes(backendName)) return submitDirect(backendName, requests, output, options, env);
  const retryFailed = options.retryFailed === undefined ? 0 : Number(options.retryFailed);
  if (!Number.isInteger(retryFailed) || retryFailed < 0) throw new UsageError(`--retry-failed ${options.retryFailed}: expected a whole number of extra rounds`);
  const { backend, baseURL } = await makeBatchBackend(backendName, env, stringOption(options.baseUrl));
  const maxChunkLines = positive(options.maxChunkLines, "--max-chunk-lines");
  const maxChunkMb = positive(options.maxChunkMb, "--max-chunk-mb");
  const path = requests === "-" ? await spoolRequests(output) : requests;
  const summary = await runBatchJob(backend, {
    ...(maxChunkLines ? { maxChunkLines: Math.floor(maxChunkLines) } : {}),
    ...(maxChunkMb ? { maxChunkBytes: Math.floor(maxChunkMb * 1e6) } : {}),
    requests: path,
    output,
    retryFailed,
    baseURL,
    pollIntervalMs: seconds(options.pollInterval, "--poll-interval", 5),
    maxPollIntervalMs: seconds(options.maxPollInterval, "--max-poll-interval", 60),
    createIntervalMs: seconds(options.createInterval, "--create-interval", 1),
    tokenLimitBackoffMs: seconds(options.tokenLimitBackoff, "--token-limit-backoff", 60),
    tokenLimitRetries: wholeNumber(options.tokenLimitRetries, "--token-limit-retries", 8),
    ...(options.quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
  });
  printSummary(summary, options.quiet);
  if (summary.failedBatches > 0) {
    throw new BatchlineError(`${summary.failedBatches} batch(es) failed as a whole (see the errors above); their lines are failures in ${summary.output}`);
  }
}

async function batchCommand(action: string, statePath: string, options: { output?: string; quiet?: boolean; baseUrl?: string }, env: SubmitEnv): Promise<void> {
  const state = await loadJobState(statePath);
  const { backend } = await makeBatchBackend(state.backend, env, stringOption(options.baseUrl) ?? state.baseURL ?? undefined);
  if (action === "status") {
    for (const row of await jobStatus(backend, state)) {
      const counts = row.counts ? ` ${row.counts.completed} completed, ${row.counts.failed} failed of ${row.counts.total}` : "";
      process.stdout.write(`round ${row.round} ${row.key} ${row.batchId ?? "-"} ${row.status}${counts}\n`);
    }
  } else if (action === "cancel") {
    const report = await cancelJob(backend, state);
    for (const s of report.skipped) process.stderr.write(`note: ${s.batchId} is already ${s.status}; nothing to cancel\n`);
    for (const f of report.failed) process.stderr.write(`could not cancel ${f.batchId}: ${f.message}\n`);
    process.stderr.write(report.cancelled.length ? `cancel requested: ${report.cancelled.join(", ")} (partial results stay downloadable; run submit again to resume or batch download to collect)\n` : "nothing to cancel: no batch is still running\n");
    if (report.failed.length > 0) throw new BatchlineError(`${report.failed.length} batch(es) could not be cancelled (see above); the others were`);
  } else if (action === "download") {
    const summary = await downloadJob(backend, statePath, stringOption(options.output), options.quiet ? undefined : (l) => process.stderr.write(`${l}\n`));
    printSummary(summary, options.quiet);
  } else {
    throw new UsageError(`batch ${action}: expected status, cancel or download`);
  }
}

export function registerSubmit(cli: CAC, env: SubmitEnv): void {
  cli
    .command("submit <backend> <requests>", `Send a request file to a batch endpoint and write every answer (backends: ${Object.keys(BACKENDS).join(", ")})`)
    .option("-o, --output <path>", "Output file (OpenAI Batch output lines, each custom_id once); <output>.state.json and <output>.chunks/ sit beside it")
    .option("--retry-failed <n>", "Resubmit the lines that did not succeed, up to n more rounds (default 0)")
    .option("--poll-interval <s>", "First wait between polls in seconds, growing 1.5x per poll (default 5)")
    .option("--max-poll-interval <s>", "Longest wait between polls in seconds (default 60)")
    .option("--base-url <url>", "API base URL (default: OPENAI_BASE_URL, else the provider's)")
    .option("--max-chunk-lines <n>", "Fewer lines per batch than the backend allows (partial results sooner)")
    .option("--max-chunk-mb <mb>", "Fewer MB (1 MB = 1,000,000 bytes) per batch than the backend allows")
    .option("--create-interval <s>", "Seconds between two batch creates (default 1): creates are staggered")
    .option("--token-limit-retries <n>", "Times a batch refused with token_limit_exceeded is created again, with backoff, before its lines count as failed (default 8)")
    .option("--token-limit-backoff <s>", "First wait in seconds before such a batch is created again; doubles each time, up to 30 min (default 60)")
    .option("--concurrency <n>", "openai-compatible: requests in flight (default 16)")
    .option("--rpm <n>", "openai-compatible: at most n requests per minute")
    .option("--tpm <n>", "openai-compatible: at most n tokens per minute (estimated: prompt chars / 4 + max_tokens)")
    .option("--timeout <s>", "openai-compatible: seconds per attempt (default 600)")
    .option("--max-retries <n>", "openai-compatible: retries on 429/5xx/timeouts, honouring Retry-After (default 5)")
    .option("--retry-backoff <s>", "openai-compatible: first wait before a retry, doubling each time up to 60 s (default 1)")
    .option("--max-cost <usd>", "Refuse to start if the plan's estimate is above this (see batchline plan)")
    .option("--price-table <file>", "With --max-cost: JSON price table instead of the bundled one")
    .option("--output-tokens <n>", "With --max-cost: assume n output tokens per request instead of max_tokens")
    .option("--from <file>", "replay: the recorded output file to answer from")
    .option("-q, --quiet", "No progress on stderr")
    .example("OPENAI_API_KEY=sk-... batchline submit openai-batch batch_requests_step1.jsonl -o batch_output_step1.jsonl --retry-failed 2")
    .example("OPENAI_API_KEY=local OPENAI_BASE_URL=http://127.0.0.1:8089/v1 batchline submit openai-batch requests.jsonl -o out.jsonl")
    .example("batchline submit openai-compatible requests.jsonl -o out.jsonl --base-url http://127.0.0.1:8000/v1 --concurrency 64")
    .example("batchline submit replay requests.jsonl -o out.jsonl --from old_output.jsonl")
    .action((backend: string, requests: string, options: SubmitOptions) => submit(backend, requests, options, env));

  cli
    .command("batch <action> <state>", "Look at or stop a submitted job: status, cancel, download (<state> is <output>.state.json)")
    .option("-o, --output <path>", "download: where to write what has ended (default: the job's output)")
    .option("--base-url <url>", "API base URL (default: the one the job used)")
    .option("-q, --quiet", "No progress on stderr")
    .example("batchline batch status out.jsonl.state.json")
    .action((action: string, state: string, options: { output?: string; quiet?: boolean; baseUrl?: string }) => batchCommand(action, state, options, env));
}

