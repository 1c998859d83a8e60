/**
 * Merging new lines into a JSONL results file by key, without holding the lines in memory: both
 * files are scanned once for (key, score, offset), the winner per key is chosen (higher score,
 * then the newer file), and the result is written atomically in byte order of key, each line read
 * back by its offset. Re-merging the same additions gives the same bytes.
 */
import { createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes } from "../core/custom-id.ts";
import { joinRawLines, lineText, readRawLines } from "../core/jsonl.ts";
import { keySet } from "../core/key-scan.ts";
import { scanFields } from "../core/line-ids.ts";

/** How lines are keyed and ranked; keys in `drop` are removed from the result. */
export interface MergeSpec {
  /**
   * The top-level fields `key` and `score` read. With it, each line is scanned for just these
   * (core/key-scan.ts) and `key`/`score` get an object of them; a line is parsed in full only
   * when the scan is unsure. Without it, every line is parsed.
   */
  fields?: readonly string[];
  key: (value: any) => string;
  /** Higher wins over lower; on a tie the additions win (default: every line scores 0). */
  score?: (value: any) => number;
  drop?: ReadonlySet<string>;
}

interface Entry {
  source: number;
  offset: number;
  bytes: number;
  score: number;
}

async function scan(path: string, source: number, spec: MergeSpec, into: Map<string, Entry>): Promise<boolean> {
  const fields = spec.fields && keySet(spec.fields);
  try {
    for await (const { bytes, offset } of readRawLines(createReadStream(path, { highWaterMark: 1 << 20 }))) {
      const value = fields ? scanFields(bytes, fields) : JSON.parse(lineText(bytes));
      const key = spec.key(value);
      // A CRLF line is copied without its \r, as the line's text.
      const length = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
      const entry = { source, offset, bytes: length, score: spec.score?.(value) ?? 0 };
      const old = into.get(key);
      if (!old || entry.score >= old.score) into.set(key, entry);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** Merges `additions` into `target` (which may not exist yet); returns the number of lines written. */
export async function mergeJsonlByKey(target: string, additions: string, spec: MergeSpec): Promise<number> {
  const entries = new Map<string, Entry>();
  await scan(target, 0, spec, entries);
  await scan(additions, 1, spec, entries);
  for (const key of spec.drop ?? []) entries.delete(key);
  const keys = [...entries.keys()].sort(compareBytes);
  const handles: (FileHandle | undefined)[] = [];
  try {
    handles[0] = await open(target, "r").catch(() => undefined);
    handles[1] = await open(additions, "r").catch(() => undefined);
    // Lines go back out as the bytes they were read as: decoding and re-encoding them is the cost of a merge.
    async function* lines(): AsyncGenerator<Buffer> {
      for (const key of keys) {
        const e = entries.get(key)!;
        const buf = Buffer.allocUnsafe(e.bytes);
        await handles[e.source]!.read(buf, 0, e.bytes, e.offset);
        yield buf;
      }
    }
    await writeFileAtomic(target, joinRawLines(lines()));
  } finally {
    await Promise.all(handles.map((h) => h?.close()));
  }
  return keys.length;
}
