/**
 * A local double of Anthropic's Message Batches routes, enough for @anthropic-ai/sdk: create,
 * retrieve, list (newest first), cancel, and results as JSONL in shuffled order. It holds
 * requests to what the real API refuses, written from Anthropic's Messages and Message Batches
 * reference and the 2026-10-21 migration guide:
 * - at create (HTTP 400, nothing created): an empty request list, a custom_id outside
 *   `^[a-zA-Z0-9_-]{1,64}$`, a repeated custom_id, a request without params;
 * - per request, as an `errored` result with `invalid_request_error` (the API checks params
 *   while it processes the batch): unknown params (under 2026-10-21 that includes `temperature`,
 *   `top_p` and `top_k`, even at default values), a thinking budget < 1024 or >= max_tokens,
 *   the budget form on a model that only takes adaptive thinking (and adaptive on one that has
 *   none), empty messages and empty or blank text blocks, a `system` role under 2023-06-01,
 *   a tool_result without the matching tool_use in the turn before, document blocks in
 *   assistant turns and citations in user turns under 2026-10-21, sampling with thinking on
 *   and temperature above 1 under 2023-06-01.
 * Requests that pass are answered by echoing the first line of the last user turn; a prompt
 * containing `[stop:<reason>]` ends with that stop reason, and a request with tools and
 * tool_choice any/tool calls the first tool. It records what it was sent for the tests.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "./helpers.ts";

export interface AnthropicDoubleOptions {
  /** custom_ids (as sent) answered with an injected overloaded_error. */
  errorMatch?: RegExp;
  /** Requests answered per batch before the rest expire. */
  expireAfter?: number;
  /** ms each batch stays in_progress. */
  processingMs?: number;
  /** Replaces the whole results file of every batch (for download benchmarks and reader tests). */
  resultsBody?: (batchId: string) => string;
}

type Params = Record<string, unknown> & { model: string; max_tokens: number; messages: { role: string; content: unknown }[]; system?: unknown; thinking?: { type: string; budget_tokens?: number }; tools?: { name: string }[]; tool_choice?: { type: string; name?: string } };

interface Req {
  custom_id: string;
  params: Params;
}

interface Batch {
  id: string;
  type: "message_batch";
  processing_status: "in_progress" | "canceling" | "ended";
  request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
  ended_at: string | null;
  created_at: string;
  expires_at: string;
  archived_at: null;
  cancel_initiated_at: string | null;
  results_url: string | null;
}

export interface AnthropicDouble {
  baseURL: string;
  batches: Map<string, Batch>;
  /** Every request's params received, by custom_id as sent. */
  received: Map<string, Params>;
  /** The anthropic-version header of every HTTP request, in order. */
  versions: string[];
  /** Why each errored request was refused, by custom_id as sent. */
  refused: Map<string, string>;
  executions: Map<string, number>;
  creates: number;
  close(): Promise<void>;
}

const PARAMS_2026 = new Set(["model", "max_tokens", "messages", "cache_control", "container", "diagnostics", "inference_geo", "metadata", "output_config", "service_tier", "speed", "stop_sequences", "stream", "system", "thinking", "tool_choice", "tools", "user_profile_id", "workspace_id"]);
const PARAMS_2023 = new Set([...PARAMS_2026, "temperature", "top_p", "top_k"]);
/** Models that take adaptive thinking only (the budget form is a 400) and models that have no adaptive thinking. */
const ADAPTIVE_ONLY = /^claude-(opus-4-[78]|mythos|fable|opus-5|sonnet-5|haiku-5)/;
const BUDGET_ONLY = /^claude-(3|sonnet-4-5|haiku-4-5|opus-4-5|opus-4-1|sonnet-4-2|opus-4-2)/;
const EFFORTS = new Set(["low", "medium", "high", "xhigh", "max"]);

type Block = Record<string, unknown> & { type: string };

function blocksOf(content: unknown): Block[] | string {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) return "content: Input should be a valid string or list";
  return content as Block[];
}

