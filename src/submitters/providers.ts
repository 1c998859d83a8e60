/**
 * Batch providers in one table: what each one's batch API takes, read from its docs (dated
 * below). `openai-batch` uses the row of the provider it talks to (`--provider`, or the host of
 * `--base-url`) for chunk limits, the request urls it accepts, its completion windows and the
 * purpose of uploads; `validate` and `plan` take their limits from here too. Providers whose batch
 * routes are not OpenAI's `/v1/files` + `/v1/batches` (or whose answers differ) are listed so that
 * `openai-batch` refuses them with the reason instead of failing half-way.
 */
import type { ChunkLimits } from "../core/chunking.ts";
import { UsageError } from "../core/errors.ts";

export interface BatchProvider {
  /** `--provider` name. */
  name: string;
  /** API hosts: a base URL on one of them picks this provider. */
  hosts: readonly string[];
  baseURL: string;
  /** Per batch: requests, bytes (decimal MB, as the providers count) and embedding inputs. */
  limits: Omit<ChunkLimits, "name">;
  /** Request urls its batches take. */
  endpoints: readonly string[];
  /** completion_window it takes, in hours (OpenAI: exactly 24). */
  completionWindowHours: { min: number; max: number };
  /** True when `openai-batch` works with it as is (OpenAI's routes and objects). */
  openaiBatch: boolean;
  /** What differs from OpenAI's Batch API (README table; the refusal when `openaiBatch` is false). */
  differs: string;
  /** Where the facts come from, and when they were read. */
  source: string;
}

const OPENAI_ENDPOINTS = ["/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations"] as const;

export const PROVIDERS = {
  openai: {
    name: "openai",
    hosts: ["api.openai.com"],
    baseURL: "https://api.openai.com/v1",
    limits: { maxLines: 50_000, maxBytes: 200_000_000, maxEmbeddingInputs: 50_000 },
    endpoints: OPENAI_ENDPOINTS,
    completionWindowHours: { min: 24, max: 24 },
    openaiBatch: true,
    differs: "the reference: 50,000 requests, 200 MB and 50,000 embedding inputs per batch; completion window 24h",
    source: "https://platform.openai.com/docs/api-reference/batch/create (read 2026-12-02)",
  },
  groq: {
    name: "groq",
    hosts: ["api.groq.com"],
    baseURL: "https://api.groq.com/openai/v1",
    limits: { maxLines: 50_000, maxBytes: 200_000_000 },
    endpoints: ["/v1/chat/completions", "/v1/audio/transcriptions", "/v1/audio/translations"],
    completionWindowHours: { min: 24, max: 7 * 24 },
    openaiBatch: true,
    differs: "routes under /openai/v1; only chat completions (and audio) lines, no embeddings or Responses; completion window 24h to 7d (--completion-window); 50,000 lines and 200 MB per file",
    source: "https://console.groq.com/docs/batch (read 2026-12-02)",
  },
  together: {
    name: "together",
    hosts: ["api.together.xyz", "api.together.ai"],
    baseURL: "https://api.together.xyz/v1",
    limits: { maxLines: 50_000, maxBytes: 100_000_000 },
    endpoints: ["/v1/chat/completions"],
    completionWindowHours: { min: 24, max: 24 },
    openaiBatch: false,
    differs: "same /v1/files and /v1/batches paths, but uploads take purpose batch-api, a create answers {job: {...}} instead of a batch object, statuses are upper-case and batches carry no metadata (so an interrupted create cannot be found again)",
    source: "https://docs.together.ai/docs/batch-inference and https://docs.together.ai/reference/batch-create (read 2026-12-02)",
  },
  mistral: {
    name: "mistral",
    hosts: ["api.mistral.ai"],
    baseURL: "https://api.mistral.ai/v1",
    limits: { maxLines: 1_000_000, maxBytes: Infinity },
    endpoints: ["/v1/chat/completions", "/v1/embeddings", "/v1/fim/completions", "/v1/moderations"],
    completionWindowHours: { min: 1, max: 168 },
    openaiBatch: false,
    differs: "jobs at /v1/batch/jobs (not /v1/batches) with input_files, model and endpoint on the job and timeout_hours instead of a completion window; lines are {custom_id, body} without method and url; up to 1M requests",
    source: "https://docs.mistral.ai/capabilities/batch (read 2026-12-02)",
  },
  fireworks: {
    name: "fireworks",
    hosts: ["api.fireworks.ai"],
    baseURL: "https://api.fireworks.ai/inference/v1",
    limits: { maxLines: Infinity, maxBytes: 500_000_000 },
    endpoints: ["/v1/chat/completions"],
    completionWindowHours: { min: 24, max: 24 },
    openaiBatch: false,
    differs: "input is a dataset (not a file upload) and jobs are batchInferenceJobs under /v1/accounts/<account>/; lines are {custom_id, body}; files under 500 MB",
    source: "https://docs.fireworks.ai/guides/batch-inference (read 2026-12-02)",
  },
  anthropic: {
    name: "anthropic",
    hosts: ["api.anthropic.com"],
    baseURL: "https://api.anthropic.com",
    limits: { maxLines: 100_000, maxBytes: 256_000_000 },
    endpoints: ["/v1/chat/completions"],
    completionWindowHours: { min: 24, max: 24 },
    openaiBatch: false,
    differs: "Message Batches (/v1/messages/batches, requests inline, Messages bodies): use the anthropic-batch backend, which translates chat requests; 100,000 requests and 256 MB per batch",
    source: "https://docs.anthropic.com/en/docs/build-with-claude/batch-processing (read 2026-12-02)",
  },
  gemini: {
    name: "gemini",
    hosts: ["generativelanguage.googleapis.com"],
    baseURL: "https://generativelanguage.googleapis.com",
    limits: { maxLines: 1_000_000, maxBytes: 2_000_000_000 },
    endpoints: ["/v1/chat/completions"],
    completionWindowHours: { min: 24, max: 24 },
    openaiBatch: false,
    differs: "Gemini Batch Mode (batches.create with GenerateContent requests, {key, request} lines, JOB_STATE_* states): use the gemini-batch backend; an input file of at most 2 GB (no documented request count: batchline caps a chunk at 1,000,000 lines)",
    source: "https://ai.google.dev/gemini-api/docs/batch-mode (read 2026-12-02)",
  },
  openrouter: {
    name: "openrouter",
    hosts: ["openrouter.ai"],
    baseURL: "https://openrouter.ai/api/v1",
    limits: { maxLines: Infinity, maxBytes: Infinity },
    endpoints: ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/embeddings"],
    completionWindowHours: { min: 24, max: 24 },
    openaiBatch: false,
    differs: "POST /api/beta/batches takes the requests inline (a requests array, one model per batch), no file upload; results come back inline in the poll answer; text only",
    source: "https://openrouter.ai/docs/batch-quickstart (read 2026-12-02)",
  },
} as const satisfies Record<string, BatchProvider>;

