/**
 * Finds top-level keys of a JSON object in its UTF-8 bytes without building the object: the fast
 * path of the commands that copy lines unchanged (slice, demux, merge, retry, coverage, the
 * validate join). The whole line is walked, so structure is checked (brackets balanced, strings
 * closed, keys, colons, commas, numbers and literals in place), but string contents are skipped
 * with `indexOf('"')`, so a 300 KB prompt costs a memchr, not a parse. What the scan does not check
 * is inside strings: control characters and escape sequences. Whenever it cannot be sure (a key
 * written with escapes, nesting deeper than MAX_DEPTH, a line that is not an object, a structure
 * error) it answers `undefined`, and the caller parses the line with JSON.parse instead, which then
 * gives the same value or the same error message as before. A key given twice keeps its last
 * value, as JSON.parse does.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 256;

/** Where a value lies in the scanned bytes: `[start, end)`, from its first byte to just past its last. */
export interface ValueSpan {
  start: number;
  end: number;
}

/** Keys to look for, encoded once: build with `keySet(["custom_id"])` and reuse it for every line. */
export interface KeySet {
  names: readonly string[];
  bytes: readonly Buffer[];
}

/** Encodes the keys a scan looks for. */
export function keySet(names: readonly string[]): KeySet {
  return { names, bytes: names.map((n) => Buffer.from(n, "utf8")) };
}

class Unsure extends Error {}
const UNSURE = new Unsure();

const EMPTY = Buffer.alloc(0);
let buf: Buffer = EMPTY;
let pos = 0;
let end = 0;

function isWs(b: number | undefined): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function skipWs(): void {
  while (pos < end && isWs(buf[pos])) pos++;
}

/** At `"`: moves past the closing quote. */
function skipString(): void {
  const open = pos;
  let from = pos + 1;
  // Short strings (keys, ids, numbers as text) end within a few bytes: a loop beats a call into indexOf.
  const near = Math.min(from + 32, end);
  for (let i = from; i < near; i++) {
    const b = buf[i];
    if (b === BACKSLASH) break;
    if (b === QUOTE) {
      pos = i + 1;
      return;
    }
  }
  for (;;) {
    const q = buf.indexOf(QUOTE, from);
    if (q === -1 || q >= end) throw UNSURE;
    let b = q - 1;
    while (b > open && buf[b] === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) {
      pos = q + 1;
      return;
    }
    from = q + 1;
  }
}

