/**
 * `batchline serve`: the OpenAI Files and Batches routes on 127.0.0.1, executing each batch
 * through an `Executor` (an upstream chat server or a replay file) with a concurrency limit.
 * Status goes validating -> in_progress -> finalizing -> completed (or failed / expired /
 * cancelling -> cancelled), with request_counts, output and error files as OpenAI documents them.
 * Input files are streamed twice (validate, execute), never held in memory.
 */
import { once } from "node:events";
import { createHash, timingSafeEqual } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { BATCH_URLS, BatchRequest, isBatchUrl } from "../../schemas/batch-request.ts";
import { openAtomic } from "../core/atomic-file.ts";
import { OPENAI_BATCH_LIMITS, embeddingInputs } from "../core/chunking.ts";
import { readJsonlLines, writeChunks } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { mapConcurrent, sleep } from "../internal/concurrency.ts";
import { randomId } from "../internal/ids.ts";
import { countInputTokens } from "../submitters/plan.ts";
import type { Executor, LineAnswer } from "./executors.ts";
import type { Faults } from "./faults.ts";
import { FairLimiter } from "./fair-limiter.ts";
import { FileStore, type StoredFile } from "./file-store.ts";
import { multipartBoundary, readMultipart } from "./multipart.ts";
import { SERVE_DB, ServeStore } from "./serve-store.ts";

type BatchStatus = "validating" | "failed" | "in_progress" | "finalizing" | "completed" | "expired" | "cancelling" | "cancelled";

/** The OpenAI Batch object (wire names); optional timestamps are null until they happen. */
export interface BatchObject {
  id: string;
  object: "batch";
  endpoint: string;
  model: string | null;
  errors: { object: "list"; data: { code: string; message: string; param: string | null; line: number | null }[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: { input_tokens: number; output_tokens: number; total_tokens: number; input_tokens_details: { cached_tokens: number }; output_tokens_details: { reasoning_tokens: number } };
  metadata: Record<string, string> | null;
}

/** What the server counts, for tests that assert nothing was uploaded or created twice. */
export interface ServerStats {
  uploads: number;
  batchesCreated: number;
  batchPolls: number;
  contentDownloads: number;
  linesExecuted: number;
  faultsInjected: number;
  /** Unfinished batches this start found in the data directory and continued. */
  batchesResumed: number;
}

export interface BatchServerOptions {
  executor: Executor;
  /** Upstream calls in flight at once, shared by all running batches. */
  concurrency?: number;
  faults?: Faults;
  /** Where files, batches and answers are kept (serve.db + file contents); a temp directory (removed on close) by default. */
  dataDir?: string;
  /** Bearer keys clients must send; none: no auth. With several, each key sees only its own files and batches. */
  apiKeys?: string[];
  host?: string;
  port?: number;
  log?: (line: string) => void;
}

export interface BatchServer {
  /** Base URL for the OpenAI SDK, ending in /v1. */
  baseURL: string;
  port: number;
  stats: ServerStats;
  batches: Map<string, BatchObject>;
  /** The shared upstream limit (its high-water mark shows fairness and backpressure in tests). */
  limiter: FairLimiter;
  /**
   * Stops the server. With `graceMs`, a graceful stop: new batches get 503, no new line is sent
   * upstream, lines in flight get up to `graceMs` to finish and are kept; then (or at once without
   * it) calls still in flight are aborted. Unfinished batches stay in the data directory for the
   * next start either way.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Read size of a running batch's input (hundreds of batches may be reading at once). */
const RUN_READ_CHUNK = 64 * 1024;
/** Batches writing their result files at once (each holds two open files while it does). */
const FINALIZING_AT_ONCE = 8;

/** Statuses of a batch that is not over: a start continues them. */
const UNFINISHED = new Set<BatchStatus>(["validating", "in_progress", "finalizing", "cancelling"]);

/** What the store keeps for a key: a digest of it, never the key. */
function ownerOf(key: string): string {
  return createHash("sha256").update(`batchline-serve-owner\0${key}`).digest("hex").slice(0, 32);
}

const now = () => Math.floor(Date.now() / 1000);

/** An error answer: HTTP status, message, and the spec's `param` and `code` where they apply. */
class HttpError extends Error {
  readonly status: number;
  readonly param: string | null;
  readonly code: string | null;
  constructor(status: number, message: string, param: string | null = null, code: string | null = null) {
    super(message);
    this.status = status;
    this.param = param;
    this.code = code;
  }
}

const missing = (param: string) => new HttpError(400, `Missing required parameter: '${param}'.`, param, "missing_required_parameter");
const invalid = (param: string, message: string) => new HttpError(400, message, param, "invalid_value");

/** Purposes `POST /v1/files` accepts (CreateFileRequest.purpose). */
const UPLOAD_PURPOSES = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];
/** Expiry bounds of `expires_after` / `output_expires_after` (FileExpirationAfter.seconds). */
const EXPIRY_MIN_S = 3600;
const EXPIRY_MAX_S = 2_592_000;
/** Files of purpose batch expire after 30 days unless the upload says otherwise. */
const BATCH_FILE_EXPIRY_S = 2_592_000;
/** Metadata: 16 pairs, keys up to 64 characters, string values up to 512. */
const METADATA_MAX_PAIRS = 16;
const METADATA_MAX_KEY = 64;
const METADATA_MAX_VALUE = 512;

/** A list query's integer `limit`, refused (not coerced) outside [1, max]. */
function limitParam(url: URL, max: number, fallback: number): number {
  const raw = url.searchParams.get("limit");
  if (raw === null) return fallback;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n)) throw invalid("limit", `Invalid 'limit': expected an integer, got '${raw}'.`);
  if (n < 1 || n > max) throw invalid("limit", `Invalid 'limit': ${n} is out of range; it must be between 1 and ${max}.`);
  return n;
}

