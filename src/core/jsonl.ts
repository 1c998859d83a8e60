/**
 * Streaming JSONL: `readJsonlLines` splits bytes into lines with 1-based physical line numbers
 * (blank lines counted and skipped, CRLF and a missing final newline accepted, UTF-8 split across
 * chunks handled by splitting bytes before decoding); `readJsonl` parses them; `toJsonl` and
 * `writeChunks` go the other way with backpressure.
 */
import type { Writable } from "node:stream";
import { JsonlParseError, type Location } from "./errors.ts";

/** One non-blank line: its 1-based physical line number, its text (no `\n`, no `\r`) and the byte offset where that text starts. */
export interface JsonlLine {
  line: number;
  text: string;
  offset: number;
}

/** One parsed line; `text` is the raw line, for writers that pass records through unchanged. */
export interface JsonlRecord<T = unknown> extends JsonlLine {
  value: T;
}

/** What `readJsonl` takes: the file name used in errors, and what to do with a bad line. */
export interface ReadJsonlOptions {
  file: string;
  /** Called for a line that is not valid JSON; the line is then skipped. Without it, the error is thrown. */
  onBadLine?: (error: JsonlParseError, text: string) => void;
}

type Chunk = Uint8Array | string;

const NEWLINE = 10;
const CR = 13;

function toBuffer(chunk: Chunk): Buffer {
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  if (Buffer.isBuffer(chunk)) return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** 3 when a UTF-8 byte order mark starts the file at `start`, else 0: it is not part of the first record. */
function bomLength(bytes: Buffer, start: number, end: number, first: boolean): number {
  return first && end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf ? 3 : 0;
}

/** One non-blank line as bytes, for commands that copy lines unchanged: no `\n`, a `\r` before it kept, a leading BOM not. */
export interface RawJsonlLine {
  line: number;
  bytes: Buffer;
  offset: number;
}

function isAsciiSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

/** True for a line that is empty or only whitespace (as String.prototype.trim sees it). */
function isBlankBytes(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (isAsciiSpace(b)) continue;
    if (b < 0x80) return false;
    return bytes.toString("utf8", i).trim().length === 0; // non-ASCII spaces (NBSP, U+2028, ...): rare
  }
  return true;
}

/** Splits a byte stream into non-blank lines of bytes, numbering every physical line from 1. */
export async function* readRawLines(source: AsyncIterable<Chunk> | Iterable<Chunk>): AsyncGenerator<RawJsonlLine> {
  for await (const batch of readRawLineBatches(source)) yield* batch;
}

/**
 * `readRawLines` one chunk of the source at a time: the lines that end in each chunk as one array.
 * A consumer that loops over the array pays one asynchronous step per chunk (a 1 MiB read holds
 * thousands of short lines), not one per line.
 */
export async function* readRawLineBatches(source: AsyncIterable<Chunk> | Iterable<Chunk>): AsyncGenerator<RawJsonlLine[]> {
  let pending: Buffer[] = [];
  let line = 0;
  let offset = 0; // byte offset of the start of the current line
  const emit = (bytes: Buffer): RawJsonlLine | undefined => {
    const bom = bomLength(bytes, 0, bytes.length, line === 1);
    const body = bom === 0 ? bytes : bytes.subarray(bom);
    return isBlankBytes(body) ? undefined : { line, bytes: body, offset: offset + bom };
  };
  for await (const chunk of source) {
    const buf = toBuffer(chunk);
    const batch: RawJsonlLine[] = [];
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf(NEWLINE, start)) !== -1) {
      line++;
      let bytes = buf.subarray(start, nl);
      if (pending.length > 0) {
        pending.push(bytes);
        bytes = Buffer.concat(pending);
        pending = [];
      }
      const raw = emit(bytes);
      if (raw) batch.push(raw);
      offset += bytes.length + 1;
      start = nl + 1;
    }
    if (start < buf.length) pending.push(buf.subarray(start));
    if (batch.length > 0) yield batch;
  }
  if (pending.length > 0) {
    line++;
    const raw = emit(Buffer.concat(pending));
    if (raw) yield [raw];
  }
}

/** A raw line's text: UTF-8 decoded, without the `\r` of a CRLF ending. */
export function lineText(bytes: Buffer): string {
  return bytes.toString("utf8", 0, bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length);
}

/** Splits a byte stream into non-blank lines, numbering every physical line from 1. */
export async function* readJsonlLines(source: AsyncIterable<Chunk> | Iterable<Chunk>): AsyncGenerator<JsonlLine> {
  for await (const { line, bytes, offset } of readRawLines(source)) yield { line, text: lineText(bytes), offset };
}

/** Parses each non-blank line as JSON; a bad line throws `JsonlParseError` naming file and line. */
export async function* readJsonl<T = unknown>(source: AsyncIterable<Chunk> | Iterable<Chunk>, options: ReadJsonlOptions): AsyncGenerator<JsonlRecord<T>> {
  for await (const batch of readJsonlBatches<T>(source, options)) yield* batch;
}

