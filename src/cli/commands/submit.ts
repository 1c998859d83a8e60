/**
 * `batchline submit <backend> <requests|-> -o <output>` and `batchline batch status|cancel|download <state>`:
 * send a request file to a batch endpoint and bring every answer back, resumably.
 */
import type { CAC } from "cac";
import { INPUT_OPTION, inputPath } from "../io.ts";
import { basename, dirname, join, resolve } from "node:path";
import { BatchlineError, type Location, UsageError } from "../../core/errors.ts";
import { cancelJob, downloadJob, jobStatus, loadJobState, type BatchJobSummary } from "../../submitters/batch-runner.ts";
import { BACKENDS } from "../../submitters/index.ts";
import { type BackendOptions, type SubmitEnv, batchSummaryLine, checkBackendName, makeBatchBackend, submitFile } from "../../submitters/submit-file.ts";
import { stringOption } from "../options.ts";
import { createSubmitRenderer, progressIntervalMs } from "../status-board.ts";
import { SkipLog, spoolStdinTo } from "./common.ts";
import type { DirectBudget } from "../../submitters/direct-runner.ts";
import { type CostOptions, checkCost, costBudget, pricingTier } from "./plan.ts";
import { rm } from "node:fs/promises";
import { writeUncachedLines } from "../../cache/cache-plan.ts";
import { cacheScopeFor } from "../../cache/cache-scope.ts";
import { parseKeyIgnore } from "../../cache/request-key.ts";
import { cacheDirFor } from "../../cache/response-cache.ts";

export type { SubmitEnv } from "../../submitters/submit-file.ts";

export interface SubmitOptions extends CostOptions, BackendOptions {
  output?: string;
  quiet?: boolean;
  verbose?: boolean;
  /** Seconds between status lines when stderr is not a terminal. */
  progressInterval?: string | number;
  skipBad?: boolean;
}


/** Copies stdin into the job's work directory, so that a resumed run can check and reuse it. */
function spoolRequests(output: string): Promise<string> {
  return spoolStdinTo(join(dirname(resolve(output)), `${basename(output)}.chunks`, "stdin-requests.jsonl"));
}

/** Prints what `submitFile` logs besides the runner's lines (the run lock's notices, the summary of failed batches): those come as events. */
function otherLines(backendName: string): (line: string) => void {
  return (line) => {
    if (!line.startsWith(`[${backendName}] `)) process.stderr.write(`${line}\n`);
  };
}

function printSummary(s: BatchJobSummary, quiet: boolean | undefined): void {
  if (!quiet) process.stderr.write(`${batchSummaryLine(s)}\n`);
}

export async function submit(backendName: string, requests: string, options: SubmitOptions, env: SubmitEnv): Promise<void> {
  const output = stringOption(options.output);
  if (!output || output === "-") throw new UsageError("submit needs -o <output.jsonl> (a file: its state file and chunks live beside it)");
  checkBackendName(backendName);
  // A direct run keeps --max-cost while it sends (it can stop part-way); a batch job is refused up front.
  const direct = backendName === "openai-compatible";
  const tier = pricingTier(backendName, options.serviceTier);
  let budget: DirectBudget | undefined;
  if (options.maxCost !== undefined && requests !== "-") {
    // With the request cache on, only the lines it does not answer will be paid for.
    const cacheDir = cacheDirFor(options.cache, env);
    const uncached = cacheDir ? join(dirname(resolve(output)), `.${basename(output)}.uncached-plan.jsonl`) : undefined;
    try {
      const cached = uncached ? await writeUncachedLines(requests, uncached, cacheDir!, await cacheScopeFor(backendName, options, { ...env }), parseKeyIgnore(options.cacheKeyIgnore)) : 0;
      const plan = await checkCost(cached > 0 ? uncached! : requests, { ...options, tier }, { refuse: !direct });
      if (direct) budget = await costBudget(options, tier);
      const note = cached > 0 ? ` for the ${plan.lines} line(s) the request cache does not answer (${cached} do not cost anything)` : "";
      const within = direct ? `--max-cost ${options.maxCost} is kept while sending` : `within --max-cost ${options.maxCost}`;
      if (!options.quiet) process.stderr.write(`plan: up to $${plan.maxCost.toFixed(2)} at ${plan.tier} prices (table of ${plan.priceTableDate})${note}, ${within}\n`);
    } finally {
      if (uncached) await rm(uncached, { force: true });
    }
  } else if (options.maxCost !== undefined) {
    throw new UsageError("--max-cost needs a request file, not - (plan reads it before anything is sent)");
  }
  const intervalMs = progressIntervalMs(options.progressInterval);
  const path = requests === "-" ? await spoolRequests(output) : requests;
  const renderer = options.quiet ? undefined : await createSubmitRenderer({ verbose: options.verbose === true, intervalMs });
  const skipped = new SkipLog();
  const onBadLine = options.skipBad ? (err: BatchlineError & { at?: Location }) => skipped.report(err.at ?? { file: path }, err.message) : undefined;
  let summary;
  try {
    summary = await submitFile(backendName, { ...options, requests: path, output, env, ...(budget ? { budget } : {}), ...(renderer ? { onEvent: renderer.onEvent, log: otherLines(backendName) } : {}), ...(onBadLine ? { onBadLine } : {}) });
  } finally {
    renderer?.close();
  }
  skipped.summary("submit");
  if (!options.quiet) {
    process.stderr.write(`${summary.line}\n`);
    if (summary.missing.length > 0) process.stderr.write(`[${backendName}] ${summary.missing.length} custom_id(s) not in the recording, e.g. ${summary.missing.slice(0, 5).join(", ")}\n`);
  }
  if (summary.failed > 0) {
    const codes = Object.entries(summary.byCode).map(([c, n]) => `${c} ${n}`).join(", ");
    throw new BatchlineError(`${summary.failed} of ${summary.total} line(s) failed${codes ? ` (${codes})` : ""}; each is a failure line in ${summary.output} (batchline retry makes a request file of them)`);
  }
}

