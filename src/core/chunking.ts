/**
 * Greedy chunking of a request file under a backend's limits: lines go to the open chunk of
 * their model until it would pass the line or byte limit, then a new chunk opens. One model per
 * chunk, because a batch (OpenAI) holds requests for one model.
 */

/** A backend's per-batch limits. */
export interface ChunkLimits {
  name: string;
  maxLines: number;
  maxBytes: number;
}

const MiB = 1024 * 1024;

/** OpenAI Batch: 50,000 requests and 200 MB per input file. */
export const OPENAI_BATCH_LIMITS: ChunkLimits = { name: "openai-batch", maxLines: 50_000, maxBytes: 200 * MiB };
/** Anthropic Message Batches: 100,000 requests and 256 MB per batch, in decimal bytes as Anthropic counts them (256,000,000). */
export const ANTHROPIC_BATCH_LIMITS: ChunkLimits = { name: "anthropic-batch", maxLines: 100_000, maxBytes: 256_000_000 };

interface OpenChunk {
  index: number;
  lines: number;
  bytes: number;
}

/** Assigns lines to chunks as they stream by; `add` returns the 0-based chunk index of the line. */
export class ChunkPlanner {
  readonly limits: ChunkLimits;
  private readonly open = new Map<string, OpenChunk>();
  private next = 0;

  constructor(limits: ChunkLimits) {
    this.limits = limits;
  }

  /** `bytes` counts the line with its newline. A single line over the byte limit gets a chunk of its own. */
  add(model: string, bytes: number): number {
    let chunk = this.open.get(model);
    if (!chunk || chunk.lines + 1 > this.limits.maxLines || (chunk.lines > 0 && chunk.bytes + bytes > this.limits.maxBytes)) {
      chunk = { index: this.next++, lines: 0, bytes: 0 };
      this.open.set(model, chunk);
    }
    chunk.lines++;
    chunk.bytes += bytes;
    return chunk.index;
  }

  /** Chunks opened so far. */
  get count(): number {
    return this.next;
  }
}
