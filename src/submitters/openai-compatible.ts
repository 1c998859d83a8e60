/**
 * Direct submission to any OpenAI-compatible `/v1/chat/completions` server (vLLM, SGLang,
 * llama.cpp, Ollama, DeepSeek, SiliconFlow, …): each request line is one HTTP call through an
 * undici connection pool, with a concurrency limit, requests- and tokens-per-minute limits,
 * retries with exponential backoff and jitter on 429/5xx/timeouts/connection errors (honouring
 * Retry-After and retry-after-ms), and a per-request timeout. Answers are OpenAI Batch output lines.
 * With a service tier (`flex`: OpenAI's flex processing, batch prices for synchronous calls) every
 * body is sent with `service_tier`; flex gets a longer default timeout (15 min, as OpenAI's flex
 * guide advises) and more retries, since flex answers 429 "Resource Unavailable" when it lacks
 * capacity (not billed) and that passes.
 */
import { createRequire } from "node:module";
import type { Dispatcher } from "undici";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { BatchOutput } from "../../schemas/openai-batch-output.ts";
import { BatchlineError } from "../core/errors.ts";
import { sleep } from "../internal/concurrency.ts";
import { randomId } from "../internal/ids.ts";
import { TokenBucket } from "../internal/rate-limit.ts";
import type { DirectBackend } from "./direct-runner.ts";

export const SUBMITTER_NAME = "openai-compatible";

export interface OpenAICompatibleOptions {
  /** e.g. http://127.0.0.1:8000/v1 — request urls `/v1/x` are sent to `<baseURL>/x`. */
  baseURL: string;
  apiKey?: string;
  /** Connections (and so requests in flight). */
  concurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Per attempt, ms (default 600,000). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  /** First backoff, ms (default 1000); doubles per retry, with jitter, up to 60 s. */
  backoffMs?: number;
  /** `service_tier` to send with every request (e.g. `flex`); the request's own is replaced. */
  serviceTier?: string;
}

/** Defaults under flex processing: OpenAI's flex guide raises the client timeout to 15 minutes; resource-unavailable 429s are retried longer. */
export const FLEX_DEFAULTS = { timeoutMs: 900_000, maxRetries: 10 };

// undici's index loads every part of undici (fetch, WebSocket, caches, mocks, proxies): about
// 140 ms of start-up here, against 40 ms for its connection pool alone, which is all this file uses.
const Pool = createRequire(import.meta.url)("undici/lib/dispatcher/pool.js") as typeof import("undici").Pool;
type Pool = InstanceType<typeof Pool>;

const RETRYABLE = new Set([408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529]);

/** Rough token count of a request: prompt characters / 4, plus the completion budget. Used only for --tpm pacing. */
export function estimateTokens(request: BatchRequest): number {
  const body = request.body as { messages?: { content?: unknown }[]; max_tokens?: number; max_completion_tokens?: number };
  let chars = 0;
  for (const m of body.messages ?? []) chars += typeof m.content === "string" ? m.content.length : JSON.stringify(m.content ?? "").length;
  return Math.ceil(chars / 4) + (body.max_tokens ?? body.max_completion_tokens ?? 0);
}

/** ms to wait from Retry-After / retry-after-ms headers, if any. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const ms = Number(headers["retry-after-ms"]);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers["retry-after"];
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (text === undefined) return undefined;
  const secs = Number(text);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(text);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** One HTTP exchange, the whole response body as text. */
interface Exchange {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * `pool.request` + `body.text()` without the response stream: the body's chunks are collected by
 * a dispatch handler (a stream per response is a measurable share of the client's CPU per request
 * at high concurrency). Rejects with undici's error, or the signal's reason when aborted.
 */
function post(pool: Pool, options: Omit<Dispatcher.DispatchOptions, "origin">, signal: AbortSignal | undefined): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let statusCode = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    let abort: (() => void) | undefined;
    const settle = () => {
      if (abort) signal!.removeEventListener("abort", abort);
    };
    pool.dispatch(options as Dispatcher.DispatchOptions, {
      onRequestStart(controller) {
        if (!signal) return;
        abort = () => controller.abort(signal.reason);
        signal.addEventListener("abort", abort, { once: true });
      },
      onResponseStart(_controller, status, responseHeaders) {
        statusCode = status;
        headers = responseHeaders as Record<string, string | string[] | undefined>;
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        settle();
        resolve({ statusCode, headers, text: (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString("utf8") });
      },
      onResponseError(_controller, err) {
        settle();
        reject(err);
      },
    });
  });
}

