/**
 * An index of a recorded output file by custom_id: one pass records where each line starts,
 * lookups read that one line back from disk. Memory is per id, not per byte, so a replay file of
 * many GB works. A later line for the same id wins over an earlier failure (as `merge` does).
 */
import { createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { BatchOutput, isSuccess } from "../../schemas/openai-batch-output.ts";
import { RecordValidationError } from "../core/errors.ts";
import { lineText, readRawLines } from "../core/jsonl.ts";
import { scanSuccessfulOutput } from "../core/line-ids.ts";
import { flattenIssues } from "../core/stage.ts";

/** Bytes read at once when lookups go through the file in about its order. */
const READ_AHEAD = 256 * 1024;

/** Where one id's line sits in a recorded file: byte offset, length (no newline, no `\r`), and whether it is a success. */
export interface ReplayEntry {
  offset: number;
  bytes: number;
  ok: boolean;
}
type Entry = ReplayEntry;

/** A recorded output file, indexed by custom_id. */
export class ReplayIndex {
  readonly file: string;
  private readonly entries: Map<string, Entry>;
  private handle: FileHandle | undefined;
  /** The last block read ahead, and where the lookup before this one was. */
  private block: { start: number; bytes: Buffer } | undefined;
  private lastOffset = -Infinity;

  private constructor(file: string, entries = new Map<string, Entry>()) {
    this.file = file;
    this.entries = entries;
  }

  /** Reads `file` once, validating every line as a batch output line (file:line on error). */
  static async open(file: string): Promise<ReplayIndex> {
    const index = new ReplayIndex(file);
    for await (const { line, bytes, offset } of readRawLines(createReadStream(file, { highWaterMark: 1 << 20 }))) {
      // A certain success is known from the byte scan; anything else is parsed and validated in full.
      let customId = scanSuccessfulOutput(bytes);
      let ok = true;
      if (customId === undefined) {
        let value: unknown;
        try {
          value = JSON.parse(lineText(bytes));
        } catch {
          throw new RecordValidationError({ file, line }, "batch output line", [{ path: "", message: "not valid JSON" }]);
        }
        const parsed = BatchOutput.safeParse(value);
        if (!parsed.success) throw new RecordValidationError({ file, line }, "batch output line", flattenIssues(parsed.error));
        customId = parsed.data.custom_id;
        ok = isSuccess(parsed.data);
      }
      const seen = index.entries.get(customId);
      if (seen && seen.ok && !ok) continue;
      // The line's text, as lineText reads it: without the \r of a CRLF ending.
      index.entries.set(customId, { offset, bytes: bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length, ok });
    }
    index.handle = await open(file, "r");
    return index;
  }

  /**
   * An index of `file` from the entries its writer kept while appending to it (no pass over the
   * file). The caller vouches for them: every line validated, a later failure not kept over a success.
   */
  static async fromEntries(file: string, entries: Map<string, ReplayEntry>): Promise<ReplayIndex> {
    const index = new ReplayIndex(file, entries);
    index.handle = await open(file, "r");
    return index;
  }

  get size(): number {
    return this.entries.size;
  }

  has(customId: string): boolean {
    return this.entries.has(customId);
  }

  /** True when the line kept for `customId` is a success. */
  succeeded(customId: string): boolean {
    return this.entries.get(customId)?.ok === true;
  }

  /** The ids in the file. */
  ids(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** The recorded line's text for `customId`, exactly as in the file, or undefined. */
  async getText(customId: string): Promise<string | undefined> {
    const entry = this.entries.get(customId);
    if (!entry || !this.handle) return undefined;
    const block = this.block;
    if (block && entry.offset >= block.start && entry.offset + entry.bytes <= block.start + block.bytes.length) {
      return block.bytes.toString("utf8", entry.offset - block.start, entry.offset - block.start + entry.bytes);
    }
    // Lookups close to the one before (a pass in about file order, as the runners' final merges are)
    // read a block around the line, so the next ones come from memory; others read just the line.
    const near = Math.abs(entry.offset - this.lastOffset) <= READ_AHEAD && entry.bytes <= READ_AHEAD / 2;
    this.lastOffset = entry.offset;
    if (near) {
      const start = Math.max(0, entry.offset - READ_AHEAD / 4);
      const buf = Buffer.allocUnsafe(READ_AHEAD);
      const { bytesRead } = await this.handle.read(buf, 0, READ_AHEAD, start);
      this.block = { start, bytes: buf.subarray(0, bytesRead) };
      if (entry.offset + entry.bytes <= start + bytesRead) return buf.toString("utf8", entry.offset - start, entry.offset - start + entry.bytes);
    }
    const buf = Buffer.allocUnsafe(entry.bytes);
    await this.handle.read(buf, 0, entry.bytes, entry.offset);
    return buf.toString("utf8");
  }

  /** The recorded line for `customId`, or undefined. */
  async get(customId: string): Promise<BatchOutput | undefined> {
    const text = await this.getText(customId);
    return text === undefined ? undefined : (JSON.parse(text) as BatchOutput);
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    this.block = undefined;
  }
}

/**
 * The line to keep for `customId` across recordings in time order: the latest success, else the
 * latest failure, else undefined. `ok` says which.
 */
export async function latestAnswer(indexes: readonly ReplayIndex[], customId: string): Promise<{ text: string; ok: boolean } | undefined> {
  let failure: string | undefined;
  for (let i = indexes.length - 1; i >= 0; i--) {
    const index = indexes[i]!;
    if (!index.has(customId)) continue;
    if (index.succeeded(customId)) return { text: (await index.getText(customId))!, ok: true };
    failure ??= await index.getText(customId);
  }
  return failure === undefined ? undefined : { text: failure, ok: false };
}

/** The failure code of an output line: its error code, else `http_<status>`. */
export function failureCode(line: BatchOutput): string {
  return line.error?.code ?? (line.response ? `http_${line.response.status_code}` : "unknown");
}

/** Counts of a merged output. */
export interface AnswerTally {
  succeeded: number;
  failed: number;
  byCode: Record<string, number>;
}

/**
 * The output line to write for `customId` (see `latestAnswer`), counted into `tally`. With no
 * recorded answer: a `missing_result` failure line saying `missing`, or undefined when `missing` is null.
 */
export async function mergedLine(indexes: readonly ReplayIndex[], customId: string, tally: AnswerTally, missing: string | null): Promise<string | undefined> {
  const answer = await latestAnswer(indexes, customId);
  if (answer?.ok) {
    tally.succeeded++;
    return answer.text;
  }
  if (answer === undefined && missing === null) return undefined;
  const text = answer?.text ?? JSON.stringify({ id: "batchline_missing_result", custom_id: customId, response: null, error: { code: "missing_result", message: missing } });
  const code = failureCode(JSON.parse(text) as BatchOutput);
  tally.byCode[code] = (tally.byCode[code] ?? 0) + 1;
  tally.failed++;
  return text;
}