/** Why the real API would refuse these params under `version`, or undefined. */
export function refusal(p: Params, version: string): string | undefined {
  const known = version >= "2026-10-21" ? PARAMS_2026 : PARAMS_2023;
  for (const key of Object.keys(p)) if (!known.has(key)) return `${key}: Extra inputs are not permitted`;
  if (typeof p.model !== "string" || p.model === "") return "model: Field required";
  if (!Number.isInteger(p.max_tokens) || p.max_tokens < 0) return "max_tokens: Input should be a valid integer >= 0";
  if (!Array.isArray(p.messages) || p.messages.length === 0) return "messages: at least one message is required";
  const thinking = p.thinking;
  if (thinking?.type === "enabled") {
    if (ADAPTIVE_ONLY.test(p.model)) return `"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`;
    if (!Number.isInteger(thinking.budget_tokens) || thinking.budget_tokens! < 1024) return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024";
    if (thinking.budget_tokens! >= p.max_tokens) return "`max_tokens` must be greater than `thinking.budget_tokens`";
  } else if (thinking?.type === "adaptive" && BUDGET_ONLY.test(p.model)) {
    return `"thinking.type.adaptive" is not supported for this model`;
  } else if (thinking !== undefined && !["disabled", "adaptive"].includes(thinking.type)) {
    return "thinking.type: Input tag does not match any of the expected tags";
  }
  const effort = (p.output_config as { effort?: string } | undefined)?.effort;
  if (effort !== undefined && !EFFORTS.has(effort)) return "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'";
  if (version < "2026-10-21") {
    const t = p.temperature as number | undefined;
    if (t !== undefined && (t < 0 || t > 1)) return "temperature: Input should be less than or equal to 1";
    if (thinking && thinking.type !== "disabled" && ((t !== undefined && t !== 1) || p.top_k !== undefined)) return "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.";
  }
  let previous: Block[] = [];
  for (let i = 0; i < p.messages.length; i++) {
    const m = p.messages[i]!;
    if (m.role === "system" && version < "2026-10-21") return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (!["user", "assistant", "system"].includes(m.role)) return `messages.${i}.role: Input should be 'user', 'assistant' or 'system'`;
    const blocks = blocksOf(m.content);
    if (typeof blocks === "string") return `messages.${i}.${blocks}`;
    const finalAssistant = i === p.messages.length - 1 && m.role === "assistant";
    if (blocks.length === 0 && !finalAssistant) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    for (const [j, b] of blocks.entries()) {
      if (b.type === "text" && (typeof b.text !== "string" || b.text.trim() === "") && !finalAssistant) return `messages.${i}.content.${j}: text content blocks must contain non-whitespace text`;
      if (version >= "2026-10-21" && b.type === "document" && m.role === "assistant") return `messages.${i}.content.${j}: document blocks are not allowed in assistant messages`;
      if (version >= "2026-10-21" && b.type === "text" && m.role === "user" && Array.isArray(b.citations) && b.citations.length > 0) return `messages.${i}.content.${j}: citations are not allowed on text blocks in user messages`;
      if (b.type === "tool_result" && !previous.some((u) => u.type === "tool_use" && u.id === b.tool_use_id)) return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(b.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      if (b.type === "tool_use" && (typeof b.id !== "string" || typeof b.name !== "string" || typeof b.input !== "object")) return `messages.${i}.content.${j}: tool_use needs id, name and input`;
      if (!["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"].includes(b.type)) return `messages.${i}.content.${j}.type: unknown block type ${b.type}`;
    }
    previous = blocks;
  }
  for (const [i, t] of (p.tools ?? []).entries()) {
    const tool = t as Record<string, unknown>;
    if (typeof tool.name !== "string" || !/^[a-zA-Z0-9_-]{1,128}$/.test(tool.name)) return `tools.${i}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`;
    if (typeof tool.input_schema !== "object" || tool.input_schema === null) return `tools.${i}.input_schema: Field required`;
  }
  return undefined;
}

function answer(r: Req, i: number): Record<string, unknown> {
  const p = r.params;
  const lastUser = [...p.messages].reverse().find((m) => m.role === "user");
  const blocks = blocksOf(lastUser?.content);
  const text = typeof blocks === "string" ? "" : blocks.map((b) => (b.type === "text" ? String(b.text) : b.type === "tool_result" ? `tool_result ${String(b.tool_use_id)}` : "")).join(" ");
  const content: Record<string, unknown>[] = [];
  let thinkingTokens = 0;
  if (p.thinking && p.thinking.type !== "disabled") {
    content.push({ type: "thinking", thinking: "let me think", signature: "sig" });
    thinkingTokens = 3;
  }
  content.push({ type: "text", text: `echo: ${text.split("\n")[0]}` });
  let stop = /\[stop:([a-z_]+)\]/.exec(text)?.[1] ?? (i % 5 === 4 ? "max_tokens" : "end_turn");
  const choice = p.tool_choice;
  if (p.tools?.length && (choice?.type === "any" || choice?.type === "tool")) {
    content.push({ type: "tool_use", id: `toolu_${String(i).padStart(4, "0")}`, name: choice.name ?? p.tools[0]!.name, input: { query: "x" } });
    stop = "tool_use";
  }
  return {
    id: `msg_${i}`,
    type: "message",
    role: "assistant",
    model: p.model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: { input_tokens: 11, output_tokens: 4 + thinkingTokens, cache_read_input_tokens: 2, cache_creation_input_tokens: 3, output_tokens_details: { thinking_tokens: thinkingTokens }, service_tier: "batch" },
  };
}

export async function startAnthropicDouble(options: AnthropicDoubleOptions = {}): Promise<AnthropicDouble> {
  const batches = new Map<string, Batch>();
  const results = new Map<string, string[]>();
  const received = new Map<string, Params>();
  const refused = new Map<string, string>();
  const executions = new Map<string, number>();
  const versions: string[] = [];
  const state = { creates: 0, n: 0 };
  let base = "";
  const error = (type: string, message: string) => JSON.stringify({ type: "error", error: { type, message }, request_id: `req_${state.n}` });

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const version = String(req.headers["anthropic-version"] ?? "");
    versions.push(version);
    const send = (status: number, body: string) => res.writeHead(status, { "content-type": "application/json", "request-id": `req_${state.n++}` }).end(body);
    if (!version) return send(400, error("invalid_request_error", "anthropic-version: header is required"));
    let m: RegExpExecArray | null;
    if (req.method === "POST" && url.pathname === "/v1/messages/batches") {
      const { requests } = JSON.parse(await readBody(req)) as { requests?: Req[] };
      if (!Array.isArray(requests) || requests.length === 0) return send(400, error("invalid_request_error", "requests: List should have at least 1 item"));
      const ids = new Set<string>();
      for (const [i, r] of requests.entries()) {
        if (typeof r.custom_id !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(r.custom_id)) return send(400, error("invalid_request_error", `requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`));
        if (ids.has(r.custom_id)) return send(400, error("invalid_request_error", `requests.${i}.custom_id: custom_id ${r.custom_id} is used more than once`));
        ids.add(r.custom_id);
        if (typeof r.params !== "object" || r.params === null) return send(400, error("invalid_request_error", `requests.${i}.params: Field required`));
      }
      state.creates++;
      const id = `msgbatch_${String(state.n++).padStart(6, "0")}`;
      const now = new Date();
      const batch: Batch = { id, type: "message_batch", processing_status: "in_progress", request_counts: { processing: requests.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 }, ended_at: null, created_at: now.toISOString(), expires_at: new Date(now.getTime() + 86_400_000).toISOString(), archived_at: null, cancel_initiated_at: null, results_url: null };
      batches.set(id, batch);
      const lines: string[] = [];
      setTimeout(() => {
        requests.forEach((r, i) => {
          received.set(r.custom_id, r.params);
          const c = batch.request_counts;
          c.processing--;
          let result: unknown;
          const why = refusal(r.params, version);
          if (batch.processing_status === "canceling") {
            c.canceled++;
            result = { type: "canceled" };
          } else if (options.expireAfter !== undefined && i >= options.expireAfter) {
            c.expired++;
            result = { type: "expired" };
          } else if (why !== undefined) {
            refused.set(r.custom_id, why);
            c.errored++;
            result = { type: "errored", error: { type: "error", error: { type: "invalid_request_error", message: why }, request_id: null } };
          } else if (options.errorMatch?.test(r.custom_id)) {
            c.errored++;
            result = { type: "errored", error: { type: "error", error: { type: "overloaded_error", message: "Overloaded" }, request_id: null } };
          } else {
            executions.set(r.custom_id, (executions.get(r.custom_id) ?? 0) + 1);
            c.succeeded++;
            result = { type: "succeeded", message: answer(r, i) };
          }
          lines.push(JSON.stringify({ custom_id: r.custom_id, result }));
        });
        for (let i = lines.length - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1));
          [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        }
        results.set(id, lines);
        batch.processing_status = "ended";
        batch.ended_at = new Date().toISOString();
        batch.results_url = `${base}/v1/messages/batches/${id}/results`;
      }, options.processingMs ?? 30);
      return send(200, JSON.stringify(batch));
    }
    if (req.method === "GET" && url.pathname === "/v1/messages/batches") {
      const data = [...batches.values()].reverse();
      return send(200, JSON.stringify({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null }));
    }
    if ((m = /^\/v1\/messages\/batches\/([^/]+)\/results$/.exec(url.pathname))) {
      const lines = results.get(m[1]!);
      if (!lines) return send(404, error("not_found_error", "no results yet"));
      res.writeHead(200, { "content-type": "application/binary" }).end(options.resultsBody ? options.resultsBody(m[1]!) : lines.join("\n") + "\n");
      return;
    }
    if ((m = /^\/v1\/messages\/batches\/([^/]+)\/cancel$/.exec(url.pathname)) && req.method === "POST") {
      const batch = batches.get(m[1]!);
      if (!batch) return send(404, error("not_found_error", "no such batch"));
      if (batch.processing_status === "in_progress") {
        batch.processing_status = "canceling";
        batch.cancel_initiated_at = new Date().toISOString();
      }
      return send(200, JSON.stringify(batch));
    }
    if ((m = /^\/v1\/messages\/batches\/([^/]+)$/.exec(url.pathname)) && req.method === "GET") {
      const batch = batches.get(m[1]!);
      return batch ? send(200, JSON.stringify(batch)) : send(404, error("not_found_error", "no such batch"));
    }
    send(404, error("not_found_error", `no route ${req.method} ${url.pathname}`));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseURL: base,
    batches,
    received,
    refused,
    versions,
    executions,
    get creates() {
      return state.creates;
    },
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