/** `readJsonl` one chunk of the source at a time (see `readRawLineBatches`). */
export async function* readJsonlBatches<T = unknown>(source: AsyncIterable<Chunk> | Iterable<Chunk>, options: ReadJsonlOptions): AsyncGenerator<JsonlRecord<T>[]> {
  for await (const raws of readRawLineBatches(source)) {
    const batch: JsonlRecord<T>[] = [];
    for (const { line, bytes, offset } of raws) {
      const text = lineText(bytes);
      let value: T;
      try {
        value = JSON.parse(text) as T;
      } catch (cause) {
        const err = new JsonlParseError({ file: options.file, line }, `not valid JSON (${(cause as Error).message})`, { cause });
        // The good lines before this one go first, as they would one by one: the caller may stop at one of them.
        if (batch.length > 0) yield batch.splice(0);
        if (!options.onBadLine) throw err;
        options.onBadLine(err, text);
        continue;
      }
      batch.push({ line, text, offset, value });
    }
    if (batch.length > 0) yield batch;
  }
}

/** Where a parsed line is: file, line, and its custom_id when it has one. */
export function locationOf(file: string, record: { line: number; value: unknown }): Location {
  const customId = customIdOf(record.value);
  return customId === undefined ? { file, line: record.line } : { file, line: record.line, customId };
}

/** The custom_id of a parsed line, if it is an object with a string `custom_id`. */
export function customIdOf(value: unknown): string | undefined {
  if (typeof value === "object" && value !== null) {
    const id = (value as { custom_id?: unknown }).custom_id;
    if (typeof id === "string") return id;
  }
  return undefined;
}

/** The id of a parsed line: its custom_id, or its instance_id for dataset rows. */
export function recordIdOf(value: unknown): string | undefined {
  const id = customIdOf(value);
  if (id !== undefined || typeof value !== "object" || value === null) return id;
  const instance = (value as { instance_id?: unknown }).instance_id;
  return typeof instance === "string" ? instance : undefined;
}

const BATCH_CHARS = 1 << 16;

/** Serializes values one per line, grouping small lines into chunks of about 64 KiB. */
export async function* toJsonl(values: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<string> {
  yield* joinLines(mapIterable(values, (v) => JSON.stringify(v)));
}

/** Appends `\n` to each line and groups small lines into chunks of about 64 KiB. */
export async function* joinLines(lines: AsyncIterable<string> | Iterable<string>): AsyncGenerator<string> {
  let parts: string[] = [];
  let size = 0;
  for await (const text of lines) {
    if (text.length >= BATCH_CHARS) {
      // A big line goes out as it is: joining would copy it only to be encoded again by the writer.
      if (parts.length > 0) yield parts.join("");
      parts = [];
      size = 0;
      yield text;
      yield "\n";
      continue;
    }
    parts.push(text, "\n");
    size += text.length + 1;
    if (size >= BATCH_CHARS) {
      yield parts.join("");
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield parts.join("");
}

const NEWLINE_BYTES = Buffer.from("\n");
const BATCH_BYTES = 1 << 20;

/** Appends `\n` to each raw line (so a last line without one gets it) and groups small lines into chunks of about 1 MiB. */
export async function* joinRawLines(lines: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const bytes of lines) {
    if (bytes.length >= BATCH_CHARS) {
      if (parts.length > 0) yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
      yield bytes;
      yield NEWLINE_BYTES;
      continue;
    }
    parts.push(bytes, NEWLINE_BYTES);
    size += bytes.length + 1;
    if (size >= BATCH_BYTES) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield Buffer.concat(parts, size);
}

async function* mapIterable<A, B>(items: AsyncIterable<A> | Iterable<A>, fn: (a: A) => B): AsyncGenerator<B> {
  for await (const a of items) yield fn(a);
}

/** Resolves on `drain`; rejects on `error` or on `close` before draining. Listeners are removed either way. */
export function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off("drain", onDrain);
      stream.off("error", onError);
      stream.off("close", onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(Object.assign(new Error("output stream closed before all data was written"), { code: "EPIPE" }));
    };
    stream.on("drain", onDrain);
    stream.on("error", onError);
    stream.on("close", onClose);
  });
}

/** Writes chunks to a stream, waiting for `drain` when it is full; does not end the stream. */
export async function writeChunks(stream: Writable, chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): Promise<void> {
  let failure: Error | undefined;
  const onError = (err: Error) => {
    failure = err;
  };
  stream.on("error", onError);
  try {
    for await (const chunk of chunks) {
      if (failure) throw failure;
      if (!stream.write(chunk)) await drained(stream);
    }
    if (failure) throw failure;
  } finally {
    stream.off("error", onError);
  }
}
