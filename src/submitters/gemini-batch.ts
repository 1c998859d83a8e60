/**
 * Gemini Batch API backend (Gemini Developer API), on @google/genai. Each chunk's chat-completion
 * lines are translated (gemini-request.ts) to `{"key": custom_id, "request": GenerateContentRequest}`
 * lines in `<chunk>.gemini.jsonl`; a chunk under 20 MB goes inline in the create call, a larger
 * one is uploaded with the Files API's resumable protocol (`files.upload`, at most 2 GB) and
 * named by its file. Jobs are followed through JOB_STATE_PENDING/RUNNING to SUCCEEDED, FAILED,
 * CANCELLED or EXPIRED; their inlined responses or responses file come back as OpenAI Batch
 * output lines, matched by key.
 *
 * Creation is not idempotent on Gemini's side: every job carries the display name
 * `batchline-<chunk key>` (unique per run and chunk, and recorded in the state before the create
 * is sent), and a resumed run looks the job up by that name (`batches.list`) instead of creating
 * it again. Uploads are found the same way by their display name and size.
 *
 * Polling reads the batch operation through the SDK's own API client, because the SDK's
 * `BatchJob` drops `batchStats` (the request counts) and the operation's `error` (why a job failed).
 */
import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { ApiError, GoogleGenAI } from "@google/genai";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { GEMINI_BATCH_LIMITS } from "../core/chunking.ts";
import { BatchlineError } from "../core/errors.ts";
import { joinLines, readJsonlLines } from "../core/jsonl.ts";
import { randomId } from "../internal/ids.ts";
import { GeminiNotes, GeminiUntranslatableError, errorResponse, toChatCompletion, toGenerateContentRequest } from "./gemini-request.ts";
import type { BatchBackend, ChunkRef, RemoteStatus } from "./types.ts";

export const SUBMITTER_NAME = "gemini-batch";
/** The only endpoint this backend sends: GenerateContent is a chat API. */
export const GEMINI_BATCH_URL = "/v1/chat/completions";
/** Inline requests keep the whole create request under 20 MB (Gemini's batch guide); larger chunks are uploaded. */
export const GEMINI_INLINE_MAX_BYTES = 20_000_000;
/** The Files API takes files of at most 2 GB. */
export const GEMINI_FILE_MAX_BYTES = 2_000_000_000;
/** Google's Gemini Developer API endpoint. */
export const GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/";
/** The API version batch mode's REST reference documents. */
export const GEMINI_API_VERSION = "v1beta";
/** uploadId of a chunk sent inline (nothing was uploaded). */
const INLINE = "inline";

export interface GeminiBatchOptions {
  apiKey: string;
  /** The SDK's httpOptions.baseUrl (default Google's endpoint); tests point it at a local double. */
  baseURL?: string;
  /** Attempts per idempotent call (the SDK retries 408/429/5xx); creates are tried once. */
  maxAttempts?: number;
  timeoutMs?: number;
}

/** The BatchState names on the wire -> the JOB_STATE_* names the SDK and Google's guide use. */
function jobState(state: unknown): string {
  return String(state ?? "JOB_STATE_UNSPECIFIED").replace(/^BATCH_STATE_/, "JOB_STATE_");
}
const ENDED = new Set(["JOB_STATE_SUCCEEDED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"]);

type Json = Record<string, unknown>;
interface Operation {
  name?: string;
  done?: boolean;
  error?: { code?: number; message?: string; status?: string };
  metadata?: { state?: string; displayName?: string; createTime?: string; updateTime?: string; endTime?: string; batchStats?: Record<string, string | number>; output?: { responsesFile?: string; inlinedResponses?: { inlinedResponses?: Json[] } } };
}
/** The part of the SDK's API client used for the raw batch read. */
interface RawClient {
  request(request: { path: string; httpMethod: "GET"; abortSignal?: AbortSignal }): Promise<{ json(): Promise<unknown> }>;
}

/** The display name a chunk's job (and upload) carries: how an interrupted run finds them. */
export function displayNameFor(chunk: ChunkRef): string {
  return `batchline-${chunk.key}`;
}

function geminiPath(chunk: ChunkRef): string {
  return chunk.path.replace(/\.jsonl$/, "") + ".gemini.jsonl";
}

async function* chunkRequests(chunk: ChunkRef): AsyncGenerator<BatchRequest> {
  for await (const { text } of readJsonlLines(createReadStream(chunk.path, { highWaterMark: 1 << 20 }))) yield JSON.parse(text) as BatchRequest;
}

function outputLine(customId: string, response: Json | null, error: Json | null): string {
  return JSON.stringify({ id: randomId("batchline_req_"), custom_id: customId, response, error });
}

