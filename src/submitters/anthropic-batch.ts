/**
 * Anthropic Message Batches backend, on @anthropic-ai/sdk. Chat-completion bodies are translated
 * to Messages params for the anthropic-version in use (anthropic-request.ts) and results back to
 * OpenAI Batch output lines (text, reasoning, tool calls, usage with cache writes and thinking
 * tokens), so every stage reads one format. custom_ids outside `^[a-zA-Z0-9_-]{1,64}$` are sent
 * as a stable hash and mapped back. A line that has no Anthropic form is not sent: it comes back
 * as a failure record naming what could not be translated. Results are read with our own JSONL
 * reader over the response stream (the SDK's line decoder is quadratic in line length).
 * Batches carry no metadata, so a create interrupted before its id was saved is found again by
 * its request count and creation time (the only batch in that window with that count).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import { AnthropicBatchResult, type AnthropicMessage } from "../../schemas/anthropic-batch-result.ts";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import { ANTHROPIC_BATCH_LIMITS } from "../core/chunking.ts";
import { BatchlineError } from "../core/errors.ts";
import { readJsonlLines } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { randomId } from "../internal/ids.ts";
import { ANTHROPIC_API_VERSION, ANTHROPIC_API_VERSIONS, TranslationReport, UntranslatableError, toMessagesParams } from "./anthropic-request.ts";
import type { BatchBackend, ChunkRef, RemoteStatus } from "./types.ts";

export const SUBMITTER_NAME = "anthropic-batch";
/** The only endpoint this backend can send: Messages is a chat API. */
export const ANTHROPIC_BATCH_URL = "/v1/chat/completions";

export interface AnthropicBatchOptions {
  apiKey: string;
  baseURL?: string;
  maxRetries?: number;
  timeoutMs?: number;
  /** max_tokens when a request sets none (Messages requires one). */
  defaultMaxTokens?: number;
  /** anthropic-version header, and the rules the translation follows (default ANTHROPIC_API_VERSION). */
  anthropicVersion?: string;
}

const VALID_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** Batch id of a chunk none of whose lines could be sent: nothing is created, every line is a failure record. */
const UNSENT = "unsent_";

/** The id sent to Anthropic for a custom_id: itself when allowed, else `h_` + 40 hex of its SHA-256. */
export function anthropicId(customId: string): string {
  return VALID_ID.test(customId) ? customId : `h_${createHash("sha256").update(customId).digest("hex").slice(0, 40)}`;
}

const FINISH: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  // Both end an answer early (context full, or a server tool loop paused): incomplete, so `retry` sees them.
  model_context_window_exceeded: "length",
  pause_turn: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};
const ERROR_STATUS: Record<string, number> = { invalid_request_error: 400, authentication_error: 401, billing_error: 402, permission_error: 403, not_found_error: 404, request_too_large: 413, rate_limit_error: 429, api_error: 500, timeout_error: 504, overloaded_error: 529 };

/** A Messages answer as an OpenAI chat.completion body; `created` is the batch's end time (unix seconds). */
export function toChatCompletion(message: AnthropicMessage, created = 0): Record<string, unknown> {
  const text = message.content.filter((c) => c.type === "text").map((c) => c.text ?? "").join("");
  const reasoning = message.content.filter((c) => c.type === "thinking").map((c) => c.thinking ?? "").join("");
  const toolCalls = message.content
    .filter((c) => c.type === "tool_use")
    .map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.input ?? {}) } }));
  const u = message.usage;
  const cacheWrite = u.cache_creation_input_tokens ?? 0;
  const cacheRead = u.cache_read_input_tokens ?? 0;
  const prompt = u.input_tokens + cacheWrite + cacheRead;
  const chatMessage: Record<string, unknown> = { role: "assistant", content: text === "" && toolCalls.length > 0 ? null : text };
  if (reasoning) chatMessage.reasoning_content = reasoning;
  if (toolCalls.length > 0) chatMessage.tool_calls = toolCalls;
  return {
    id: message.id,
    object: "chat.completion",
    created,
    model: message.model,
    choices: [{ index: 0, message: chatMessage, finish_reason: FINISH[message.stop_reason ?? ""] ?? "stop" }],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: u.output_tokens,
      total_tokens: prompt + u.output_tokens,
      prompt_tokens_details: { cached_tokens: cacheRead },
      completion_tokens_details: { reasoning_tokens: u.output_tokens_details?.thinking_tokens ?? 0 },
      // Kept apart so cost counts cache writes and reads at their own rates.
      cache_creation_input_tokens: cacheWrite,
      cache_read_input_tokens: cacheRead,
    },
  };
}