/** Checks an `expires_after`-shaped object; returns its seconds. */
function expiryParam(value: unknown, param: string): number {
  const v = value as { anchor?: unknown; seconds?: unknown } | null;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid(param, `Invalid '${param}': expected an object with anchor and seconds.`);
  if (v.anchor !== "created_at") throw invalid(`${param}.anchor`, `Invalid '${param}.anchor': the only supported anchor is 'created_at'.`);
  const seconds = typeof v.seconds === "string" ? Number(v.seconds) : v.seconds;
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < EXPIRY_MIN_S || seconds > EXPIRY_MAX_S) {
    throw invalid(`${param}.seconds`, `Invalid '${param}.seconds': ${String(v.seconds)}; it must be an integer between ${EXPIRY_MIN_S} (1 hour) and ${EXPIRY_MAX_S} (30 days).`);
  }
  return seconds;
}

/** Checks batch metadata (null or absent: none). */
function metadataParam(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "object" || Array.isArray(value)) throw invalid("metadata", "Invalid 'metadata': expected an object of string values.");
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > METADATA_MAX_PAIRS) throw invalid("metadata", `Invalid 'metadata': ${entries.length} pairs; at most ${METADATA_MAX_PAIRS} are allowed.`);
  for (const [key, v] of entries) {
    if (key.length > METADATA_MAX_KEY) throw invalid("metadata", `Invalid 'metadata': key '${key.slice(0, 20)}...' is ${key.length} characters; at most ${METADATA_MAX_KEY} are allowed.`);
    if (typeof v !== "string") throw invalid("metadata", `Invalid 'metadata.${key}': values must be strings.`);
    if (v.length > METADATA_MAX_VALUE) throw invalid("metadata", `Invalid 'metadata.${key}': the value is ${v.length} characters; at most ${METADATA_MAX_VALUE} are allowed.`);
  }
  return value as Record<string, string>;
}

/** One page of a list, newest first unless `order` is asc; `after` must name an item of the list. */
function page<T extends { id: string }>(oldestFirst: T[], url: URL, maxLimit: number, defaultLimit: number, withOrder: boolean): { object: "list"; data: T[]; first_id: string | null; last_id: string | null; has_more: boolean } {
  const limit = limitParam(url, maxLimit, defaultLimit);
  const order = withOrder ? (url.searchParams.get("order") ?? "desc") : "desc";
  if (order !== "asc" && order !== "desc") throw invalid("order", `Invalid 'order': '${order}'; expected 'asc' or 'desc'.`);
  const all = order === "desc" ? [...oldestFirst].reverse() : oldestFirst;
  const after = url.searchParams.get("after");
  let start = 0;
  if (after !== null) {
    const at = all.findIndex((x) => x.id === after);
    if (at < 0) throw invalid("after", `Invalid 'after': no object with id '${after}' in this list.`);
    start = at + 1;
  }
  const data = all.slice(start, start + limit);
  return { object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < all.length };
}