interface BatchCommandOptions {
  output?: string;
  quiet?: boolean;
  baseUrl?: string;
  anthropicVersion?: string;
}

async function batchCommand(action: string, statePath: string, options: BatchCommandOptions, env: SubmitEnv): Promise<void> {
  const state = await loadJobState(statePath);
  // the API version the run used (recorded in its state; only anthropic-batch records one) unless --anthropic-version says otherwise
  const version = stringOption(options.anthropicVersion) ?? state.apiVersion ?? undefined;
  const { backend } = await makeBatchBackend(state.backend, env, stringOption(options.baseUrl) ?? state.baseURL ?? undefined, version);
  if (action === "status") {
    for (const row of await jobStatus(backend, state)) {
      const counts = row.counts ? ` ${row.counts.completed} completed, ${row.counts.failed} failed of ${row.counts.total}` : "";
      process.stdout.write(`round ${row.round} ${row.chunk} ${row.batchId ?? "-"} ${row.status}${counts}\n`);
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

/** How a request file is sent and collected, for every backend; a pipeline's submit steps take them too. */
export const SUBMIT_BACKEND_OPTIONS: readonly [flag: string, description: string][] = [
  ["--retry-failed <n>", "Resubmit the lines that did not succeed, up to n more rounds (default 0)"],
  ["--poll-interval <s>", "First wait between polls in seconds, growing 1.5x per poll (default 5)"],
  ["--max-poll-interval <s>", "Longest wait between polls in seconds (default 60)"],
  ["--base-url <url>", "API base URL (default: OPENAI_BASE_URL, else the provider's)"],
  ["--max-chunk-lines <n>", "Fewer lines per batch than the backend allows (partial results sooner)"],
  ["--max-chunk-mb <mb>", "Fewer MB (1 MB = 1,000,000 bytes) per batch than the backend allows"],
  ["--provider <name>", "openai-batch: the OpenAI-format batch provider whose limits and endpoints apply: openai, groq (others are refused with what differs); default: from the --base-url host"],
  ["--completion-window <w>", "openai-batch: completion_window to ask for (default 24h; groq takes 24h to 7d)"],
  ["--create-interval <s>", "Batch backends: seconds between two batch creates (default 1): creates are staggered"],
  ["--token-limit-retries <n>", "Batch backends: times a batch refused with token_limit_exceeded is created again, with backoff, before its lines count as failed (default 8)"],
  ["--token-limit-backoff <s>", "Batch backends: first wait in seconds before such a batch is created again; doubles each time, up to 30 min (default 60)"],
  ["--concurrency <n>", "openai-compatible: requests in flight (default 16)"],
  ["--rpm <n>", "openai-compatible: at most n requests per minute"],
  ["--tpm <n>", "openai-compatible: at most n tokens per minute (estimated: prompt chars / 4 + max_tokens)"],
  ["--timeout <s>", "openai-compatible: seconds per attempt (default 600)"],
  ["--max-retries <n>", "openai-compatible: retries on 429/5xx/timeouts, honouring Retry-After (default 5)"],
  ["--retry-backoff <s>", "openai-compatible: first wait before a retry, doubling each time up to 60 s (default 1)"],
  ["--cache [dir]", "Request cache: answer lines asked before from here, store new successes (default: BATCHLINE_CACHE, else $XDG_CACHE_HOME/batchline/responses, else ~/.cache/batchline/responses)"],
  ["--no-cache", "Send every line; read and store nothing in the request cache (also BATCHLINE_CACHE=off)"],
  ["--cache-key-ignore <fields>", "What the cache key leaves out: custom_id (default; its __pass<N> stays in), body.<field>, or none"],
  ["--service-tier <tier>", "openai-compatible: service_tier sent with every request: flex (OpenAI flex processing: batch prices, 15 min default timeout, 10 retries), auto, default, priority"],
  ["--max-cost <usd>", "Batch backends: refuse to start if the plan's estimate is above this (see batchline plan); openai-compatible: stop sending before the reported spend plus what is in flight would pass it"],
  ["--price-table <file>", "With --max-cost: JSON price table instead of the bundled one"],
  ["--output-tokens <n>", "With --max-cost: assume n output tokens per request instead of max_tokens"],
];

export function registerSubmit(cli: CAC, env: SubmitEnv): void {
  const command = cli
    .command("submit <backend> [requests]", `Send a request file to a batch endpoint and write every answer (backends: ${Object.keys(BACKENDS).join(", ")})`)
    .option("-o, --output <path>", "Output file (OpenAI Batch output lines, each custom_id once); <output>.state.json and <output>.chunks/ sit beside it");
  for (const [flag, description] of SUBMIT_BACKEND_OPTIONS) command.option(flag, description);
  command
    .option("--skip-bad", "Report and leave out request lines that are not valid (or that the backend cannot send) instead of refusing the file")
    .option("--from <file>", "replay: the recorded output file to answer from")
    .option("--anthropic-version <date>", "anthropic-batch: API version to send and translate for: 2026-10-21 (default; drops temperature/top_p/top_k) or 2023-06-01 (keeps them); env ANTHROPIC_VERSION")
    .option("-q, --quiet", "No progress on stderr")
    .option("-v, --verbose", "Per-batch lines in the status block, and every routine message (uploaded, created, downloaded)")
    .option("--progress-interval <s>", "When stderr is not a terminal: seconds between status lines (default 30; also on each state change)")
    .example("OPENAI_API_KEY=sk-... batchline submit openai-batch batch_requests_step1.jsonl -o batch_output_step1.jsonl --retry-failed 2")
    .example("OPENAI_API_KEY=local OPENAI_BASE_URL=http://127.0.0.1:8089/v1 batchline submit openai-batch requests.jsonl -o out.jsonl")
    .example("GEMINI_API_KEY=... batchline submit gemini-batch requests.jsonl -o out.jsonl --retry-failed 1")
    .example("batchline submit openai-compatible requests.jsonl -o out.jsonl --base-url http://127.0.0.1:8000/v1 --concurrency 64")
    .example("batchline submit replay requests.jsonl -o out.jsonl --from old_output.jsonl")
    .option(...INPUT_OPTION)
    .action((backend: string, requests: string | undefined, options: SubmitOptions & { input?: string }) => submit(backend, inputPath(requests, options, "submit"), options, env));

  cli
    .command("batch <action> <state>", "Look at or stop a submitted job: status, cancel, download (<state> is <output>.state.json)")
    .option("-o, --output <path>", "download: where to write what has ended (default: the job's output)")
    .option("--base-url <url>", "API base URL (default: the one the job used)")
    .option("--anthropic-version <date>", "anthropic-batch: API version to use (default: the one the job used, recorded in its state file)")
    .option("-q, --quiet", "No progress on stderr")
    .example("batchline batch status out.jsonl.state.json")
    .action((action: string, state: string, options: BatchCommandOptions) => batchCommand(action, state, options, env));
}