/** One Anthropic result line -> one OpenAI Batch output line (object). */
export function toOutputLine(result: AnthropicBatchResult, customId: string, created = 0): Record<string, unknown> {
  const r = result.result;
  const id = randomId("batchline_req_");
  if (r.type === "succeeded") return { id, custom_id: customId, response: { status_code: 200, request_id: r.message.id, body: toChatCompletion(r.message, created) }, error: null };
  if (r.type === "errored") {
    const e = r.error.error;
    return { id, custom_id: customId, response: { status_code: ERROR_STATUS[e.type] ?? 500, request_id: r.error.request_id ?? randomId("req_"), body: { error: { message: e.message, type: e.type, param: null, code: null } } }, error: null };
  }
  if (r.type === "canceled") return { id, custom_id: customId, response: null, error: { code: "batch_cancelled", message: "The batch was cancelled before this request ran." } };
  return { id, custom_id: customId, response: null, error: { code: "batch_expired", message: "This request could not be executed before the batch expired (24 h)." } };
}

/** The failure record of a line that was not sent because it has no Anthropic form. */
export function untranslatableLine(customId: string, reason: string): Record<string, unknown> {
  return { id: `batchline_untranslatable`, custom_id: customId, response: null, error: { code: "invalid_request_error", message: `[${SUBMITTER_NAME}] not sent: ${reason}` } };
}

async function* chunkRequests(chunk: ChunkRef): AsyncGenerator<BatchRequest> {
  for await (const { text } of readJsonlLines(createReadStream(chunk.path, { highWaterMark: 1 << 20 }))) yield JSON.parse(text) as BatchRequest;
}