/** Adds one answer's usage (chat, completions, embeddings or Responses API) to a batch's usage. */
function addUsage(total: BatchObject["usage"], body: unknown): void {
  const u = (body as { usage?: Record<string, unknown> } | null)?.usage;
  if (typeof u !== "object" || u === null) return;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  const detail = (v: unknown, key: string) => num((v as Record<string, unknown> | null | undefined)?.[key]);
  const input = num(u.input_tokens ?? u.prompt_tokens);
  const output = num(u.output_tokens ?? u.completion_tokens);
  total.input_tokens += input;
  total.output_tokens += output;
  total.input_tokens_details.cached_tokens += detail(u.input_tokens_details ?? u.prompt_tokens_details, "cached_tokens");
  total.output_tokens_details.reasoning_tokens += detail(u.output_tokens_details ?? u.completion_tokens_details, "reasoning_tokens");
  total.total_tokens += typeof u.total_tokens === "number" ? u.total_tokens : input + output;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}, param: string | null = null, code: string | null = null): void {
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  sendJson(res, status, { error: { message, type, param, code } }, headers);
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  try {
    const value = JSON.parse(Buffer.concat(parts).toString("utf8")) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
    return value as Record<string, unknown>;
  } catch {
    throw new HttpError(400, "We could not parse the JSON body of your request: it must be a JSON object.", null, "invalid_json");
  }
}