/** True when `word` is at `bytes[at, at + word.length)`. */
function bytesAt(word: Buffer, at: number): boolean {
  for (let i = 0; i < word.length; i++) if (buf[at + i] !== word[i]) return false;
  return true;
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

function skipNumber(): void {
  if (buf[pos] === 0x2d) pos++;
  if (buf[pos] === 0x30) pos++;
  else if (isDigit(buf[pos])) while (isDigit(buf[pos]) && pos < end) pos++;
  else throw UNSURE;
  if (buf[pos] === 0x2e) {
    pos++;
    if (!isDigit(buf[pos])) throw UNSURE;
    while (isDigit(buf[pos]) && pos < end) pos++;
  }
  if (buf[pos] === 0x65 || buf[pos] === 0x45) {
    pos++;
    if (buf[pos] === 0x2b || buf[pos] === 0x2d) pos++;
    if (!isDigit(buf[pos])) throw UNSURE;
    while (isDigit(buf[pos]) && pos < end) pos++;
  }
  if (pos > end) throw UNSURE;
}

const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const NULL = Buffer.from("null");

function skipLiteral(word: Buffer): void {
  if (pos + word.length > end || !bytesAt(word, pos)) throw UNSURE;
  pos += word.length;
}

function skipValue(depth: number): void {
  switch (buf[pos]) {
    case QUOTE:
      skipString();
      return;
    case 0x7b: // {
      skipObject(depth + 1, undefined, undefined);
      return;
    case 0x5b: // [
      skipArray(depth + 1);
      return;
    case 0x74:
      skipLiteral(TRUE);
      return;
    case 0x66:
      skipLiteral(FALSE);
      return;
    case 0x6e:
      skipLiteral(NULL);
      return;
    default:
      skipNumber();
  }
}

function skipArray(depth: number): void {
  if (depth > MAX_DEPTH) throw UNSURE;
  pos++;
  skipWs();
  if (buf[pos] === 0x5d) {
    pos++;
    return;
  }
  for (;;) {
    skipWs();
    if (pos >= end) throw UNSURE;
    skipValue(depth);
    skipWs();
    const b = buf[pos++];
    if (b === 0x5d) return;
    if (b !== 0x2c || pos > end) throw UNSURE;
  }
}

/** Walks an object at `{`; with `keys`, records in `found` where each wanted key's value lies. */
function skipObject(depth: number, keys: KeySet | undefined, found: (ValueSpan | undefined)[] | undefined): void {
  if (depth > MAX_DEPTH) throw UNSURE;
  pos++;
  skipWs();
  if (buf[pos] === 0x7d) {
    pos++;
    return;
  }
  for (;;) {
    skipWs();
    if (buf[pos] !== QUOTE || pos >= end) throw UNSURE;
    const keyStart = pos + 1;
    skipString();
    const keyEnd = pos - 1;
    let slot = -1;
    if (keys) {
      // A key spelled with escapes could be any of ours: let JSON.parse decide.
      for (let i = keyStart; i < keyEnd; i++) if (buf[i] === BACKSLASH) throw UNSURE;
      const len = keyEnd - keyStart;
      for (let k = 0; k < keys.bytes.length; k++) {
        const want = keys.bytes[k]!;
        if (want.length === len && bytesAt(want, keyStart)) {
          slot = k;
          break;
        }
      }
    }
    skipWs();
    if (buf[pos] !== 0x3a) throw UNSURE;
    pos++;
    skipWs();
    if (pos >= end) throw UNSURE;
    const valueStart = pos;
    skipValue(depth);
    if (slot !== -1) found![slot] = { start: valueStart, end: pos };
    skipWs();
    const b = buf[pos++];
    if (b === 0x7d) return;
    if (b !== 0x2c || pos > end) throw UNSURE;
  }
}

/**
 * Scans the JSON object in `bytes[from, to)` for the top-level `keys`. Returns one span per key
 * (undefined where the key is absent), or undefined when the scan cannot be sure: the caller
 * then parses the bytes in full.
 */
export function scanKeys(bytes: Buffer, keys: KeySet, from = 0, to = bytes.length): (ValueSpan | undefined)[] | undefined {
  buf = bytes;
  pos = from;
  end = to;
  try {
    skipWs();
    if (buf[pos] !== 0x7b) return undefined;
    const found: (ValueSpan | undefined)[] = new Array(keys.bytes.length).fill(undefined);
    skipObject(1, keys, found);
    skipWs();
    return pos === end ? found : undefined;
  } catch (err) {
    if (err === UNSURE) return undefined;
    throw err;
  } finally {
    buf = EMPTY; // the scanned line is not kept alive
  }
}

/** The string at `span`, decoded (escapes included), or undefined when the value is not a string. */
export function stringAt(bytes: Buffer, span: ValueSpan | undefined): string | undefined {
  if (!span || bytes[span.start] !== QUOTE) return undefined;
  let escaped = false;
  if (span.end - span.start <= 64) for (let i = span.start + 1; i < span.end - 1 && !escaped; i++) escaped = bytes[i] === BACKSLASH;
  else escaped = bytes.subarray(span.start, span.end).indexOf(BACKSLASH) !== -1;
  if (!escaped) return bytes.toString("utf8", span.start + 1, span.end - 1);
  return JSON.parse(bytes.toString("utf8", span.start, span.end)) as string;
}

/** True when the value at `span` is the literal `null`. */
export function isNullAt(bytes: Buffer, span: ValueSpan | undefined): boolean {
  return span !== undefined && span.end - span.start === 4 && bytes[span.start] === 0x6e;
}

/** The number at `span`, or undefined when the value is not a number. */
export function numberAt(bytes: Buffer, span: ValueSpan | undefined): number | undefined {
  if (!span) return undefined;
  const b = bytes[span.start];
  if (b !== 0x2d && !isDigit(b)) return undefined;
  return Number(bytes.toString("latin1", span.start, span.end));
}

/** True when the value at `span` is an object. */
export function isObjectAt(bytes: Buffer, span: ValueSpan | undefined): boolean {
  return span !== undefined && bytes[span.start] === 0x7b;
}
