/**
 * `batchline serve`: the OpenAI Files and Batches routes on 127.0.0.1, executing each batch
 * through an `Executor` (an upstream chat server or a replay file) with a concurrency limit.
 * Status goes validating -> in_progress -> finalizing -> completed (or failed / expired /
 * cancelling -> cancelled), with request_counts, output and error files as OpenAI documents them.
 * Input files are streamed twice (validate, execute), never held in memory.
 */
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
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
import { FileStore } from "./file-store.ts";
import { multipartBoundary, readMultipart } from "./multipart.ts";

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
}

export interface BatchServerOptions {
  executor: Executor;
  /** Lines in flight at once in each batch. */
  concurrency?: number;
  faults?: Faults;
  /** Where files live; a temp directory (removed on close) by default. */
  dataDir?: string;
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
  close(): Promise<void>;
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

function shuffleInPlace<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/** Starts the server on 127.0.0.1 (port 0 by default: the OS picks one). */
export async function startBatchServer(options: BatchServerOptions): Promise<BatchServer> {
  const faults = options.faults ?? {};
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "batchline-serve-")));
  const store = new FileStore(dataDir);
  await store.init();
  const batches = new Map<string, BatchObject>();
  const cancelRequested = new Map<string, AbortController>(); // batch id -> aborts its waits
  const running = new Set<Promise<void>>();
  const shutdown = new AbortController();
  const stats: ServerStats = { uploads: 0, batchesCreated: 0, batchPolls: 0, contentDownloads: 0, linesExecuted: 0, faultsInjected: 0 };
  const log = options.log ?? (() => {});
  const concurrency = options.concurrency ?? 16;
  let flakyCounter = 0;
  const lineFailures = new Map<string, number>(); // custom_id -> times a line-error rule answered it
  const enqueued = new Map<string, number>(); // model -> input tokens of its batches in progress

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

  /** Runs a batch; its input file stays readable until the batch ends, even if it is deleted meanwhile. */
  async function execute(batch: BatchObject, outputExpiry: number | null): Promise<void> {
    const release = store.pin(batch.input_file_id);
    try {
      await executePinned(batch, outputExpiry);
    } finally {
      await release();
    }
  }

  async function executePinned(batch: BatchObject, outputExpiry: number | null): Promise<void> {
    const delay = faults.stepDelayMs ?? 0;
    const cancelled = new AbortController();
    cancelRequested.set(batch.id, cancelled);
    /** Waits, but a cancel ends the wait early (a shutdown still throws). */
    const pause = (ms: number) =>
      sleep(ms, AbortSignal.any([shutdown.signal, cancelled.signal])).catch((e: unknown) => {
        if (shutdown.signal.aborted) throw e;
      });
    const isCancelled = () => cancelled.signal.aborted;
    await pause(delay);
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
      log(`${batch.id}: failed (${batch.errors.data[0]!.code})`);
      return;
    }
    enqueued.set(model ?? "", enqueuedBefore + tokens);
    try {
      await run(batch, total, outputExpiry, delay, pause, isCancelled);
    } finally {
      enqueued.set(model ?? "", (enqueued.get(model ?? "") ?? tokens) - tokens);
    }
  }

  async function run(batch: BatchObject, total: number, outputExpiry: number | null, delay: number, pause: (ms: number) => Promise<void>, isCancelled: () => boolean): Promise<void> {
    if (!isCancelled()) {
      batch.status = "in_progress";
      batch.in_progress_at = now();
    }
    batch.request_counts.total = total;

    const out = await openAtomic(join(dataDir, `${batch.id}.output.tmp`));
    const err = await openAtomic(join(dataDir, `${batch.id}.errors.tmp`));
    let outLines = 0;
    let errLines = 0;
    const done = new Set<string>();
    let answered = 0; // counted as answers arrive, before they are written (the expiry fault reads it)
    let stopped: "expired" | "cancelled" | undefined;
    const started = Date.now();

    const writeAnswer = async (customId: string, answer: LineAnswer) => {
      const line = JSON.stringify({ id: randomId("batch_req_"), custom_id: customId, response: answer.response, error: answer.error }) + "\n";
      const ok = answer.response !== null && answer.response.status_code === 200;
      if (ok) {
        outLines++;
        batch.request_counts.completed++;
        addUsage(batch.usage, answer.response!.body);
        await writeChunks(out.stream, [line]);
      } else {
        errLines++;
        batch.request_counts.failed++;
        await writeChunks(err.stream, [line]);
      }
    };

    async function* requests(): AsyncGenerator<BatchRequest> {
      for await (const { text } of readJsonlLines(store.read(batch.input_file_id))) {
        if (isCancelled()) {
          stopped = "cancelled";
          return;
        }
        if (faults.expireAfterLines !== undefined && answered >= faults.expireAfterLines) {
          stopped = "expired";
          return;
        }
        yield JSON.parse(text) as BatchRequest;
      }
    }

    const answerOne = async (request: BatchRequest): Promise<[string, LineAnswer]> => {
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
    };

    try {
      for await (const [customId, answer] of mapConcurrent(requests(), concurrency, answerOne)) {
        done.add(customId);
        await writeAnswer(customId, answer);
      }
      if (Date.now() - started < delay) await pause(delay - (Date.now() - started));
      if (isCancelled()) stopped = "cancelled";
      if (stopped) {
        const code = stopped === "expired" ? "batch_expired" : "batch_cancelled";
        const message = stopped === "expired" ? "This request could not be executed before the completion window expired." : "This request was not executed because the batch was cancelled.";
        for await (const { text } of readJsonlLines(store.read(batch.input_file_id))) {
          const customId = (JSON.parse(text) as BatchRequest).custom_id;
          if (!done.has(customId)) await writeAnswer(customId, { response: null, error: { code, message } });
        }
      } else {
        batch.status = "finalizing";
        batch.finalizing_at = now();
        await pause(delay);
      }
      await out.commit();
      await err.commit();
    } catch (e) {
      await out.abort();
      await err.abort();
      throw e;
    }

    const register = async (tmpPath: string, lines: number, name: string): Promise<string | null> => {
      if (lines === 0) return null;
      let content: string | AsyncIterable<Uint8Array> = createReadStream(tmpPath);
      if (faults.shuffle) {
        const all = (await readFile(tmpPath, "utf8")).split("\n").filter(Boolean);
        shuffleInPlace(all);
        content = all.join("\n") + "\n";
      }
      const file = await store.put(name, "batch_output", content, outputExpiry);
      await rm(tmpPath, { force: true });
      return file.id;
    };
    batch.output_file_id = await register(out.path, outLines, `${batch.id}_output.jsonl`);
    batch.error_file_id = await register(err.path, errLines, `${batch.id}_error.jsonl`);
    if (stopped === "expired") {
      batch.status = "expired";
      batch.expired_at = now();
    } else if (stopped === "cancelled") {
      batch.status = "cancelled";
      batch.cancelled_at = now();
    } else {
      batch.status = "completed";
      batch.completed_at = now();
    }
    log(`${batch.id}: ${batch.status} (${batch.request_counts.completed} completed, ${batch.request_counts.failed} failed of ${batch.request_counts.total})`);
  }

  function startBatch(batch: BatchObject, outputExpiry: number | null): void {
    const task = execute(batch, outputExpiry)
      .catch((e: unknown) => {
        if (shutdown.signal.aborted) return;
        batch.status = "failed";
        batch.failed_at = now();
        // The detail (it may name files of the data directory) goes to the log, not to the client.
        batch.errors = { object: "list", data: [{ code: "server_error", message: "The batch failed with an internal server error.", param: null, line: null }] };
        log(`${batch.id}: failed with an internal error: ${(e as Error).stack}`);
      })
      .finally(() => running.delete(task));
    running.add(task);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/\/+$/, "");
    const method = req.method ?? "GET";
    let m: RegExpExecArray | null;

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
      const stored = await upload.commit(form.fields.purpose!, expiresAfter);
      stats.uploads++;
      log(`upload ${stored.id} ${stored.filename} (${stored.bytes} bytes)`);
      return sendJson(res, 200, stored);
    }
    if (path === "/v1/files" && method === "GET") {
      const purpose = url.searchParams.get("purpose") ?? undefined;
      return sendJson(res, 200, page(store.list(purpose), url, 10_000, 10_000, true));
    }
    if ((m = /^\/v1\/files\/([^/]+)\/content$/.exec(path)) && method === "GET") {
      const file = store.get(m[1]!);
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
      const file = store.get(m[1]!);
      if (!file) throw new HttpError(404, `No such File object: ${m[1]}`, "file_id");
      if (method === "GET") return sendJson(res, 200, file);
      if (method === "DELETE") {
        await store.delete(file.id);
        return sendJson(res, 200, { id: file.id, object: "file", deleted: true });
      }
    }
    if (path === "/v1/batches" && method === "POST") {
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
      const input = store.get(inputFileId);
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
      batches.set(batch.id, batch);
      stats.batchesCreated++;
      log(`create ${batch.id} from ${inputFileId}`);
      startBatch(batch, outputExpiry);
      return sendJson(res, 200, batch);
    }
    if (path === "/v1/batches" && method === "GET") {
      return sendJson(res, 200, page([...batches.values()], url, 100, 20, false));
    }
    if ((m = /^\/v1\/batches\/([^/]+)\/cancel$/.exec(path)) && method === "POST") {
      const batch = batches.get(m[1]!);
      if (!batch) throw new HttpError(404, `No such Batch object: ${m[1]}`, "batch_id");
      if (batch.status === "validating" || batch.status === "in_progress") {
        batch.status = "cancelling";
        batch.cancelling_at = now();
        cancelRequested.get(batch.id)?.abort();
      } else if (batch.status !== "cancelling") {
        throw new HttpError(400, `Cannot cancel a batch with status ${batch.status}.`);
      }
      return sendJson(res, 200, batch);
    }
    if ((m = /^\/v1\/batches\/([^/]+)$/.exec(path)) && method === "GET") {
      const batch = batches.get(m[1]!);
      if (!batch) throw new HttpError(404, `No such Batch object: ${m[1]}`, "batch_id");
      if (flaky(res)) return;
      stats.batchPolls++;
      return sendJson(res, 200, batch, faults.pollAfterMs !== undefined ? { "openai-poll-after-ms": String(faults.pollAfterMs) } : {});
    }
    throw new HttpError(404, `Invalid URL (${method} ${url.pathname})`);
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
    async close() {
      shutdown.abort(new Error("server closing"));
      server.closeAllConnections();
      server.close();
      await Promise.allSettled([...running]);
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
