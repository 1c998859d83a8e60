/**
 * Anthropic Message Batches backend, on @anthropic-ai/sdk. Chat-completion request bodies are
 * translated to Messages params (system messages, max_tokens, temperature, top_p, stop, thinking
 * budget) and results back to OpenAI Batch output lines with usage, so every stage reads one
 * format. custom_ids outside `^[a-zA-Z0-9_-]{1,64}$` are sent as a stable hash and mapped back.
 * Batches carry no metadata, so a create interrupted before its id was saved is found again by
 * its request count and creation time (the only batch in that window with that count).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import { AnthropicBatchResult, type AnthropicMessage } from "../../schemas/anthropic-batch-result.ts";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import { ANTHROPIC_BATCH_LIMITS } from "../core/chunking.ts";
import { BatchlineError, apiErrorText } from "../core/errors.ts";
import { readJsonlLines } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { randomId } from "../internal/ids.ts";
import type { BatchBackend, ChunkRef, RemoteStatus } from "./types.ts";

export const SUBMITTER_NAME = "anthropic-batch";

export interface AnthropicBatchOptions {
  apiKey: string;
  baseURL?: string;
  maxRetries?: number;
  timeoutMs?: number;
  /** max_tokens when a request sets none (Messages requires one). */
  defaultMaxTokens?: number;
}

const VALID_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/** The id sent to Anthropic for a custom_id: itself when allowed, else `h_` + 40 hex of its SHA-256. */
export function anthropicId(customId: string): string {
  return VALID_ID.test(customId) ? customId : `h_${createHash("sha256").update(customId).digest("hex").slice(0, 40)}`;
}

type ChatMessage = { role: string; content: unknown };
type ContentPart = { type?: string; text?: string; image_url?: { url?: string } | string };

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return (content as ContentPart[]).map((p) => (typeof p?.text === "string" ? p.text : "")).join("");
  return "";
}

function toAnthropicContent(content: unknown): string | Record<string, unknown>[] {
  if (!Array.isArray(content)) return textOf(content);
  return (content as ContentPart[]).map((p) => {
    if (p.type === "image_url") {
      const url = typeof p.image_url === "string" ? p.image_url : (p.image_url?.url ?? "");
      const m = /^data:([^;]+);base64,(.*)$/s.exec(url);
      return m ? { type: "image", source: { type: "base64", media_type: m[1], data: m[2] } } : { type: "image", source: { type: "url", url } };
    }
    return { type: "text", text: p.text ?? "" };
  });
}

/** Chat-completion body -> Messages params. Temperature is capped at 1 (Anthropic's range); thinking needs it unset. */
export function toMessagesParams(body: BatchRequest["body"], defaultMaxTokens = 4096): Record<string, unknown> {
  const b = body as Record<string, unknown> & { messages?: ChatMessage[] };
  const messages = b.messages ?? [];
  const system = messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => textOf(m.content)).filter(Boolean).join("\n\n");
  const rest = messages.filter((m) => m.role !== "system" && m.role !== "developer").map((m) => ({ role: m.role === "assistant" ? "assistant" : "user", content: toAnthropicContent(m.content) }));
  const maxTokens = Number(b.max_tokens ?? b.max_completion_tokens ?? defaultMaxTokens);
  const params: Record<string, unknown> = { model: b.model, max_tokens: maxTokens, messages: rest };
  if (system) params.system = system;
  const thinkingBudget = b.thinking_budget !== undefined ? Number(b.thinking_budget) : undefined;
  const thinking = b.enable_thinking === true || (b.enable_thinking === undefined && thinkingBudget !== undefined);
  if (thinking) {
    // The budget must be >= 1024 and below max_tokens.
    params.thinking = { type: "enabled", budget_tokens: Math.max(1024, Math.min(thinkingBudget ?? 16_000, maxTokens - 1)) };
  } else {
    if (typeof b.temperature === "number") params.temperature = Math.min(b.temperature, 1);
    if (typeof b.top_p === "number") params.top_p = b.top_p;
  }
  if (b.stop !== undefined && b.stop !== null) params.stop_sequences = Array.isArray(b.stop) ? b.stop : [b.stop];
  return params;
}

const FINISH: Record<string, string> = { end_turn: "stop", stop_sequence: "stop", max_tokens: "length", tool_use: "tool_calls", pause_turn: "stop", refusal: "content_filter" };
const ERROR_STATUS: Record<string, number> = { invalid_request_error: 400, authentication_error: 401, billing_error: 402, permission_error: 403, not_found_error: 404, request_too_large: 413, rate_limit_error: 429, api_error: 500, timeout_error: 504, overloaded_error: 529 };

