/**
 * A byte-offset index of a JSONL file for the viewer: one pass records where each line starts (8
 * bytes a line, in growing Float64Array blocks), then any line is read back from disk by its
 * number. Memory is per line, never per byte, so a file of many GB opens in one scan. Search scans
 * the bytes again (Buffer.indexOf per chunk) and maps hits to line numbers by binary search.
 */
import { isUtf8 } from "node:buffer";
import { createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

const NEWLINE = 0x0a;
const BLOCK = 1 << 16;
const CHUNK = 1 << 22;

/** Line starts as 0-based byte offsets, appended in order. */
class OffsetList {
  private blocks: Float64Array[] = [];
  length = 0;

  push(offset: number): void {
    const i = this.length % BLOCK;
    if (i === 0) this.blocks.push(new Float64Array(BLOCK));
    this.blocks[this.blocks.length - 1]![i] = offset;
    this.length++;
  }

  at(index: number): number {
    return this.blocks[Math.floor(index / BLOCK)]![index % BLOCK]!;
  }

  /** Index of the last start <= offset (the line holding that byte). */
  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.at(mid) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  get bytes(): number {
    return this.blocks.length * BLOCK * 8;
  }
}

/** One line of an indexed file: its 0-based index among non-blank lines, 1-based physical line, text (bytes that are not UTF-8 become U+FFFD, and `utf8` is false). */
export interface IndexedLine {
  index: number;
  line: number;
  text: string;
  utf8: boolean;
}

/** A JSONL file indexed by line; blank lines are left out but counted in the physical line numbers. */
export class LineIndex {
  readonly file: string;
  /** Bytes of the file when indexed. */
  readonly size: number;
  private readonly starts = new OffsetList();
  private readonly ends = new OffsetList();
  private readonly physical = new OffsetList();
  private readonly handle: FileHandle;
  private readonly chunkBytes: number;

  private constructor(file: string, size: number, handle: FileHandle, chunkBytes: number) {
    this.file = file;
    this.size = size;
    this.handle = handle;
    this.chunkBytes = chunkBytes;
  }

  /** Scans `file` once. Memory: 24 bytes per line. `chunkBytes` (tests) is the read size. */
  static async open(file: string, options: { chunkBytes?: number } = {}): Promise<LineIndex> {
    const chunkBytes = options.chunkBytes ?? CHUNK;
    const handle = await open(file, "r");
    const { size } = await handle.stat();
    const index = new LineIndex(file, size, handle, chunkBytes);
    let offset = 0;
    let lineStart = 0;
    let line = 1;
    let blank = true;
    const end = (at: number) => {
      if (!blank) {
        index.starts.push(lineStart);
        index.ends.push(at);
        index.physical.push(line);
      }
    };
    for await (const chunk of createReadStream(file, { highWaterMark: chunkBytes, start: 0, end: size === 0 ? 0 : size - 1 }) as AsyncIterable<Buffer>) {
      if (size === 0) break;
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, from);
        const stop = nl === -1 ? chunk.length : nl;
        if (blank) {
          for (let i = from; i < stop; i++) {
            const b = chunk[i]!;
            if (b !== 0x20 && b !== 0x09 && b !== 0x0d) {
              blank = false;
              break;
            }
          }
        }
        if (nl === -1) break;
        end(offset + nl);
        line++;
        lineStart = offset + nl + 1;
        blank = true;
        from = nl + 1;
      }
      offset += chunk.length;
    }
    end(size);
    return index;
  }

  /** Non-blank lines. */
  get count(): number {
    return this.starts.length;
  }

  /** Bytes the index holds in memory. */
  get memoryBytes(): number {
    return this.starts.bytes + this.ends.bytes + this.physical.bytes;
  }

  /** Line `index` (0-based among non-blank lines). */
  async read(index: number): Promise<IndexedLine> {
    if (index < 0 || index >= this.count) throw new RangeError(`line index ${index} out of range 0..${this.count - 1}`);
    const start = this.starts.at(index);
    const bytes = this.ends.at(index) - start;
    const buf = Buffer.allocUnsafe(bytes);
    await this.handle.read(buf, 0, bytes, start);
    const end = bytes > 0 && buf[bytes - 1] === 0x0d ? bytes - 1 : bytes;
    return { index, line: this.physical.at(index), text: buf.toString("utf8", 0, end), utf8: isUtf8(buf.subarray(0, end)) };
  }

  /** Lines `from` .. `from + n - 1` that exist. */
  async readRange(from: number, n: number): Promise<IndexedLine[]> {
    const out: IndexedLine[] = [];
    for (let i = Math.max(0, from); i < Math.min(this.count, from + n); i++) out.push(await this.read(i));
    return out;
  }

  /**
   * Indices of lines whose bytes contain `query` (case-sensitive, as UTF-8), from line `from` on,
   * at most `limit`; `next` is where to go on, or null at the end of the file.
   */
  async search(query: string, options: { from?: number; limit?: number } = {}): Promise<{ indices: number[]; next: number | null }> {
    const needle = Buffer.from(query, "utf8");
    const limit = options.limit ?? 100;
    const from = options.from ?? 0;
    const indices: number[] = [];
    if (needle.length === 0 || from >= this.count) return { indices, next: null };
    let position = this.starts.at(from);
    const buf = Buffer.allocUnsafe(this.chunkBytes + needle.length);
    let carry = 0; // bytes kept from the previous chunk so a hit across the boundary is found
    while (position < this.size) {
      const { bytesRead } = await this.handle.read(buf, carry, this.chunkBytes, position);
      if (bytesRead === 0) break;
      const filled = carry + bytesRead;
      const base = position - carry;
      let at = buf.indexOf(needle, 0);
      while (at !== -1 && at + needle.length <= filled) {
        const line = this.starts.lineOf(base + at);
        if (line >= from && indices[indices.length - 1] !== line) {
          indices.push(line);
          if (indices.length >= limit) return { indices, next: line + 1 < this.count ? line + 1 : null };
        }
        // the next hit worth finding starts on the next line
        const next = line + 1 < this.count ? this.starts.at(line + 1) - base : filled;
        at = next >= filled ? -1 : buf.indexOf(needle, Math.max(next, at + 1));
      }
      position += bytesRead;
      carry = Math.min(needle.length - 1, filled);
      buf.copy(buf, 0, filled - carry, filled);
    }
    return { indices, next: null };
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
