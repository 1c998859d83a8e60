/**
 * Submit one request file to a backend by name and write every answer to one output file: the
 * library side of `batchline submit` and of a pipeline's `submit` step. Options are the CLI's
 * (strings or numbers, as typed); keys and base URLs come in through `env`, never from
 * process.env. One submit per output at a time (a lock beside it, taken over from a dead
 * process); a killed submit resumes from its own state file or journal.
 */
import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { BatchlineError, UsageError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { checkFileTarget, checkInputFile } from "../core/file-checks.ts";
import { readJsonlLines } from "../core/jsonl.ts";
import { acquireLock } from "../internal/run-lock.ts";
import { type BatchJobSummary, runBatchJob } from "./batch-runner.ts";
import { type DirectBackend, type DirectBudget, runDirectJob } from "./direct-runner.ts";
import { ANTHROPIC_API_VERSION, ANTHROPIC_API_VERSIONS } from "./anthropic-request.ts";
import { BACKENDS, BATCH_BACKENDS, DIRECT_BACKENDS, isBatchBackend } from "./index.ts";
import { type BatchProvider, checkOpenAIBatchProvider, completionWindowFor, providerFor } from "./providers.ts";
import type { SubmitEvent } from "./submit-events.ts";
import type { BatchBackend } from "./types.ts";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import { submitThroughCache } from "../cache/cached-submit.ts";
import { cacheScopeFor } from "../cache/cache-scope.ts";
import { parseKeyIgnore } from "../cache/request-key.ts";
import { cacheDirFor } from "../cache/response-cache.ts";

/** What the caller read from the environment (the CLI's main.ts is the only module that reads env). */
export interface SubmitEnv {
  OPENAI_API_KEY?: string | undefined;
  OPENAI_BASE_URL?: string | undefined;
  ANTHROPIC_API_KEY?: string | undefined;
  ANTHROPIC_BASE_URL?: string | undefined;
  /** anthropic-batch's API version when --anthropic-version is not given (default ANTHROPIC_API_VERSION, 2026-10-21). */
  ANTHROPIC_VERSION?: string | undefined;
  /** gemini-batch's key: GEMINI_API_KEY, else GOOGLE_API_KEY. */
  GEMINI_API_KEY?: string | undefined;
  GOOGLE_API_KEY?: string | undefined;
  GEMINI_BASE_URL?: string | undefined;
  /** The request cache: BATCHLINE_CACHE (a directory, or `off`), else XDG_CACHE_HOME, else HOME (see src/cache/response-cache.ts). */
  BATCHLINE_CACHE?: string | undefined;
  XDG_CACHE_HOME?: string | undefined;
  HOME?: string | undefined;
}

/** Backend options as typed on the command line (numbers may be strings); each is checked here. */
export interface BackendOptions {
  retryFailed?: string | number | undefined;
  /** Seconds. */
  pollInterval?: string | number | undefined;
  /** Seconds. */
  maxPollInterval?: string | number | undefined;
  baseUrl?: string | undefined;
  maxChunkLines?: string | number | undefined;
  maxChunkMb?: string | number | undefined;
  /** Seconds between two batch creates. */
  createInterval?: string | number | undefined;
  /** Times a batch refused for the enqueued-token limit is created again. */
  tokenLimitRetries?: string | number | undefined;
  /** Seconds before the first such retry (doubling). */
  tokenLimitBackoff?: string | number | undefined;
  concurrency?: string | number | undefined;
  rpm?: string | number | undefined;
  tpm?: string | number | undefined;
  /** Seconds per attempt. */
  timeout?: string | number | undefined;
  maxRetries?: string | number | undefined;
  /** Seconds. */
  retryBackoff?: string | number | undefined;
  /** replay: the recorded output file. */
  from?: string | undefined;
  /** anthropic-batch: the anthropic-version to send and translate for (wins over env ANTHROPIC_VERSION). */
  anthropicVersion?: string | undefined;
  /** The request cache's directory; false (`--no-cache`) turns it off; absent or true: from env. */
  cache?: string | boolean | undefined;
  /** What the cache key leaves out (default custom_id; the pass stays in). */
  cacheKeyIgnore?: string | undefined;
  /** openai-compatible: `service_tier` sent with every request (flex: OpenAI's flex processing). */
  serviceTier?: string | undefined;
  /** openai-batch: the provider (providers.ts) whose limits and endpoints apply; default: from the base URL's host. */
  provider?: string | undefined;
  /** openai-batch: completion_window to ask for, within what the provider takes (default 24h). */
  completionWindow?: string | undefined;
}

/** The service tiers OpenAI's chat and responses APIs take. */
export const SERVICE_TIERS = ["auto", "default", "flex", "priority"] as const;

/** The --service-tier of backend `name`, checked; refused for backends other than openai-compatible. */
export function serviceTierFor(name: string, value: unknown): string | undefined {
  const tier = text(value);
  if (tier === undefined) return undefined;
  if (name !== "openai-compatible") throw new UsageError(`--service-tier is for openai-compatible (synchronous calls), not ${name}: batch APIs have their own price`);
  if (!(SERVICE_TIERS as readonly string[]).includes(tier)) throw new UsageError(`--service-tier ${tier}: expected ${SERVICE_TIERS.join(", ")}`);
  return tier;
}

/** One submit: the request file (a path), the output, the backend's options, and where lines of progress go. */
export interface SubmitFileOptions extends BackendOptions {
  requests: string;
  output: string;
  env: SubmitEnv;
  log?: (line: string) => void;
  /** Structured progress (status snapshots and messages) for a renderer; see submit-events.ts. */
  onEvent?: (event: SubmitEvent) => void;
  signal?: AbortSignal;
  /** Direct backends: stop sending before spend passes a limit (see DirectBudget). */
  budget?: DirectBudget;
  /** Leave out request lines that are not valid (or that the backend cannot send), reporting each here, instead of refusing the file (`--skip-bad`). */
  onBadLine?: (error: BatchlineError) => void;
}

/** What a finished submit produced, whichever backend ran it. */
export interface SubmitFileSummary {
  output: string;
  total: number;
  succeeded: number;
  failed: number;
  byCode: Record<string, number>;
  /** Batch backends: batches that failed as a whole (their lines are failures in the output). */
  failedBatches: number;
  /** Replay: custom_ids the recording does not have. */
  missing: string[];
  /** Lines answered from the request cache (never sent). */
  fromCache?: number;
  /** One line for a human. */
  line: string;
}

/** True when `path` holds no line but blank ones (reads up to the first one that is not). */
async function hasNoLines(path: string): Promise<boolean> {
  for await (const { text } of readJsonlLines(createReadStream(path))) if (text.trim() !== "") return false;
  return true;
}

/** Every backend name `submitFile` accepts. */
export function backendNames(): string[] {
  return Object.keys(BACKENDS);
}

/** Throws a usage error unless `name` is a backend; the message lists them. */
export function checkBackendName(name: string): void {
  if (!Object.hasOwn(BACKENDS, name)) throw new UsageError(`unknown backend ${name}; backends: ${backendNames().join(", ")}`);
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null || value === true || value === false) return undefined;
  if (Array.isArray(value)) return text(value[value.length - 1]);
  return String(value);
}