export default function geminiBatch(options: GeminiBatchOptions): BatchBackend {
  if (!options.apiKey) throw new BatchlineError(`[${SUBMITTER_NAME}] missing API key (set GEMINI_API_KEY or GOOGLE_API_KEY)`);
  const client = new GoogleGenAI({
    apiKey: options.apiKey,
    // Explicit, so that the SDK's own environment switches (GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GEMINI_BASE_URL) change nothing: the CLI reads env.
    vertexai: false,
    // Batch mode is documented on v1beta (the SDK's own default is v1).
    apiVersion: GEMINI_API_VERSION,
    httpOptions: {
      baseUrl: options.baseURL ?? GEMINI_DEFAULT_BASE_URL,
      timeout: options.timeoutMs ?? 10 * 60_000,
      retryOptions: { attempts: options.maxAttempts ?? 5 },
    },
  });
  const raw = (client as unknown as { apiClient: RawClient }).apiClient;
  const notes = new GeminiNotes();

  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError) throw new BatchlineError(`[${SUBMITTER_NAME}] ${what} failed: HTTP ${err.status}: ${err.message}`, { cause: err });
      if (err instanceof BatchlineError || (err as Error).name === "AbortError") throw err;
      throw new BatchlineError(`[${SUBMITTER_NAME}] ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  };

  /** Writes the chunk's Gemini JSONL (deterministic, so a resumed run writes the same bytes); returns its size. */
  async function translateChunk(chunk: ChunkRef): Promise<number> {
    async function* lines(): AsyncGenerator<string> {
      for await (const req of chunkRequests(chunk)) yield JSON.stringify({ key: req.custom_id, request: toGenerateContentRequest(req.body as Json) });
    }
    await writeFileAtomic(geminiPath(chunk), joinLines(lines()));
    return (await stat(geminiPath(chunk))).size;
  }

  async function getOperation(batchId: string, signal?: AbortSignal): Promise<Operation> {
    const id = batchId.replace(/^batches\//, "");
    const res = await raw.request({ path: `batches/${id}`, httpMethod: "GET", ...(signal ? { abortSignal: signal } : {}) });
    return (await res.json()) as Operation;
  }

  return {
    name: SUBMITTER_NAME,
    limits: GEMINI_BATCH_LIMITS,

    checkRequest(request) {
      if (request.url !== GEMINI_BATCH_URL) return `url ${request.url}: ${SUBMITTER_NAME} sends chat completions only (${GEMINI_BATCH_URL}); Gemini's batch mode takes GenerateContent requests`;
      try {
        toGenerateContentRequest(request.body as Json, notes);
      } catch (err) {
        if (err instanceof GeminiUntranslatableError) return `${SUBMITTER_NAME} cannot translate this request: ${err.message}`;
        throw err;
      }
      return undefined;
    },

    requestNotes() {
      return notes.lines();
    },

    upload(chunk, signal) {
      return wrap(`upload of ${chunk.label ?? chunk.key}`, async () => {
        const bytes = await translateChunk(chunk);
        if (bytes < GEMINI_INLINE_MAX_BYTES) return INLINE;
        if (bytes > GEMINI_FILE_MAX_BYTES) {
          throw new BatchlineError(`[${SUBMITTER_NAME}] ${chunk.label ?? chunk.key}: ${bytes} bytes in Gemini form, over the Files API's 2 GB; use a smaller --max-chunk-mb`);
        }
        const file = await client.files.upload({ file: geminiPath(chunk), config: { displayName: displayNameFor(chunk), mimeType: "jsonl", ...(signal ? { abortSignal: signal } : {}) } });
        if (!file.name) throw new BatchlineError(`[${SUBMITTER_NAME}] upload of ${chunk.label ?? chunk.key}: the API returned no file name`);
        return file.name;
      });
    },

    findUpload(chunk, signal) {
      return wrap(`listing files for ${chunk.label ?? chunk.key}`, async () => {
        const bytes = await translateChunk(chunk);
        if (bytes < GEMINI_INLINE_MAX_BYTES) return INLINE;
        const pager = await client.files.list({ config: { pageSize: 100, ...(signal ? { abortSignal: signal } : {}) } });
        for await (const file of pager) {
          if (file.displayName === displayNameFor(chunk) && Number(file.sizeBytes) === bytes && file.name) return file.name;
        }
        return undefined;
      });
    },

    create(chunk, uploadId, signal) {
      return wrap(`creating the batch of ${chunk.label ?? chunk.key}`, async () => {
        let src: string | Json[];
        if (uploadId === INLINE || uploadId === undefined) {
          src = [];
          for await (const { text } of readJsonlLines(createReadStream(geminiPath(chunk)))) {
            const { key, request } = JSON.parse(text) as { key: string; request: Json };
            const { contents, systemInstruction, generationConfig } = request as { contents: unknown; systemInstruction?: unknown; generationConfig?: Json };
            // The SDK's InlinedRequest form: generation settings and the system instruction under `config`.
            const config = { ...(generationConfig ?? {}), ...(systemInstruction ? { systemInstruction } : {}) };
            src.push({ contents, metadata: { key }, ...(Object.keys(config).length > 0 ? { config } : {}) });
          }
        } else {
          src = uploadId;
        }
        const job = await client.batches.create({
          model: chunk.model,
          src: src as never,
          // One attempt: a retried create could make a second job (the resume looks it up by display name instead).
          config: { displayName: displayNameFor(chunk), httpOptions: { retryOptions: { attempts: 1 } }, ...(signal ? { abortSignal: signal } : {}) },
        });
        if (!job.name) throw new BatchlineError(`[${SUBMITTER_NAME}] creating the batch of ${chunk.label ?? chunk.key}: the API returned no batch name`);
        return job.name;
      });
    },

    findBatch(chunk, _startedAt, signal) {
      return wrap(`listing batches for ${chunk.label ?? chunk.key}`, async () => {
        const pager = await client.batches.list({ config: { pageSize: 100, ...(signal ? { abortSignal: signal } : {}) } });
        for await (const job of pager) if (job.displayName === displayNameFor(chunk) && job.name) return job.name;
        return undefined;
      });
    },

    retrieve(batchId, signal) {
      return wrap(`polling batch ${batchId}`, async (): Promise<RemoteStatus> => {
        const op = await getOperation(batchId, signal);
        const state = jobState(op.metadata?.state);
        const s = op.metadata?.batchStats ?? {};
        const phase = state === "JOB_STATE_FAILED" ? "failed" : ENDED.has(state) ? "ended" : "running";
        const status: RemoteStatus = { status: state, phase, counts: { total: Number(s.requestCount ?? 0), completed: Number(s.successfulRequestCount ?? 0), failed: Number(s.failedRequestCount ?? 0) } };
        if (phase === "failed") status.errors = [{ line: null, code: op.error?.status ?? "JOB_STATE_FAILED", message: op.error?.message ?? "the batch failed (no reason given)" }];
        return status;
      });
    },

    async *results(batchId, chunk, signal) {
      const op = await wrap(`fetching batch ${batchId}`, () => getOperation(batchId, signal));
      const meta = op.metadata ?? {};
      const state = jobState(meta.state);
      const created = Math.floor(Date.parse(meta.endTime ?? meta.updateTime ?? meta.createTime ?? "") / 1000) || 0;
      const ids: string[] = [];
      const model = new Map<string, string>();
      for await (const req of chunkRequests(chunk)) {
        ids.push(req.custom_id);
        model.set(req.custom_id, req.body.model);
      }
      const seen = new Set<string>();
      const line = (key: string, item: Json): string => {
        seen.add(key);
        if (item.response && typeof item.response === "object") {
          const body = toChatCompletion(item.response as Json, model.get(key) ?? chunk.model, created);
          return outputLine(key, { status_code: 200, request_id: body.id, body }, null);
        }
        const status = (item.error ?? item.status ?? { code: 2, message: "no response and no error for this request" }) as Json;
        return outputLine(key, errorResponse(status, randomId("req_")), null);
      };
      const output = meta.output ?? {};
      if (output.responsesFile) {
        const downloadPath = `${geminiPath(chunk)}.results`;
        await wrap(`downloading ${output.responsesFile}`, () => client.files.download({ file: output.responsesFile!, downloadPath, ...(signal ? { config: { abortSignal: signal } } : {}) }));
        try {
          let n = 0;
          for await (const { text } of readJsonlLines(createReadStream(downloadPath))) {
            n++;
            let item: Json;
            try {
              item = JSON.parse(text) as Json;
            } catch {
              throw new BatchlineError(`[${SUBMITTER_NAME}] ${output.responsesFile}, line ${n}: not valid JSON`);
            }
            // Lines carry the key they were sent with; the guide also promises input order.
            const key = typeof item.key === "string" ? item.key : ids[n - 1];
            if (key !== undefined) yield line(key, item);
          }
        } finally {
          await rm(downloadPath, { force: true });
        }
      } else {
        const items = output.inlinedResponses?.inlinedResponses ?? [];
        for (const [i, item] of items.entries()) {
          const meta = item.metadata as { key?: unknown } | undefined;
          const key = typeof meta?.key === "string" ? meta.key : ids[i];
          if (key !== undefined) yield line(key, item);
        }
      }
      // Requests a cancelled or expired job never ran.
      const code = state === "JOB_STATE_CANCELLED" ? "batch_cancelled" : state === "JOB_STATE_EXPIRED" ? "batch_expired" : undefined;
      if (code) {
        const message = code === "batch_cancelled" ? "The batch was cancelled before this request ran." : "This request did not run before the batch expired.";
        for (const id of ids) if (!seen.has(id)) yield outputLine(id, null, { code, message });
      }
    },

    async cancel(batchId, signal) {
      await wrap(`cancelling batch ${batchId}`, () => client.batches.cancel({ name: batchId, ...(signal ? { config: { abortSignal: signal } } : {}) }));
    },
  };
}
