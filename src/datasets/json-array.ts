/**
 * Streams the items of a top-level JSON array (`[{...}, {...}]`) without loading the document:
 * a byte scanner finds where each item starts and ends (strings, escapes and nesting tracked;
 * string contents are skipped with a memchr for the next quote; every structural character is
 * ASCII, so UTF-8 split across chunks is safe), then `JSON.parse`
 * checks and builds that one item. Memory is bounded by the largest item, not the file.
 * Items carry their 1-based position and the 1-based line they start on.
 */
import { JsonlParseError } from "../core/errors.ts";

/** One array item: its 1-based position, the 1-based line where it starts, and its parsed value. */
export interface JsonArrayItem {
  row: number;
  line: number;
  value: unknown;
}

type Chunk = Uint8Array | string;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const BOM = [0xef, 0xbb, 0xbf];

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function toBuffer(chunk: Chunk): Buffer {
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  if (Buffer.isBuffer(chunk)) return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function describe(b: number): string {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `byte 0x${b.toString(16)}`;
}

// Scanner phases: before `[`, before an item (or `]`), inside an item, after an item (`,` or `]`), after `]`.
const BEFORE_ARRAY = 0;
const BEFORE_ITEM = 1;
const IN_ITEM = 2;
const AFTER_ITEM = 3;
const DONE = 4;

/** Yields the items of a JSON array read from a byte stream; `file` names it in errors (`file:line: ...`). */
export async function* readJsonArray(source: AsyncIterable<Chunk> | Iterable<Chunk>, options: { file: string }): AsyncGenerator<JsonArrayItem> {
  const fail = (line: number, what: string): never => {
    throw new JsonlParseError({ file: options.file, line }, what);
  };
  let phase = BEFORE_ARRAY;
  let line = 1;
  let row = 0;
  let consumed = 0; // bytes seen before the current chunk
  // State of the item being collected.
  let parts: Buffer[] = [];
  let itemLine = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let scalar = false;

  const finishItem = (): JsonArrayItem => {
    const text = Buffer.concat(parts).toString("utf8");
    parts = [];
    row++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new JsonlParseError({ file: options.file, line: itemLine }, `item ${row} of the JSON array is not valid JSON (${(cause as Error).message})`, { cause });
    }
    return { row, line: itemLine, value };
  };

  for await (const chunk of source) {
    const buf = toBuffer(chunk);
    const offset = consumed;
    consumed += buf.length;
    let start = 0; // where the current item's bytes begin in `buf`
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i] as number;
      if (phase === IN_ITEM) {
        if (inString) {
          // Most of a row is string contents: jump to the next quote (a memchr) instead of a
          // byte loop. A raw newline cannot be inside a valid string, so none is counted there
          // (an item that has one fails JSON.parse, named by the line it starts on).
          if (escaped) {
            escaped = false;
            continue; // the escaped byte itself
          }
          const q = buf.indexOf(QUOTE, i);
          // The backslashes in front of the quote (or of the chunk's end) since `i`: an odd run escapes it.
          let run = 0;
          for (let k = (q === -1 ? buf.length : q) - 1; k >= i && buf[k] === BACKSLASH; k--) run++;
          if (q === -1) {
            escaped = run % 2 === 1;
            i = buf.length - 1;
            continue;
          }
          i = q;
          if (run % 2 === 1) continue; // an escaped quote: still inside the string
          inString = false;
          if (depth === 0) {
            parts.push(buf.subarray(start, i + 1));
            yield finishItem();
            phase = AFTER_ITEM;
          }
          continue;
        }
        if (b === NEWLINE) line++;
        if (scalar) {
          // A bare number or literal ends at a separator; the separator is handled below.
          if (b !== COMMA && b !== CLOSE_BRACKET && !isSpace(b)) continue;
          if (b === NEWLINE) line--; // counted again below
          parts.push(buf.subarray(start, i));
          yield finishItem();
          phase = AFTER_ITEM;
          scalar = false;
          i--;
          continue;
        }
        if (b === QUOTE) inString = true;
        else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
        else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
          depth--;
          if (depth === 0) {
            parts.push(buf.subarray(start, i + 1));
            yield finishItem();
            phase = AFTER_ITEM;
          }
        }
        continue;
      }
      if (b === NEWLINE) line++;
      if (isSpace(b)) continue;
      // A UTF-8 byte order mark (possibly split across chunks) is not part of the document.
      if (phase === BEFORE_ARRAY && offset + i < 3 && b === BOM[offset + i]) continue;
      if (phase === BEFORE_ARRAY) {
        if (b !== OPEN_BRACKET) fail(line, `expected a JSON array ('['), found ${describe(b)}`);
        phase = BEFORE_ITEM;
      } else if (phase === BEFORE_ITEM || phase === AFTER_ITEM) {
        if (b === CLOSE_BRACKET) {
          if (phase === BEFORE_ITEM && row > 0) fail(line, "trailing comma before ']'");
          phase = DONE;
        } else if (phase === AFTER_ITEM) {
          if (b !== COMMA) fail(line, `expected ',' or ']' after item ${row}, found ${describe(b)}`);
          phase = BEFORE_ITEM;
        } else {
          if (b === COMMA) fail(line, "unexpected ','");
          phase = IN_ITEM;
          itemLine = line;
          start = i;
          depth = 0;
          inString = b === QUOTE;
          escaped = false;
          scalar = false;
          if (b === OPEN_BRACE || b === OPEN_BRACKET) depth = 1;
          else if (b !== QUOTE) scalar = true;
        }
      } else {
        fail(line, `unexpected ${describe(b)} after the end of the JSON array`);
      }
    }
    if (phase === IN_ITEM) parts.push(buf.subarray(start));
  }
  if (phase === IN_ITEM && scalar) {
    yield finishItem();
    phase = AFTER_ITEM;
  }
  if (phase === BEFORE_ARRAY) fail(line, "empty file: expected a JSON array");
  if (phase !== DONE) fail(line, "the JSON array is not closed (file truncated?)");
}