function positive(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} ${String(value)}: expected a number > 0`);
  return n;
}

/** Seconds as typed -> milliseconds; `fallbackSeconds` when absent. */
function millis(value: unknown, flag: string, fallbackSeconds: number): number {
  if (value === undefined) return fallbackSeconds * 1000;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} ${String(value)}: expected seconds >= 0`);
  return n * 1000;
}

/** The anthropic-version for backend `name`: the flag, else env ANTHROPIC_VERSION, else undefined (the backend's default); refused for other backends. */
function anthropicVersionFor(name: string, flag: unknown, env: SubmitEnv): string | undefined {
  const given = text(flag);
  if (name !== "anthropic-batch") {
    if (given !== undefined) throw new UsageError(`--anthropic-version is for anthropic-batch, not ${name}`);
    return undefined;
  }
  const version = given || env.ANTHROPIC_VERSION || undefined;
  if (version !== undefined && !(ANTHROPIC_API_VERSIONS as readonly string[]).includes(version)) {
    throw new UsageError(`[anthropic-batch] unknown anthropic-version ${version}; batchline translates requests for ${ANTHROPIC_API_VERSIONS.join(" and ")}`);
  }
  return version;
}

/** A batch backend's key and base URL from `env`; a usage error naming the variables when there is no key. */
function batchCredentials(name: string, env: SubmitEnv): { apiKey: string; baseURL: string | undefined } {
  const [apiKey, baseURL, hint] =
    name === "anthropic-batch" ? [env.ANTHROPIC_API_KEY, env.ANTHROPIC_BASE_URL, "ANTHROPIC_API_KEY"]
    : name === "gemini-batch" ? [env.GEMINI_API_KEY || env.GOOGLE_API_KEY, env.GEMINI_BASE_URL, "GEMINI_API_KEY or GOOGLE_API_KEY"]
    : [env.OPENAI_API_KEY, env.OPENAI_BASE_URL, "OPENAI_API_KEY (any value for a local batchline serve)"];
  if (!apiKey) throw new UsageError(`[${name}] missing API key: set ${hint}`);
  return { apiKey, baseURL: baseURL || undefined };
}