/** A Messages answer as an OpenAI chat.completion body. */
export function toChatCompletion(message: AnthropicMessage): Record<string, unknown> {
  const text = message.content.filter((c) => c.type === "text").map((c) => c.text ?? "").join("");
  const reasoning = message.content.filter((c) => c.type === "thinking").map((c) => c.thinking ?? "").join("");
  const u = message.usage;
  const prompt = u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
  return {
    id: message.id,
    object: "chat.completion",
    created: 0,
    model: message.model,
    choices: [{ index: 0, message: { role: "assistant", content: text, ...(reasoning ? { reasoning_content: reasoning } : {}) }, finish_reason: FINISH[message.stop_reason ?? ""] ?? "stop" }],
    usage: { prompt_tokens: prompt, completion_tokens: u.output_tokens, total_tokens: prompt + u.output_tokens, prompt_tokens_details: { cached_tokens: u.cache_read_input_tokens ?? 0 } },
  };
}

/** One Anthropic result line -> one OpenAI Batch output line (object). */
export function toOutputLine(result: AnthropicBatchResult, customId: string): Record<string, unknown> {
  const r = result.result;
  const id = randomId("batchline_req_");
  if (r.type === "succeeded") return { id, custom_id: customId, response: { status_code: 200, request_id: r.message.id, body: toChatCompletion(r.message) }, error: null };
  if (r.type === "errored") {
    const e = r.error.error;
    return { id, custom_id: customId, response: { status_code: ERROR_STATUS[e.type] ?? 500, request_id: r.error.request_id ?? randomId("req_"), body: { error: { message: e.message, type: e.type, param: null, code: null } } }, error: null };
  }
  if (r.type === "canceled") return { id, custom_id: customId, response: null, error: { code: "batch_cancelled", message: "The batch was cancelled before this request ran." } };
  return { id, custom_id: customId, response: null, error: { code: "batch_expired", message: "This request could not be executed before the batch expired (24 h)." } };
}

async function* chunkRequests(chunk: ChunkRef): AsyncGenerator<BatchRequest> {
  for await (const { text } of readJsonlLines(createReadStream(chunk.path, { highWaterMark: 1 << 20 }))) yield JSON.parse(text) as BatchRequest;
}

export default function anthropicBatch(options: AnthropicBatchOptions): BatchBackend {
  if (!options.apiKey) throw new BatchlineError(`[${SUBMITTER_NAME}] missing API key (set ANTHROPIC_API_KEY)`);
  const client = new Anthropic({ apiKey: options.apiKey, ...(options.baseURL ? { baseURL: options.baseURL } : {}), maxRetries: options.maxRetries ?? 5, timeout: options.timeoutMs ?? 10 * 60_000 });
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Anthropic.APIError) throw new BatchlineError(`[${SUBMITTER_NAME}] ${what} failed: ${apiErrorText(err.status, err.message)}`, { cause: err });
      throw err;
    }
  };
  const opts = (signal?: AbortSignal) => (signal ? { signal } : {});

  return {
    name: SUBMITTER_NAME,
    limits: ANTHROPIC_BATCH_LIMITS,

    create(chunk, _uploadId, signal) {
      return wrap(`creating the batch of ${chunk.key}`, async () => {
        const requests: { custom_id: string; params: Record<string, unknown> }[] = [];
        const seen = new Map<string, string>();
        for await (const req of chunkRequests(chunk)) {
          const id = anthropicId(req.custom_id);
          const other = seen.get(id);
          if (other !== undefined) throw new BatchlineError(`[${SUBMITTER_NAME}] custom_ids ${other} and ${req.custom_id} map to the same Anthropic id ${id}`);
          seen.set(id, req.custom_id);
          requests.push({ custom_id: id, params: toMessagesParams(req.body, options.defaultMaxTokens) });
        }
        const batch = await client.messages.batches.create({ requests } as unknown as Anthropic.Messages.BatchCreateParams, opts(signal));
        return batch.id;
      });
    },

    findBatch(chunk, startedAt, signal) {
      return wrap(`listing batches for ${chunk.key}`, async () => {
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
      for await (const req of chunkRequests(chunk)) back.set(anthropicId(req.custom_id), req.custom_id);
      const decoder = await wrap(`downloading the results of ${batchId}`, () => client.messages.batches.results(batchId, {}, opts(signal)));
      let n = 0;
      for await (const raw of decoder) {
        n++;
        const parsed = AnthropicBatchResult.safeParse(raw);
        if (!parsed.success) {
          const detail = flattenIssues(parsed.error).map((i) => `${i.message} at ${i.path}`).join("; ");
          throw new BatchlineError(`[${SUBMITTER_NAME}] results of ${batchId}, line ${n}: not a valid result line: ${detail}`);
        }
        const customId = back.get(parsed.data.custom_id) ?? parsed.data.custom_id;
        yield JSON.stringify(toOutputLine(parsed.data, customId));
      }
    },

    async cancel(batchId, signal) {
      await wrap(`cancelling batch ${batchId}`, () => client.messages.batches.cancel(batchId, {}, opts(signal)));
    },
  };
}