export default function openaiCompatible(options: OpenAICompatibleOptions): DirectBackend & { stats: { attempts: number; retries: number; unavailable: number } } {
  let base: URL;
  try {
    base = new URL(options.baseURL);
  } catch {
    throw new BatchlineError(`[${SUBMITTER_NAME}] --base-url ${options.baseURL} is not a URL (e.g. http://127.0.0.1:8000/v1)`);
  }
  const concurrency = options.concurrency ?? 16;
  const pool = new Pool(base.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const basePath = base.pathname.replace(/\/+$/, "");
  const rpm = options.requestsPerMinute ? new TokenBucket(options.requestsPerMinute) : undefined;
  const tpm = options.tokensPerMinute ? new TokenBucket(options.tokensPerMinute) : undefined;
  const flex = options.serviceTier === "flex";
  const maxRetries = options.maxRetries ?? (flex ? FLEX_DEFAULTS.maxRetries : 5);
  const backoff = options.backoffMs ?? 1000;
  const timeout = options.timeoutMs ?? (flex ? FLEX_DEFAULTS.timeoutMs : 600_000);
  const stats = { attempts: 0, retries: 0, unavailable: 0 };
  const headers: Record<string, string> = { "content-type": "application/json", ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) };

  const line = (request: BatchRequest, response: BatchOutput["response"], error: BatchOutput["error"]): BatchOutput => ({
    id: randomId("batchline_req_"),
    custom_id: request.custom_id,
    response,
    error,
  });

  // A file has one url or a few: the path for each is made once.
  const paths = new Map<string, string>();
  const pathFor = (url: string): string => {
    let path = paths.get(url);
    if (path === undefined) paths.set(url, (path = `${basePath}${url.replace(/^\/v1(?=\/)/, "")}`));
    return path;
  };

  return {
    name: SUBMITTER_NAME,
    stats,
    async answer(request, signal) {
      const path = pathFor(request.url);
      const body = JSON.stringify(options.serviceTier ? { ...request.body, service_tier: options.serviceTier } : request.body);
      const tokens = tpm ? estimateTokens(request) : 0;
      let last: { status?: number; headers?: Record<string, string | string[] | undefined>; body?: unknown; message: string } = { message: "" };
      for (let attempt = 0; attempt <= maxRetries; attempt++) {
        if (attempt > 0) {
          stats.retries++;
          const hinted = last.headers ? retryAfterMs(last.headers) : undefined;
          const exp = Math.min(backoff * 2 ** (attempt - 1), 60_000);
          await sleep(hinted ?? exp * (0.5 + Math.random() / 2), signal);
        }
        await rpm?.take(1, signal);
        await tpm?.take(tokens, signal);
        stats.attempts++;
        try {
          const res = await post(pool, { path, method: "POST", headers, body, headersTimeout: timeout, bodyTimeout: timeout }, signal);
          const text = res.text;
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = { error: { message: text.slice(0, 2000), type: "invalid_response", param: null, code: null } };
          }
          last = { status: res.statusCode, headers: res.headers, body: parsed, message: `HTTP ${res.statusCode}` };
          if (flex && res.statusCode === 429) stats.unavailable++;
          if (RETRYABLE.has(res.statusCode) && attempt < maxRetries) continue;
          const requestId = res.headers["x-request-id"];
          return line(request, { status_code: res.statusCode, request_id: typeof requestId === "string" ? requestId : randomId("req_"), body: parsed }, null);
        } catch (err) {
          if (signal?.aborted) throw err;
          last = { message: `${(err as Error).name}: ${(err as Error).message}` };
        }
      }
      if (last.status !== undefined) {
        return line(request, { status_code: last.status, request_id: randomId("req_"), body: last.body }, null);
      }
      return line(request, null, { code: "request_failed", message: `${maxRetries + 1} attempts to ${base.origin}${path} failed; last: ${last.message}` });
    },
    async close() {
      await pool.close();
    },
  };
}
