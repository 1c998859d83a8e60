/**
 * Greedy chunking of a request file under a backend's limits: lines go to the open chunk of
 * their model until it would pass the line or byte limit, then a new chunk opens. One model per
 * chunk, because a batch (OpenAI) holds requests for one model. The limits come from the one
 * table of batch providers (src/submitters/providers.ts).
 */
import { PROVIDERS, providerLimits } from "../submitters/providers.ts";

/** A backend's per-batch limits. Bytes count as the providers count them: decimal MB (1 MB = 1,000,000 bytes). */
export interface ChunkLimits {
  name: string;
  maxLines: number;
  maxBytes: number;
  /** Embedding inputs per batch, summed over `/v1/embeddings` lines (see `embeddingInputs`); no limit when absent. */
  maxEmbeddingInputs?: number;
}

/** OpenAI Batch: 50,000 requests, 200 MB (200,000,000 bytes) and 50,000 embedding inputs per batch (the providers table's row). */
export const OPENAI_BATCH_LIMITS: ChunkLimits = providerLimits(PROVIDERS.openai, "openai-batch");
/** Anthropic Message Batches: 100,000 requests and 256 MB per batch, in decimal bytes as Anthropic counts them (256,000,000). */
export const ANTHROPIC_BATCH_LIMITS: ChunkLimits = providerLimits(PROVIDERS.anthropic, "anthropic-batch");
/**
 * Gemini Batch: an input file of at most 2 GB (2,000,000,000 bytes; the Files API's limit). Google
 * documents no per-job request count; batchline caps a chunk at 1,000,000 lines so one job's
 * results stay a retry-sized unit.
 */
export const GEMINI_BATCH_LIMITS: ChunkLimits = providerLimits(PROVIDERS.gemini, "gemini-batch");

interface OpenChunk {
  index: number;
  lines: number;
  bytes: number;
  inputs: number;
}

/**
 * How many inputs an embeddings request body carries: `input` as a string or one token array is
 * one; an array of strings or of token arrays is one per element. Other endpoints count 0.
 */
export function embeddingInputs(url: string, body: Record<string, unknown>): number {
  if (url !== "/v1/embeddings") return 0;
  const input = body.input;
  if (!Array.isArray(input)) return 1;
  return input.length > 0 && input.every((x) => typeof x === "number") ? 1 : input.length;
}

/** Assigns lines to chunks as they stream by; `add` returns the 0-based chunk index of the line. */
export class ChunkPlanner {
  readonly limits: ChunkLimits;
  private readonly open = new Map<string, OpenChunk>();
  private next = 0;

  constructor(limits: ChunkLimits) {
    this.limits = limits;
  }

  /**
   * `bytes` counts the line with its newline; `inputs` its embedding inputs. A single line over the
   * byte or input limit gets a chunk of its own.
   */
  add(model: string, bytes: number, inputs = 0): number {
    let chunk = this.open.get(model);
    const maxInputs = this.limits.maxEmbeddingInputs ?? Infinity;
    if (!chunk || chunk.lines + 1 > this.limits.maxLines || (chunk.lines > 0 && (chunk.bytes + bytes > this.limits.maxBytes || chunk.inputs + inputs > maxInputs))) {
      chunk = { index: this.next++, lines: 0, bytes: 0, inputs: 0 };
      this.open.set(model, chunk);
    }
    chunk.lines++;
    chunk.bytes += bytes;
    chunk.inputs += inputs;
    return chunk.index;
  }

  /** Chunks opened so far. */
  get count(): number {
    return this.next;
  }
}