/** Starts the server on 127.0.0.1 (port 0 by default: the OS picks one). */
export async function startBatchServer(options: BatchServerOptions): Promise<BatchServer> {
  const faults = options.faults ?? {};
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "batchline-serve-")));
  await mkdir(dataDir, { recursive: true });
  const db = new ServeStore(dataDir);
  const store = new FileStore(dataDir, db);
  await store.init();
  const batches = new Map<string, BatchObject>();
  const batchInfo = new Map<string, { seq: number; owner: string; outputExpiry: number | null }>();
  const cancelRequested = new Map<string, AbortController>(); // batch id -> aborts its waits
  const running = new Set<Promise<void>>();
  const shutdown = new AbortController(); // aborts upstream calls: the hard stop
  const drain = new AbortController(); // stops taking batches and lines: the graceful stop
  const stats: ServerStats = { uploads: 0, batchesCreated: 0, batchPolls: 0, contentDownloads: 0, linesExecuted: 0, faultsInjected: 0, batchesResumed: 0 };
  const log = options.log ?? (() => {});
  const limiter = new FairLimiter(options.concurrency ?? 16);
  const finalizing = new FairLimiter(FINALIZING_AT_ONCE);
  const owners = new Map<string, string>(); // key digest -> itself, for lookups by Bearer token
  for (const key of options.apiKeys ?? []) owners.set(ownerOf(key), ownerOf(key));
  let flakyCounter = 0;
  const lineFailures = new Map<string, number>(); // custom_id -> times a line-error rule answered it
  const enqueued = new Map<string, number>(); // model -> input tokens of its batches in progress
  const persist = (batch: BatchObject) => db.saveBatch(batch);

  const flaky = (res: ServerResponse): boolean => {
    if (!faults.flakyEvery) return false;
    flakyCounter++;
    if (flakyCounter % faults.flakyEvery !== 0) return false;
    stats.faultsInjected++;
    const status = faults.flakyStatus ?? 500;
    sendError(res, status, `injected fault: HTTP ${status}`, { "retry-after-ms": "20" });
    return true;
  };

  async function validate(batch: BatchObject): Promise<{ problems: NonNullable<BatchObject["errors"]>["data"]; total: number; model: string | null; tokens: number }> {
    const problems: NonNullable<BatchObject["errors"]>["data"] = [];
    const seen = new Set<string>();
    const maxInputs = OPENAI_BATCH_LIMITS.maxEmbeddingInputs ?? Infinity;
    let model: string | null = null;
    let total = 0;
    let inputs = 0;
    let tokens = 0;
    for await (const { line, text } of readJsonlLines(store.read(batch.input_file_id))) {
      total++;
      if (total === OPENAI_BATCH_LIMITS.maxLines + 1) {
        problems.push({ code: "too_many_requests", message: `The input file has more than ${OPENAI_BATCH_LIMITS.maxLines} requests; a batch holds at most ${OPENAI_BATCH_LIMITS.maxLines}.`, param: null, line });
      }
      if (problems.length >= 100) continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        problems.push({ code: "invalid_json_line", message: "This line is not parseable as valid JSON.", param: null, line });
        continue;
      }
      const parsed = BatchRequest.safeParse(value);
      if (!parsed.success) {
        const issue = flattenIssues(parsed.error)[0]!;
        problems.push({ code: "invalid_request", message: `${issue.message}${issue.path ? ` at ${issue.path}` : ""}`, param: issue.path || null, line });
        continue;
      }
      const req = parsed.data;
      inputs += embeddingInputs(req.url, req.body);
      if (faults.enqueuedTokenLimit !== undefined) tokens += countInputTokens(req.body).tokens;
      if (inputs > maxInputs && inputs - embeddingInputs(req.url, req.body) <= maxInputs) {
        problems.push({ code: "too_many_embedding_inputs", message: `The requests of this batch carry more than ${maxInputs} embedding inputs; a /v1/embeddings batch holds at most ${maxInputs}.`, param: "body.input", line });
      }
      if (req.url !== batch.endpoint) problems.push({ code: "mismatched_endpoint", message: `The url ${req.url} does not match the batch endpoint ${batch.endpoint}.`, param: "url", line });
      if (seen.has(req.custom_id)) problems.push({ code: "duplicate_custom_id", message: `The custom_id ${req.custom_id} is not unique in this file.`, param: "custom_id", line });
      seen.add(req.custom_id);
      if (model === null) model = req.body.model;
      else if (req.body.model !== model) problems.push({ code: "mismatched_model", message: `All requests in a batch must use the same model (${model}); this one uses ${req.body.model}.`, param: "body.model", line });
    }
    if (total === 0) problems.push({ code: "empty_file", message: "The input file has no requests.", param: null, line: null });
    if (faults.failValidation && problems.length === 0) problems.push({ code: "invalid_request", message: "injected fault: whole-file validation failure", param: null, line: 1 });
    return { problems, total, model, tokens };
  }

  /** Runs (or resumes) a batch; its input file stays readable until the batch ends, even if it is deleted meanwhile. */
  async function execute(batch: BatchObject): Promise<void> {
    const release = store.pin(batch.input_file_id);
    try {
      await executePinned(batch);
    } finally {
      await release(UNFINISHED.has(batch.status)); // stopped with the server: the next start goes on with it
    }
  }

  const expired = (batch: BatchObject) => now() >= batch.expires_at;

  async function executePinned(batch: BatchObject): Promise<void> {
    const delay = faults.stepDelayMs ?? 0;
    const cancelled = new AbortController();
    if (batch.status === "cancelling") cancelled.abort();
    cancelRequested.set(batch.id, cancelled);
    /** Waits, but a cancel or a graceful stop ends the wait early (a hard stop still throws). */
    const pause = (ms: number) =>
      sleep(ms, AbortSignal.any([shutdown.signal, drain.signal, cancelled.signal])).catch((e: unknown) => {
        if (shutdown.signal.aborted) throw e;
      });
    const isCancelled = () => cancelled.signal.aborted;
    if (batch.status === "finalizing") return finalize(batch, undefined);
    if (batch.status === "validating") {
      await pause(delay);
      if (drain.signal.aborted) return; // still validating: the next start validates it again
      if (expired(batch)) return finalize(batch, "expired");
      const { problems, total, model, tokens } = await validate(batch);
      batch.model = model;
      const enqueuedBefore = enqueued.get(model ?? "") ?? 0;
      const overLimit = faults.tokenLimitExceeded || (faults.enqueuedTokenLimit !== undefined && enqueuedBefore + tokens > faults.enqueuedTokenLimit);
      if (problems.length > 0 || overLimit) {
        batch.status = "failed";
        batch.failed_at = now();
        batch.errors = {
          object: "list",
          data: problems.length > 0 ? problems : [{ code: "token_limit_exceeded", message: `Enqueued token limit reached for ${model}. Wait for other batches to finish or split this one.`, param: null, line: null }],
        };
        persist(batch);
        log(`${batch.id}: failed (${batch.errors.data[0]!.code})`);
        return;
      }
      if (drain.signal.aborted) return;
      batch.request_counts.total = total;
      if (!isCancelled()) {
        batch.status = "in_progress";
        batch.in_progress_at = now();
      }
      persist(batch);
      enqueued.set(model ?? "", enqueuedBefore + tokens);
      try {
        await run(batch, delay, pause, isCancelled);
      } finally {
        enqueued.set(model ?? "", (enqueued.get(model ?? "") ?? tokens) - tokens);
      }
      return;
    }
    await run(batch, delay, pause, isCancelled);
  }

  /**
   * Sends the batch's lines that have no answer yet through the shared upstream limit and keeps
   * each answer as it arrives. A graceful stop leaves the batch as it is (in_progress or
   * cancelling) for the next start; otherwise the batch ends and its files are written.
   */
  async function run(batch: BatchObject, delay: number, pause: (ms: number) => Promise<void>, isCancelled: () => boolean): Promise<void> {
    const order = batchInfo.get(batch.id)!.seq;
    let answered = batch.request_counts.completed + batch.request_counts.failed; // the expiry fault reads it
    let stopped: "expired" | "cancelled" | "draining" | undefined;
    const started = Date.now();

    const keep = (customId: string, answer: LineAnswer) => {
      const ok = answer.response !== null && answer.response.status_code === 200;
      const line = JSON.stringify({ id: randomId("batch_req_"), custom_id: customId, response: answer.response, error: answer.error });
      const counts = { ...batch.request_counts };
      const usage = structuredClone(batch.usage);
      if (ok) {
        batch.request_counts.completed++;
        addUsage(batch.usage, answer.response!.body);
      } else batch.request_counts.failed++;
      if (!db.addAnswer(batch, customId, ok, line)) {
        batch.request_counts = counts; // answered already (a line sent again after a restart): kept once
        batch.usage = usage;
      }
    };

    const stopReason = (): typeof stopped => {
      if (isCancelled()) return "cancelled";
      if (drain.signal.aborted) return "draining";
      if (expired(batch) || (faults.expireAfterLines !== undefined && answered >= faults.expireAfterLines)) return "expired";
      return undefined;
    };

    async function* requests(): AsyncGenerator<BatchRequest> {
      for await (const { text } of readJsonlLines(store.read(batch.input_file_id, RUN_READ_CHUNK))) {
        if ((stopped = stopReason())) return;
        const request = JSON.parse(text) as BatchRequest;
        if (!db.hasAnswer(batch.id, request.custom_id)) yield request;
      }
    }

    const answerOne = async (request: BatchRequest): Promise<[string, LineAnswer | null]> => {
      await limiter.acquire(order);
      try {
        // Waited for a slot: the batch may have been cancelled or the server told to stop meanwhile.
        if (stopReason()) return [request.custom_id, null];
        const rule = faults.lineErrors?.find((r) => r.match.test(request.custom_id) && (r.times === undefined || (lineFailures.get(request.custom_id) ?? 0) < r.times));
        if (rule) {
          lineFailures.set(request.custom_id, (lineFailures.get(request.custom_id) ?? 0) + 1);
          answered++;
          stats.faultsInjected++;
          return [request.custom_id, { response: { status_code: rule.status, request_id: randomId("req_"), body: { error: { message: `injected fault: HTTP ${rule.status}`, type: rule.status >= 500 ? "server_error" : "invalid_request_error", param: null, code: null } } }, error: null }];
        }
        stats.linesExecuted++;
        const answer = await options.executor(request, shutdown.signal);
        answered++;
        return [request.custom_id, answer];
      } finally {
        limiter.release();
      }
    };

    for await (const [customId, answer] of mapConcurrent(requests(), limiter.limit, answerOne)) {
      if (answer) keep(customId, answer);
    }
    stopped = stopReason() ?? stopped;
    if (stopped === "draining") return;
    if (!stopped && Date.now() - started < delay) {
      await pause(delay - (Date.now() - started));
      stopped = stopReason();
      if (stopped === "draining") return;
    }
    if (stopped === "expired" || stopped === "cancelled") {
      const code = stopped === "expired" ? "batch_expired" : "batch_cancelled";
      const message = stopped === "expired" ? "This request could not be executed before the completion window expired." : "This request was not executed because the batch was cancelled.";
      for await (const { text } of readJsonlLines(store.read(batch.input_file_id))) {
        const customId = (JSON.parse(text) as BatchRequest).custom_id;
        if (!db.hasAnswer(batch.id, customId)) keep(customId, { response: null, error: { code, message } });
      }
      return finalize(batch, stopped);
    }
    batch.status = "finalizing";
    batch.finalizing_at = now();
    persist(batch);
    await pause(delay);
    if (drain.signal.aborted) return; // finalizing: the next start writes the files
    return finalize(batch, undefined);
  }

  /** Writes the output and error files from the kept answers and ends the batch, in one transaction. */
  async function finalize(batch: BatchObject, stopped: "expired" | "cancelled" | undefined): Promise<void> {
    await finalizing.acquire(0);
    try {
      await finalizeNow(batch, stopped);
    } finally {
      finalizing.release();
    }
  }

  async function finalizeNow(batch: BatchObject, stopped: "expired" | "cancelled" | undefined): Promise<void> {
    const { owner, outputExpiry } = batchInfo.get(batch.id)!;
    const out = await store.create(`${batch.id}_output.jsonl`);
    const err = await store.create(`${batch.id}_error.jsonl`);
    let outLines = 0;
    let errLines = 0;
    try {
      for (const { ok, line } of db.answers(batch.id, faults.shuffle)) {
        if (ok) outLines++;
        else errLines++;
        await writeChunks((ok ? out : err).stream, [`${line}\n`]);
      }
    } catch (e) {
      await out.abort();
      await err.abort();
      throw e;
    }
    const files: { file: StoredFile; owner: string }[] = [];
    const register = async (file: typeof out, lines: number): Promise<string | null> => {
      if (lines === 0) {
        await file.abort();
        return null;
      }
      const stored = await file.commit("batch_output", outputExpiry, owner, false);
      files.push({ file: stored, owner });
      return stored.id;
    };
    batch.output_file_id = await register(out, outLines);
    batch.error_file_id = await register(err, errLines);
    if (stopped === "expired") {
      batch.status = "expired";
      batch.expired_at = now();
    } else if (stopped === "cancelled" || batch.status === "cancelling") {
      batch.status = "cancelled";
      batch.cancelled_at = now();
    } else {
      batch.status = "completed";
      batch.completed_at = now();
    }
    db.finishBatch(batch, files);
    for (const f of files) store.adopt(f.file, f.owner);
    log(`${batch.id}: ${batch.status} (${batch.request_counts.completed} completed, ${batch.request_counts.failed} failed of ${batch.request_counts.total})`);
  }

  function startBatch(batch: BatchObject): void {
    const task = execute(batch)
      .catch((e: unknown) => {
        if (shutdown.signal.aborted) return; // a hard stop: the batch stays as it was, for the next start
        batch.status = "failed";
        batch.failed_at = now();
        // The detail (it may name files of the data directory) goes to the log, not to the client.
        batch.errors = { object: "list", data: [{ code: "server_error", message: "The batch failed with an internal server error.", param: null, line: null }] };
        persist(batch);
        log(`${batch.id}: failed with an internal error: ${(e as Error).stack}`);
      })
      .finally(() => {
        running.delete(task);
        cancelRequested.delete(batch.id);
      });
    running.add(task);
  }

  // Everything the store holds comes back; unfinished batches continue in creation order.
  for (const row of db.batches<BatchObject>()) {
    batches.set(row.batch.id, row.batch);
    batchInfo.set(row.batch.id, { seq: row.seq, owner: row.owner, outputExpiry: row.outputExpiry });
  }
  await store.sweep(new Set([...batches.values()].filter((b) => UNFINISHED.has(b.status)).map((b) => b.input_file_id)));
  for (const batch of batches.values()) {
    if (!UNFINISHED.has(batch.status)) continue;
    stats.batchesResumed++;
    startBatch(batch);
  }
  if (stats.batchesResumed > 0) log(`resuming ${stats.batchesResumed} unfinished batch(es) from ${SERVE_DB}`);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/\/+$/, "");
    const method = req.method ?? "GET";
    let m: RegExpExecArray | null;

    if (path === "/health" && method === "GET") {
      const body = { status: drain.signal.aborted ? "stopping" : "ok", batches_running: running.size, upstream_in_flight: limiter.inFlight, upstream_queued: limiter.queued, upstream_limit: limiter.limit };
      return sendJson(res, drain.signal.aborted ? 503 : 200, body);
    }
    const owner = authenticate(req);
    const mine = owners.size > 0 ? owner : undefined; // which objects this caller may see (undefined: all)
    const batchOf = (id: string) => {
      const batch = batches.get(id);
      return batch && (mine === undefined || batchInfo.get(id)!.owner === mine) ? batch : undefined;
    };

    if (path === "/batchline/stats" && method === "GET") return sendJson(res, 200, stats);

    if (path === "/v1/files" && method === "POST") {
      // Streamed to disk as it arrives: an upload costs a few chunks of memory, whatever its size.
      const boundary = multipartBoundary(req.headers["content-type"]);
      if (!boundary) throw new HttpError(400, "Expected a multipart/form-data body with the fields file and purpose.");
      let upload: Awaited<ReturnType<FileStore["create"]>> | undefined;
      let form: Awaited<ReturnType<typeof readMultipart>>;
      try {
        form = await readMultipart(req as AsyncIterable<Buffer>, boundary, async (field, filename) => {
          if (field !== "file" || upload) throw new HttpError(400, `Unexpected file field '${field}'.`, field);
          upload = await store.create(filename || "upload.jsonl");
          return upload.stream;
        });
      } catch (e) {
        await upload?.abort();
        if (e instanceof HttpError) throw e;
        // A system error (disk full, ...) names files of the data directory: it is the server's, and stays in its log.
        if ((e as NodeJS.ErrnoException).code !== undefined) throw e;
        throw new HttpError(400, (e as Error).message);
      }
      let expiresAfter: number | null;
      try {
        const purpose = form.fields.purpose;
        if (!upload) throw missing("file");
        if (purpose === undefined) throw missing("purpose");
        if (!UPLOAD_PURPOSES.includes(purpose)) throw invalid("purpose", `Invalid value for 'purpose': '${purpose}'. Supported values are: ${UPLOAD_PURPOSES.map((p) => `'${p}'`).join(", ")}.`);
        const anchor = form.fields["expires_after[anchor]"];
        const seconds = form.fields["expires_after[seconds]"];
        expiresAfter = anchor === undefined && seconds === undefined ? (purpose === "batch" ? BATCH_FILE_EXPIRY_S : null) : expiryParam({ anchor, seconds }, "expires_after");
      } catch (e) {
        await upload?.abort();
        throw e;
      }
      const stored = await upload.commit(form.fields.purpose!, expiresAfter, owner);
      stats.uploads++;
      log(`upload ${stored.id} ${stored.filename} (${stored.bytes} bytes)`);
      return sendJson(res, 200, stored);
    }
    if (path === "/v1/files" && method === "GET") {
      const purpose = url.searchParams.get("purpose") ?? undefined;
      return sendJson(res, 200, page(store.list(purpose, mine), url, 10_000, 10_000, true));
    }
    if ((m = /^\/v1\/files\/([^/]+)\/content$/.exec(path)) && method === "GET") {
      const file = store.get(m[1]!, mine);
      if (!file) throw new HttpError(404, `No such File object: ${m[1]}`, "file_id");
      if (flaky(res)) return;
      stats.contentDownloads++;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": file.bytes });
      // pipeline closes the file when the response closes or fails (a client that aborts the
      // download), instead of leaving it open waiting for a `drain` that never comes.
      await pipeline(store.read(file.id), res).catch((e: unknown) => {
        if (!res.destroyed) throw e;
      });
      return;
    }
    if ((m = /^\/v1\/files\/([^/]+)$/.exec(path))) {
      const file = store.get(m[1]!, mine);
      if (!file) throw new HttpError(404, `No such File object: ${m[1]}`, "file_id");
      if (method === "GET") return sendJson(res, 200, file);
      if (method === "DELETE") {
        await store.delete(file.id);
        return sendJson(res, 200, { id: file.id, object: "file", deleted: true });
      }
    }
    if (path === "/v1/batches" && method === "POST") {
      if (drain.signal.aborted) throw new HttpError(503, "The server is shutting down and takes no new batches; retry against a running server.", null, "server_shutting_down");
      const body = await readJsonBody(req);
      const inputFileId = body.input_file_id;
      if (inputFileId === undefined || inputFileId === null) throw missing("input_file_id");
      if (typeof inputFileId !== "string") throw invalid("input_file_id", "Invalid 'input_file_id': expected a string.");
      if (body.endpoint === undefined) throw missing("endpoint");
      if (typeof body.endpoint !== "string" || !isBatchUrl(body.endpoint)) throw invalid("endpoint", `Invalid value for 'endpoint': '${String(body.endpoint)}'. Supported values are: ${BATCH_URLS.map((u) => `'${u}'`).join(", ")}.`);
      if (body.completion_window === undefined) throw missing("completion_window");
      if (body.completion_window !== "24h") throw invalid("completion_window", `Invalid value for 'completion_window': '${String(body.completion_window)}'. Supported values are: '24h'.`);
      const metadata = metadataParam(body.metadata);
      const outputExpiry = body.output_expires_after === undefined ? null : expiryParam(body.output_expires_after, "output_expires_after");
      const input = store.get(inputFileId, mine);
      if (!input) throw new HttpError(404, `No such File object: ${inputFileId}`, "input_file_id");
      if (input.purpose !== "batch") throw invalid("input_file_id", `File ${inputFileId} has purpose '${input.purpose}'; a batch's input file must be uploaded with purpose 'batch'.`);
      if (input.bytes > OPENAI_BATCH_LIMITS.maxBytes) throw new HttpError(400, `File is too large: ${input.bytes} bytes; a batch input file holds at most ${OPENAI_BATCH_LIMITS.maxBytes} bytes (200 MB).`, "input_file_id", "file_too_large");
      const created = now();
      const batch: BatchObject = {
        id: randomId("batch_"),
        object: "batch",
        endpoint: body.endpoint,
        model: null,
        errors: null,
        input_file_id: inputFileId,
        completion_window: "24h",
        status: "validating",
        output_file_id: null,
        error_file_id: null,
        created_at: created,
        in_progress_at: null,
        expires_at: created + 24 * 3600,
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
        request_counts: { total: 0, completed: 0, failed: 0 },
        usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
        metadata,
      };
      const seq = db.addBatch(batch, owner, outputExpiry);
      batches.set(batch.id, batch);
      batchInfo.set(batch.id, { seq, owner, outputExpiry });
      stats.batchesCreated++;
      log(`create ${batch.id} from ${inputFileId}`);
      startBatch(batch);
      return sendJson(res, 200, batch);
    }
    if (path === "/v1/batches" && method === "GET") {
      const all = [...batches.values()];
      return sendJson(res, 200, page(mine === undefined ? all : all.filter((b) => batchInfo.get(b.id)!.owner === mine), url, 100, 20, false));
    }
    if ((m = /^\/v1\/batches\/([^/]+)\/cancel$/.exec(path)) && method === "POST") {
      const batch = batchOf(m[1]!);
      if (!batch) throw new HttpError(404, `No such Batch object: ${m[1]}`, "batch_id");
      if (batch.status === "validating" || batch.status === "in_progress") {
        batch.status = "cancelling";
        batch.cancelling_at = now();
        persist(batch);
        cancelRequested.get(batch.id)?.abort();
      } else if (batch.status !== "cancelling") {
        throw new HttpError(400, `Cannot cancel a batch with status ${batch.status}.`);
      }
      return sendJson(res, 200, batch);
    }
    if ((m = /^\/v1\/batches\/([^/]+)$/.exec(path)) && method === "GET") {
      const batch = batchOf(m[1]!);
      if (!batch) throw new HttpError(404, `No such Batch object: ${m[1]}`, "batch_id");
      if (flaky(res)) return;
      stats.batchPolls++;
      return sendJson(res, 200, batch, faults.pollAfterMs !== undefined ? { "openai-poll-after-ms": String(faults.pollAfterMs) } : {});
    }
    throw new HttpError(404, `Invalid URL (${method} ${url.pathname})`);
  }

  /** The caller's owner digest ("" when the server has no keys); a 401 in OpenAI's shape otherwise. */
  function authenticate(req: IncomingMessage): string {
    if (owners.size === 0) return "";
    const header = req.headers.authorization ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      log(`401 ${req.method} ${req.url}: no Bearer key`);
      throw new HttpError(401, "You didn't provide an API key. Send it in an Authorization header as Bearer auth (Authorization: Bearer YOUR_KEY).");
    }
    const digest = ownerOf(m[1]!);
    for (const known of owners.keys()) if (timingSafeEqual(Buffer.from(known), Buffer.from(digest))) return known;
    log(`401 ${req.method} ${req.url}: unknown key`);
    throw new HttpError(401, "Incorrect API key provided.", null, "invalid_api_key");
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy();
      if (e instanceof HttpError) return sendError(res, e.status, e.message, {}, e.param, e.code);
      // The detail may name files of the data directory: it goes to the log, never to the client.
      log(`internal error: ${(e as Error).stack}`);
      sendError(res, 500, "The server had an error while processing your request.");
    });
  });
  server.listen(options.port ?? 0, options.host ?? "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;

  return {
    baseURL: `http://${options.host ?? "127.0.0.1"}:${port}/v1`,
    port,
    stats,
    batches,
    limiter,
    async close(closeOptions = {}) {
      drain.abort(new Error("server stopping"));
      if (closeOptions.graceMs !== undefined && running.size > 0) {
        log(`stopping: no new batches; waiting up to ${closeOptions.graceMs} ms for ${limiter.inFlight} line(s) in flight`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...running]), new Promise((r) => (timer = setTimeout(r, closeOptions.graceMs)))]);
        clearTimeout(timer);
      }
      shutdown.abort(new Error("server closing"));
      server.closeAllConnections();
      server.close();
      await Promise.allSettled([...running]);
      db.close();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