export default function anthropicBatch(options: AnthropicBatchOptions): BatchBackend {
  if (!options.apiKey) throw new BatchlineError(`[${SUBMITTER_NAME}] missing API key (set ANTHROPIC_API_KEY)`);
  const version = options.anthropicVersion ?? ANTHROPIC_API_VERSION;
  if (!(ANTHROPIC_API_VERSIONS as readonly string[]).includes(version)) {
    throw new BatchlineError(`[${SUBMITTER_NAME}] unknown anthropic-version ${version}; batchline translates requests for ${ANTHROPIC_API_VERSIONS.join(" and ")}`);
  }
  const client = new Anthropic({
    apiKey: options.apiKey,
    ...(options.baseURL ? { baseURL: options.baseURL } : {}),
    maxRetries: options.maxRetries ?? 5,
    timeout: options.timeoutMs ?? 10 * 60_000,
    defaultHeaders: { "anthropic-version": version },
  });
  const translate = (req: BatchRequest, report?: TranslationReport) =>
    toMessagesParams(req.body as Record<string, unknown>, { version, ...(options.defaultMaxTokens ? { defaultMaxTokens: options.defaultMaxTokens } : {}), ...(report ? { report } : {}) });
  const report = new TranslationReport();
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Anthropic.APIError) throw new BatchlineError(`[${SUBMITTER_NAME}] ${what} failed: ${err.message}`, { cause: err });
      throw err;
    }
  };
  const opts = (signal?: AbortSignal) => (signal ? { signal } : {});

  return {
    name: SUBMITTER_NAME,
    limits: ANTHROPIC_BATCH_LIMITS,

    checkRequest(request) {
      if (request.url !== ANTHROPIC_BATCH_URL) return `url ${request.url}: ${SUBMITTER_NAME} sends chat completions only (${ANTHROPIC_BATCH_URL}); Anthropic has no batch form for this endpoint`;
      try {
        translate(request, report);
      } catch (err) {
        if (!(err instanceof UntranslatableError)) throw err;
        report.untranslatable++;
        report.firstUntranslatable ??= `custom_id=${request.custom_id}: ${err.message}`;
      }
      return undefined;
    },

    requestNotes() {
      return report.lines(version);
    },

    create(chunk, _uploadId, signal) {
      return wrap(`creating the batch of ${chunk.label ?? chunk.key}`, async () => {
        const requests: { custom_id: string; params: Record<string, unknown> }[] = [];
        const seen = new Map<string, string>();
        for await (const req of chunkRequests(chunk)) {
          const id = anthropicId(req.custom_id);
          const other = seen.get(id);
          if (other !== undefined) throw new BatchlineError(`[${SUBMITTER_NAME}] custom_ids ${other} and ${req.custom_id} map to the same Anthropic id ${id}`);
          seen.set(id, req.custom_id);
          try {
            requests.push({ custom_id: id, params: translate(req) });
          } catch (err) {
            if (!(err instanceof UntranslatableError)) throw err; // results() writes its failure record
          }
        }
        if (requests.length === 0) return `${UNSENT}${chunk.key}`;
        const batch = await client.messages.batches.create({ requests } as unknown as Anthropic.Messages.BatchCreateParams, opts(signal));
        return batch.id;
      });
    },

    findBatch(chunk, startedAt, signal) {
      return wrap(`listing batches for ${chunk.label ?? chunk.key}`, async () => {
        if (startedAt === undefined) return undefined;
        const matches: string[] = [];
        for await (const batch of client.messages.batches.list({ limit: 100 }, opts(signal))) {
          const created = Date.parse(batch.created_at);
          if (created < startedAt - 60_000) break; // newest first: older ones cannot be ours
          const c = batch.request_counts;
          if (created <= startedAt + 15 * 60_000 && c.processing + c.succeeded + c.errored + c.canceled + c.expired === chunk.lines) matches.push(batch.id);
        }
        return matches.length === 1 ? matches[0] : undefined;
      });
    },

    retrieve(batchId, signal) {
      if (batchId.startsWith(UNSENT)) return Promise.resolve({ status: "not sent", phase: "ended", counts: { total: 0, completed: 0, failed: 0 } });
      return wrap(`polling batch ${batchId}`, async (): Promise<RemoteStatus> => {
        const b = await client.messages.batches.retrieve(batchId, {}, opts(signal));
        const c = b.request_counts;
        return {
          status: b.processing_status,
          phase: b.processing_status === "ended" ? "ended" : "running",
          counts: { total: c.processing + c.succeeded + c.errored + c.canceled + c.expired, completed: c.succeeded, failed: c.errored + c.canceled + c.expired },
        };
      });
    },

    async *results(batchId, chunk, signal) {
      const back = new Map<string, string>();
      for await (const req of chunkRequests(chunk)) {
        back.set(anthropicId(req.custom_id), req.custom_id);
        try {
          translate(req);
        } catch (err) {
          if (!(err instanceof UntranslatableError)) throw err;
          yield JSON.stringify(untranslatableLine(req.custom_id, err.message));
        }
      }
      if (batchId.startsWith(UNSENT)) return;
      const batch = await wrap(`polling batch ${batchId}`, () => client.messages.batches.retrieve(batchId, {}, opts(signal)));
      const created = Math.floor(Date.parse(batch.ended_at ?? batch.created_at) / 1000);
      // The raw response, read by our own JSONL reader: the SDK's decoder re-scans a growing buffer per chunk.
      const url = batch.results_url;
      if (!url) throw new BatchlineError(`[${SUBMITTER_NAME}] batch ${batchId} has ended without a results_url`);
      const res = await wrap(`downloading the results of ${batchId}`, () => client.get<Response>(url, { ...opts(signal), headers: { Accept: "application/binary" }, stream: true, __binaryResponse: true }).asResponse());
      if (!res.body) throw new BatchlineError(`[${SUBMITTER_NAME}] results of ${batchId}: empty response`);
      let n = 0;
      for await (const { text } of readJsonlLines(res.body as unknown as AsyncIterable<Uint8Array>)) {
        n++;
        let raw: unknown;
        try {
          raw = JSON.parse(text);
        } catch {
          throw new BatchlineError(`[${SUBMITTER_NAME}] results of ${batchId}, line ${n}: not valid JSON`);
        }
        const parsed = AnthropicBatchResult.safeParse(raw);
        if (!parsed.success) {
          const detail = flattenIssues(parsed.error).map((i) => `${i.message} at ${i.path}`).join("; ");
          throw new BatchlineError(`[${SUBMITTER_NAME}] results of ${batchId}, line ${n}: not a valid result line: ${detail}`);
        }
        const customId = back.get(parsed.data.custom_id) ?? parsed.data.custom_id;
        yield JSON.stringify(toOutputLine(parsed.data, customId, created));
      }
    },

    async cancel(batchId, signal) {
      if (batchId.startsWith(UNSENT)) return;
      await wrap(`cancelling batch ${batchId}`, () => client.messages.batches.cancel(batchId, {}, opts(signal)));
    },
  };
}
