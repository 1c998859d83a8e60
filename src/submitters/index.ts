/**
 * Backends by name, loaded lazily so that `--backend replay` never loads an SDK.
 * Batch backends (chunks, state file, polling) and direct backends (one request at a time).
 */
import type { BatchProvider } from "./providers.ts";
import type { BatchBackend } from "./types.ts";

export const BATCH_BACKENDS = {
  "openai-batch": async (o: { apiKey: string; baseURL?: string; provider?: BatchProvider; completionWindow?: string }) => (await import("./openai-batch.ts")).default(o),
  "anthropic-batch": async (o: { apiKey: string; baseURL?: string; anthropicVersion?: string }) => (await import("./anthropic-batch.ts")).default(o),
  "gemini-batch": async (o: { apiKey: string; baseURL?: string }) => (await import("./gemini-batch.ts")).default(o),
} satisfies Record<string, (options: { apiKey: string; baseURL?: string; anthropicVersion?: string; provider?: BatchProvider; completionWindow?: string }) => Promise<BatchBackend>>;

export type BatchBackendName = keyof typeof BATCH_BACKENDS;

export function isBatchBackend(name: string): name is BatchBackendName {
  return Object.hasOwn(BATCH_BACKENDS, name);
}

/** Backends that answer one request at a time (no batch API in between). */
export const DIRECT_BACKENDS = ["openai-compatible", "replay"] as const;

/** Every backend `batchline submit` knows, with a line each for help. */
export const BACKENDS: Record<string, string> = {
  "openai-batch": "OpenAI Batch API (or batchline serve / any server with /v1/files + /v1/batches); OPENAI_API_KEY, OPENAI_BASE_URL",
  "anthropic-batch": "Anthropic Message Batches (chat bodies translated to Messages, results back to OpenAI lines); ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL",
  "gemini-batch": "Gemini Batch API (chat bodies translated to GenerateContent, inline under 20 MB, uploaded above; results back to OpenAI lines); GEMINI_API_KEY or GOOGLE_API_KEY, GEMINI_BASE_URL",
  "openai-compatible": "any /v1/chat/completions server, one request per call (--base-url, --concurrency, --rpm, --tpm); key: OPENAI_API_KEY if set",
  replay: "answers from a recorded output file by custom_id (--from)",
};