/** A batch backend by name, with its key and base URL from `env` (`baseUrl` wins over the env's), and for anthropic-batch its API version. */
export async function makeBatchBackend(name: string, env: SubmitEnv, baseUrl?: string, anthropicVersionFlag?: string, openai: { provider?: string | undefined; completionWindow?: string | undefined } = {}): Promise<{ backend: BatchBackend; baseURL: string | null; apiVersion: string | null }> {
  if (!isBatchBackend(name)) throw new UsageError(`unknown backend ${name}; backends: ${backendNames().join(", ")}`);
  const anthropicVersion = anthropicVersionFor(name, anthropicVersionFlag, env);
  const credentials = batchCredentials(name, env);
  const apiKey = credentials.apiKey;
  const baseURL = baseUrl ?? credentials.baseURL;
  const provider = openaiProviderFor(name, openai.provider, openai.completionWindow, baseURL);
  const backend = await BATCH_BACKENDS[name]({ apiKey, ...(baseURL ? { baseURL } : {}), ...(anthropicVersion ? { anthropicVersion } : {}), ...provider });
  return { backend, baseURL: baseURL ?? null, apiVersion: name === "anthropic-batch" ? (anthropicVersion ?? ANTHROPIC_API_VERSION) : null };
}

/** openai-batch's provider row and completion window, checked; --provider and --completion-window are refused on other backends. */
function openaiProviderFor(name: string, given: unknown, window: unknown, baseURL: string | undefined): { provider?: BatchProvider; completionWindow?: string } {
  const providerName = text(given);
  const completionWindow = text(window);
  if (name !== "openai-batch") {
    if (providerName !== undefined) throw new UsageError(`--provider is for openai-batch (OpenAI-format batch providers), not ${name}`);
    if (completionWindow !== undefined) throw new UsageError(`--completion-window is for openai-batch, not ${name}`);
    return {};
  }
  const provider = providerFor(providerName, baseURL);
  checkOpenAIBatchProvider(provider);
  return { provider, completionWindow: completionWindowFor(provider, completionWindow) };
}

/**
 * Checks what can be checked before anything runs: the backend name, its key or base URL, the
 * replay recording, and every number. Throws a usage error naming the option; returns nothing.
 */
export async function checkBackendOptions(name: string, options: BackendOptions, env: SubmitEnv): Promise<void> {
  checkBackendName(name);
  anthropicVersionFor(name, options.anthropicVersion, env);
  serviceTierFor(name, options.serviceTier);
  if (!isBatchBackend(name)) openaiProviderFor(name, options.provider, options.completionWindow, undefined);
  parseKeyIgnore(options.cacheKeyIgnore);
  if (isBatchBackend(name)) {
    openaiProviderFor(name, options.provider, options.completionWindow, text(options.baseUrl) ?? batchCredentials(name, env).baseURL);
    batchCredentials(name, env);
    retryRounds(options.retryFailed);
    positive(options.maxChunkLines, "--max-chunk-lines");
    positive(options.maxChunkMb, "--max-chunk-mb");
    millis(options.pollInterval, "--poll-interval", 5);
    millis(options.maxPollInterval, "--max-poll-interval", 60);
    millis(options.createInterval, "--create-interval", 1);
    millis(options.tokenLimitBackoff, "--token-limit-backoff", 60);
    wholeNumber(options.tokenLimitRetries, "--token-limit-retries", 8);
    return;
  }
  if (name === "replay") {
    const from = text(options.from);
    if (!from) throw new UsageError("the replay backend needs --from <recorded output.jsonl>");
    await checkInputFile(from, "replay recording");
    return;
  }
  if (!(text(options.baseUrl) ?? env.OPENAI_BASE_URL)) throw new UsageError("openai-compatible needs --base-url <url> (or OPENAI_BASE_URL), e.g. http://127.0.0.1:8000/v1");
  for (const [flag, v] of [["--concurrency", options.concurrency], ["--rpm", options.rpm], ["--tpm", options.tpm], ["--timeout", options.timeout], ["--retry-backoff", options.retryBackoff]] as const) positive(v, flag);
  retries(options.maxRetries);
}

