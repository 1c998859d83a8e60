/**
 * The options every pipeline takes, owned by the engine: where the run lives, which backend
 * answers its submits (and that backend's options), retry rounds, --start-from, --allow-empty.
 * A definition's own options are merged with these; help lists both.
 */
import { z } from "zod";

const count = z.coerce.number().int().min(0);
const text = z.string();
const num = z.union([z.string(), z.number()]);

/** The engine's options: keys camelCase as the CLI normalizes them; numbers may come as text. */
export const PipelineRunOptions = z.object({
  workdir: text.describe("where every step's file, manifest.json, report.json and the run lock live"),
  backend: text.describe("who answers the requests: openai-batch, anthropic-batch, gemini-batch, openai-compatible or replay"),
  rounds: count.default(2).describe("retry rounds for what failed (default 2); a round with nothing to do ends them"),
  startFrom: text.optional().describe("redo this step and everything after it"),
  allowEmpty: z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]).default(false).describe("go on when a step produces nothing (otherwise the run stops there and exits 1)"),
  priceTable: text.optional().describe("price table (JSON) for the report's cost"),
  retryFailed: num.optional().describe("batch backends: resubmit lines that did not succeed, up to n more rounds within a submit"),
  pollInterval: num.optional().describe("batch backends: first wait between polls in seconds (default 5)"),
  maxPollInterval: num.optional().describe("batch backends: longest wait between polls in seconds (default 60)"),
  baseUrl: text.optional().describe("API base URL (default: OPENAI_BASE_URL / ANTHROPIC_BASE_URL / GEMINI_BASE_URL, else the provider's)"),
  maxChunkLines: num.optional().describe("batch backends: fewer lines per batch than the backend allows"),
  maxChunkMb: num.optional().describe("batch backends: fewer MB (1 MB = 1,000,000 bytes) per batch than the backend allows"),
  createInterval: num.optional().describe("batch backends: seconds between two batch creates (default 1)"),
  tokenLimitRetries: num.optional().describe("batch backends: times a batch refused with token_limit_exceeded is created again (default 8)"),
  tokenLimitBackoff: num.optional().describe("batch backends: first wait in seconds before that, doubling up to 30 min (default 60)"),
  concurrency: num.optional().describe("openai-compatible: requests in flight (default 16)"),
  rpm: num.optional().describe("openai-compatible: at most n requests per minute"),
  tpm: num.optional().describe("openai-compatible: at most n tokens per minute"),
  timeout: num.optional().describe("openai-compatible: seconds per attempt (default 600)"),
  maxRetries: num.optional().describe("openai-compatible: retries on 429/5xx/timeouts (default 5)"),
  retryBackoff: num.optional().describe("openai-compatible: first wait before a retry in seconds (default 1)"),
  completionWindow: text.optional().describe("openai-batch: completion_window (default 24h; groq, found from the base URL, takes up to 7d)"),
  serviceTier: text.optional().describe("openai-compatible: service_tier sent with every request, e.g. flex (OpenAI flex processing: batch prices, slower, 15 min timeout)"),
  cache: z.union([text, z.boolean()]).optional().describe("request cache directory; --no-cache turns it off (default: BATCHLINE_CACHE, else $XDG_CACHE_HOME/batchline/responses, else ~/.cache/batchline/responses)"),
  cacheKeyIgnore: text.optional().describe("what the cache key leaves out: custom_id (default; the pass stays in), body.<field>, or none"),
  anthropicVersion: text.optional().describe("anthropic-batch: API version to send and translate for: 2026-10-21 (default; drops temperature/top_p/top_k) or 2023-06-01 (keeps them); env ANTHROPIC_VERSION"),
});
export type PipelineRunOptions = z.infer<typeof PipelineRunOptions>;

/** Backend options whose change re-runs a finished submit; a new --base-url or poll interval does not (the answers are paid for). */
export const HASHED_BACKEND_OPTIONS = ["retryFailed", "maxChunkLines", "maxChunkMb", "maxRetries", "anthropicVersion"] as const;

/** The backend options of a run (what `submitFile` takes), without the engine's own. */
export function backendOptionsOf(run: PipelineRunOptions): Record<string, unknown> {
  const keys = ["retryFailed", "pollInterval", "maxPollInterval", "baseUrl", "maxChunkLines", "maxChunkMb", "createInterval", "tokenLimitRetries", "tokenLimitBackoff", "concurrency", "rpm", "tpm", "timeout", "maxRetries", "retryBackoff", "anthropicVersion", "serviceTier", "completionWindow", "cache", "cacheKeyIgnore"] as const;
  return Object.fromEntries(keys.filter((k) => run[k] !== undefined).map((k) => [k, run[k]]));
}
