/**
 * A local OpenAI-compatible chat server for tests and benchmarks: /v1/chat/completions answers
 * after `latencyMs` with a completion that quotes the last user message's first line, and counts
 * calls per that line (which the fixtures make unique per custom_id). Faults: fail the first
 * `failTimes` calls of matching prompts with a status (and Retry-After), always answer matching
 * prompts with an error, or hold matching first calls past the client's timeout.
 *
 * Flex processing, modelled on OpenAI's flex guide: a request with `service_tier: "flex"` for a
 * model not in `flexModels` is refused with 400 (flex serves only some models; it does not fall
 * back to standard); the first `flexUnavailable` flex calls of each prompt answer 429 "Resource
 * Unavailable" (flex lacked capacity; not billed, so no usage). Answers echo the tier served
 * (`service_tier`) when one was asked for, as the API does.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "./helpers.ts";

export interface ChatServerOptions {
  latencyMs?: number;
  /** First `failTimes` calls of prompts matching `failMatch` get `failStatus` (default 429) with Retry-After `retryAfter`. */
  failMatch?: RegExp;
  failTimes?: number;
  failStatus?: number;
  retryAfter?: string;
  /** Prompts matching this always get HTTP 400. */
  badMatch?: RegExp;
  /** The first call of prompts matching this never answers (the client must time out). */
  hangMatch?: RegExp;
  /** Models that take service_tier flex (default: none, so a flex request is a 400). */
  flexModels?: string[];
  /** The first n flex calls of each prompt get 429 Resource Unavailable. */
  flexUnavailable?: number;
}

export interface ChatServer {
  baseURL: string;
  calls: Map<string, number>;
  /** Requests that asked for service_tier flex (every attempt). */
  flexCalls: number;
  total(): number;
  maxInFlight: number;
  close(): Promise<void>;
}

export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const calls = new Map<string, number>();
  let inFlight = 0;
  const state = { maxInFlight: 0, flexCalls: 0 };
  const server = createServer(async (req, res) => {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    try {
      const body = JSON.parse(await readBody(req)) as { model: string; messages: { role: string; content: string }[]; service_tier?: string };
      const prompt = String(body.messages.at(-1)?.content ?? "").split("\n")[0]!;
      const n = (calls.get(prompt) ?? 0) + 1;
      calls.set(prompt, n);
      if (options.hangMatch?.test(prompt) && n === 1) {
        await new Promise((r) => setTimeout(r, 30_000).unref());
        return;
      }
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      if (options.badMatch?.test(prompt)) {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "bad request (injected)", type: "invalid_request_error", param: null, code: null } }));
        return;
      }
      if (body.service_tier === "flex") {
        state.flexCalls++;
        if (!(options.flexModels ?? []).includes(body.model)) {
          res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `Flex processing is not available for model ${body.model}.`, type: "invalid_request_error", param: "service_tier", code: null } }));
          return;
        }
        if (n <= (options.flexUnavailable ?? 0)) {
          res.writeHead(429, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "Resource Unavailable: flex processing lacks capacity for this request; retry later.", type: "resource_unavailable", param: null, code: "resource_unavailable" } }));
          return;
        }
      }
      if (options.failMatch?.test(prompt) && n <= (options.failTimes ?? 1)) {
        res.writeHead(options.failStatus ?? 429, { "content-type": "application/json", ...(options.retryAfter !== undefined ? { "retry-after": options.retryAfter } : {}) });
        res.end(JSON.stringify({ error: { message: "slow down (injected)", type: "rate_limit_error", param: null, code: null } }));
        return;
      }
      const answer = { id: `chatcmpl-${n}`, object: "chat.completion", created: 0, model: body.model, choices: [{ index: 0, message: { role: "assistant", content: `echo: ${prompt}` }, finish_reason: "stop" }], ...(body.service_tier ? { service_tier: body.service_tier } : {}), usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } };
      res.writeHead(200, { "content-type": "application/json", "x-request-id": `req-${n}` }).end(JSON.stringify(answer));
    } finally {
      inFlight--;
    }
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    calls,
    total: () => [...calls.values()].reduce((a, b) => a + b, 0),
    get maxInFlight() {
      return state.maxInFlight;
    },
    get flexCalls() {
      return state.flexCalls;
    },
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
