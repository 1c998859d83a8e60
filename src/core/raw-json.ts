/**
 * JSON encoded elsewhere: proc_step2's worker threads encode whole-file texts to UTF-8 JSON bytes
 * (`encodeJson`) and hand the bytes over without a copy; a record holding them as `EncodedJson`
 * is written by `jsonLine`, which splices the bytes in, so the main thread neither decodes nor
 * encodes a whole file.
 */
import { randomUUID } from "node:crypto";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// While jsonLine stringifies a record, the encoded values it meets, in order.
let collecting: Uint8Array[] | undefined;

/** A value's JSON text as UTF-8 bytes (`jsonLine` writes them as they are; JSON.stringify decodes them). */
export class EncodedJson {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  toJSON(): unknown {
    if (!collecting) return JSON.parse(decoder.decode(this.bytes)); // stringified elsewhere: still the right JSON
    collecting.push(this.bytes);
    return MARK;
  }
}

/** `JSON.stringify(value)` as UTF-8 bytes in an ArrayBuffer of their own (transferable to another thread). */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

// Stands for an EncodedJson while the rest of the record is stringified; no real string holds it.
const MARK = `\u0000encoded-json-${randomUUID()}`;
const QUOTED_MARK = JSON.stringify(MARK);
const NEWLINE = Buffer.from("\n");

/** `JSON.stringify(value) + "\n"` as UTF-8, each `EncodedJson` in `value` written as its bytes. */
export function jsonLine(value: unknown): Buffer {
  const parts = jsonLineParts(value);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** `jsonLine` as the pieces it is made of, in order (the encoded values themselves among them, not copied). */
export function jsonLineParts(value: unknown): Uint8Array[] {
  // No replacer function: with one, JSON.stringify leaves its fast path for every value of the record.
  const encoded: Uint8Array[] = [];
  collecting = encoded;
  let text: string;
  try {
    text = JSON.stringify(value);
  } finally {
    collecting = undefined;
  }
  if (encoded.length === 0) return [Buffer.from(`${text}\n`)];
  const pieces = text.split(QUOTED_MARK);
  const out: Uint8Array[] = [];
  pieces.forEach((piece, i) => {
    out.push(Buffer.from(piece));
    if (i < encoded.length) out.push(encoded[i]!);
  });
  out.push(NEWLINE);
  return out;
}