function wholeNumber(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} ${String(value)}: expected a whole number >= 0`);
  return n;
}

function retryRounds(value: unknown): number {
  const n = value === undefined ? 0 : Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--retry-failed ${String(value)}: expected a whole number of extra rounds`);
  return n;
}

function retries(value: unknown): number | undefined {
  const n = value === undefined ? undefined : Number(value);
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new UsageError(`--max-retries ${String(value)}: expected a whole number`);
  return n;
}

async function makeDirectBackend(name: string, options: BackendOptions, env: SubmitEnv): Promise<DirectBackend & { missing?: string[] }> {
  if (name === "replay") {
    const from = text(options.from);
    if (!from) throw new UsageError("submit replay needs --from <recorded output.jsonl>");
    return (await import("./replay.ts")).default({ from });
  }
  const baseURL = text(options.baseUrl) ?? env.OPENAI_BASE_URL;
  if (!baseURL) throw new UsageError("submit openai-compatible needs --base-url <url> (or OPENAI_BASE_URL), e.g. http://127.0.0.1:8000/v1");
  const concurrency = positive(options.concurrency, "--concurrency");
  const rpm = positive(options.rpm, "--rpm");
  const tpm = positive(options.tpm, "--tpm");
  const timeout = positive(options.timeout, "--timeout");
  const retryBackoff = positive(options.retryBackoff, "--retry-backoff");
  const maxRetries = retries(options.maxRetries);
  const serviceTier = serviceTierFor(name, options.serviceTier);
  return (await import("./openai-compatible.ts")).default({
    ...(serviceTier ? { serviceTier } : {}),
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

function codes(byCode: Record<string, number>): string {
  const text = Object.entries(byCode).map(([c, n]) => `${c} ${n}`).join(", ");
  return text ? ` (${text})` : "";
}

/** The one line a batch job's summary prints as. */
export function batchSummaryLine(s: BatchJobSummary): string {
  return `${s.output}: ${s.total} lines, ${s.succeeded} succeeded, ${s.failed} failed${codes(s.byCode)}; ${s.batches} batch(es) in ${s.rounds} round(s)`;
}

/**
 * Sends `requests` through backend `name` and writes the merged output to `output`. Throws a
 * `BatchlineError` when a batch failed as a whole (after writing the output, whose lines say why).
 */
export async function submitFile(name: string, options: SubmitFileOptions): Promise<SubmitFileSummary> {
  await checkBackendOptions(name, options, options.env);
  const output = options.output;
  await checkInputFile(options.requests, "request file");
  await checkFileTarget(output);
  if (await hasNoLines(options.requests)) {
    // Every backend gives the same answer to an empty request file: an empty output.
    await writeFileAtomic(output, "");
    const line = `${output}: 0 lines (${options.requests} has no requests; wrote an empty output)`;
    return { output, total: 0, succeeded: 0, failed: 0, byCode: {}, failedBatches: 0, missing: [], line };
  }
  await mkdir(dirname(resolve(output)), { recursive: true });
  // One submit per output at a time: a second one would upload and pay for the same lines again.
  const release = await acquireLock(`${output}.lock`, output, (line) => options.log?.(`submit: ${line}`));
  let summary: SubmitFileSummary;
  try {
    const cacheDir = cacheDirFor(options.cache, options.env);
    if (cacheDir === undefined) {
      summary = await submitLocked(name, options);
    } else {
      const s = await submitThroughCache({
        requests: options.requests,
        output,
        cacheDir,
        scope: await cacheScopeFor(name, options, { ...options.env }),
        ignore: parseKeyIgnore(options.cacheKeyIgnore),
        log: options.log,
        onBadLine: options.onBadLine,
        send: (requests, out, onSucceeded) => submitLocked(name, { ...options, requests, output: out }, onSucceeded),
      });
      summary = { output, total: s.total, succeeded: s.succeeded, failed: s.failed, byCode: s.byCode, failedBatches: s.failedBatches, missing: s.missing, fromCache: s.fromCache, line: s.line };
    }
  } finally {
    await release();
  }
  if (summary.failedBatches > 0) {
    options.log?.(summary.line);
    throw new BatchlineError(`${summary.failedBatches} batch(es) failed as a whole (see the errors above); their lines are failures in ${summary.output}`);
  }
  return summary;
}

/**
 * One backend run. A direct backend passes each success it receives to `onSucceeded` (the request
 * cache stores it then) and says when that was every success of its output (nothing resumed).
 */
async function submitLocked(name: string, options: SubmitFileOptions, onSucceeded?: (request: BatchRequest, outputLine: string) => void): Promise<SubmitFileSummary & { everySuccessReported?: boolean }> {
  const { requests, output, env } = options;
  const log = options.log;
  if ((DIRECT_BACKENDS as readonly string[]).includes(name)) {
    const backend = await makeDirectBackend(name, options, env);
    const concurrency = positive(options.concurrency, "--concurrency");
    const s = await runDirectJob(backend, {
      requests,
      output,
      ...(concurrency ? { concurrency: Math.floor(concurrency) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.budget ? { budget: options.budget } : {}),
      ...(log ? { log } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.onBadLine ? { onBadLine: options.onBadLine } : {}),
      ...(onSucceeded ? { onSucceeded } : {}),
    });
    const missing = backend.missing ?? [];
    const unavailable = (backend as { stats?: { unavailable?: number } }).stats?.unavailable ?? 0;
    return {
      output: s.output,
      total: s.total,
      succeeded: s.succeeded,
      failed: s.failed,
      byCode: s.byCode,
      failedBatches: 0,
      missing,
      everySuccessReported: onSucceeded !== undefined && s.skipped === 0,
      line: `${s.output}: ${s.total} lines, ${s.succeeded} succeeded, ${s.failed} failed${codes(s.byCode)}; ${s.sent} sent, ${s.skipped} already answered${unavailable ? `; ${unavailable} flex 429 (resource unavailable) answer(s) retried` : ""}; ${s.seconds.toFixed(1)} s`,
    };
  }
  const retryFailed = retryRounds(options.retryFailed);
  const { backend, baseURL, apiVersion } = await makeBatchBackend(name, env, text(options.baseUrl), text(options.anthropicVersion), { provider: options.provider, completionWindow: options.completionWindow });
  const maxChunkLines = positive(options.maxChunkLines, "--max-chunk-lines");
  const maxChunkMb = positive(options.maxChunkMb, "--max-chunk-mb");
  const s = await runBatchJob(backend, {
    ...(maxChunkLines ? { maxChunkLines: Math.floor(maxChunkLines) } : {}),
    ...(maxChunkMb ? { maxChunkBytes: Math.floor(maxChunkMb * 1e6) } : {}),
    requests,
    output,
    retryFailed,
    baseURL,
    apiVersion,
    pollIntervalMs: millis(options.pollInterval, "--poll-interval", 5),
    maxPollIntervalMs: millis(options.maxPollInterval, "--max-poll-interval", 60),
    createIntervalMs: millis(options.createInterval, "--create-interval", 1),
    tokenLimitBackoffMs: millis(options.tokenLimitBackoff, "--token-limit-backoff", 60),
    tokenLimitRetries: wholeNumber(options.tokenLimitRetries, "--token-limit-retries", 8),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(log ? { log } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.onBadLine ? { onBadLine: options.onBadLine } : {}),
  });
  return { output: s.output, total: s.total, succeeded: s.succeeded, failed: s.failed, byCode: s.byCode, failedBatches: s.failedBatches, missing: [], line: batchSummaryLine(s) };
}