export type ProviderName = keyof typeof PROVIDERS;

/** A provider's chunk limits under a backend name. */
export function providerLimits(provider: BatchProvider, name: string): ChunkLimits {
  return { name, ...provider.limits };
}

/** The provider `openai-batch` talks to: `--provider` when given, else the base URL's host, else OpenAI (a local `batchline serve` or an unknown host is OpenAI-shaped). */
export function providerFor(given: string | undefined, baseURL: string | undefined): BatchProvider {
  if (given !== undefined) {
    if (!Object.hasOwn(PROVIDERS, given)) throw new UsageError(`--provider ${given}: expected one of ${Object.keys(PROVIDERS).join(", ")}`);
    return PROVIDERS[given as ProviderName];
  }
  let host: string | undefined;
  try {
    host = baseURL ? new URL(baseURL).hostname : undefined;
  } catch {
    host = undefined;
  }
  return Object.values(PROVIDERS).find((p) => host !== undefined && (p.hosts as readonly string[]).includes(host)) ?? PROVIDERS.openai;
}

/** Throws unless `openai-batch` can talk to the provider as it is. */
export function checkOpenAIBatchProvider(provider: BatchProvider): void {
  if (!provider.openaiBatch) throw new UsageError(`[openai-batch] ${provider.name}'s batch API is not OpenAI's: ${provider.differs} (${provider.source}); use openai-compatible against ${provider.baseURL} instead`);
}

/** The completion window to send: `given` (e.g. 24h, 48h, 7d) checked against what the provider takes; default 24h. */
export function completionWindowFor(provider: BatchProvider, given: string | undefined): string {
  if (given === undefined) return "24h";
  const m = /^(\d+)([hd])$/.exec(given);
  const hours = m ? Number(m[1]) * (m[2] === "d" ? 24 : 1) : NaN;
  const { min, max } = provider.completionWindowHours;
  if (!(hours >= min && hours <= max)) {
    const takes = min === max ? `only ${min}h` : `${min}h to ${max % 24 === 0 ? `${max / 24}d` : `${max}h`}`;
    throw new UsageError(`--completion-window ${given}: ${provider.name} takes ${takes}`);
  }
  return given;
}
