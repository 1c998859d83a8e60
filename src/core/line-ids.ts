/**
 * The id of every line of a JSONL file, for commands that copy lines unchanged: `custom_id` (or
 * `instance_id` for dataset rows) found by the byte scan of key-scan.ts, with JSON.parse only
 * when the scan is not sure. The line's bytes come along so they can be written back as they
 * were, `\r` of a CRLF ending included.
 */
import { JsonlParseError } from "./errors.ts";
import { type RawJsonlLine, lineText, readRawLines } from "./jsonl.ts";
import { type KeySet, isNullAt, isObjectAt, keySet, numberAt, scanKeys, stringAt } from "./key-scan.ts";

/** A raw line and its ids: each is the key's string value, or undefined when absent or not a string. */
export interface IdLine extends RawJsonlLine {
  customId: string | undefined;
  instanceId: string | undefined;
}

/** What `readLineIds` takes: the file name used in errors, and what to do with a line that is not JSON. */
export interface ReadLineIdsOptions {
  file: string;
  /** Called for a line that is not valid JSON; the line is then skipped. Without it, the error is thrown. */
  onBadLine?: (error: JsonlParseError, text: string) => void;
}

const ID_KEYS = keySet(["custom_id", "instance_id"]);

/** The ids of one line by the byte scan; undefined when only a full parse can tell. */
export function scanIds(bytes: Buffer): { customId: string | undefined; instanceId: string | undefined } | undefined {
  const spans = scanKeys(bytes, ID_KEYS);
  if (!spans) return undefined;
  return { customId: stringAt(bytes, spans[0]), instanceId: stringAt(bytes, spans[1]) };
}

function stringField(value: unknown, key: string): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = (value as Record<string, unknown>)[key];
  return typeof v === "string" ? v : undefined;
}

/** Parses a line the scan was not sure of; throws (or reports) the same error `readJsonl` gives. */
export function parseRawLine(raw: RawJsonlLine, options: ReadLineIdsOptions): { ok: true; value: unknown } | { ok: false } {
  const text = lineText(raw.bytes);
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (cause) {
    const err = new JsonlParseError({ file: options.file, line: raw.line }, `not valid JSON (${(cause as Error).message})`, { cause });
    if (!options.onBadLine) throw err;
    options.onBadLine(err, text);
    return { ok: false };
  }
}

/**
 * Some top-level fields of a line as an object (absent fields left out), by the byte scan; when
 * the scan is unsure, the whole parsed line (a JSON.parse error is thrown as is).
 */
export function scanFields(bytes: Buffer, fields: KeySet): Record<string, unknown> {
  const spans = scanKeys(bytes, fields);
  if (!spans) return JSON.parse(lineText(bytes)) as Record<string, unknown>;
  const value: Record<string, unknown> = {};
  spans.forEach((span, i) => {
    if (span) value[fields.names[i]!] = stringAt(bytes, span) ?? JSON.parse(bytes.toString("utf8", span.start, span.end));
  });
  return value;
}

/** Every non-blank line with its ids, in file order. */
export async function* readLineIds(source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, options: ReadLineIdsOptions): AsyncGenerator<IdLine> {
  for await (const raw of readRawLines(source)) {
    const ids = scanIds(raw.bytes);
    if (ids) {
      yield { ...raw, ...ids };
      continue;
    }
    const parsed = parseRawLine(raw, options);
    if (!parsed.ok) continue;
    yield { ...raw, customId: stringField(parsed.value, "custom_id"), instanceId: stringField(parsed.value, "instance_id") };
  }
}

/** The id slice and demux go by: the custom_id, or the instance_id of a dataset row. */
export function idOf(line: IdLine): string | undefined {
  return line.customId ?? line.instanceId;
}

const OUTPUT_KEYS = keySet(["id", "custom_id", "response", "error"]);
const RESPONSE_KEYS = keySet(["status_code", "request_id", "body"]);

/**
 * The custom_id of a batch output line that is certainly valid and successful (what
 * `BatchOutput.safeParse` accepts and `isSuccess` calls a success: string id, non-empty custom_id,
 * `error: null`, a response with status_code 200, a string request_id and a body), found by the byte scan.
 * Undefined for anything else, failures included: those lines are parsed and validated in full.
 */
export function scanSuccessfulOutput(bytes: Buffer): string | undefined {
  const top = scanKeys(bytes, OUTPUT_KEYS);
  if (!top) return undefined;
  const [id, customIdSpan, response, error] = top;
  const customId = stringAt(bytes, customIdSpan);
  if (stringAt(bytes, id) === undefined || !customId || !isNullAt(bytes, error) || !isObjectAt(bytes, response)) return undefined;
  const inner = scanKeys(bytes, RESPONSE_KEYS, response!.start, response!.end);
  if (!inner || numberAt(bytes, inner[0]) !== 200 || stringAt(bytes, inner[1]) === undefined || inner[2] === undefined) return undefined;
  return customId;
}

let outputSchema: typeof import("../../schemas/openai-batch-output.ts") | undefined;

/** An output line as a join by custom_id needs it: its id (if a string) and whether it is a valid success. */
export interface AnswerLine {
  line: number;
  value: { custom_id?: string; succeeded: boolean };
}

/**
 * The custom_id and success of every line of a batch output file: successes by the byte scan,
 * anything else parsed and validated in full. Lines that are not JSON are skipped (a file check
 * reports them on its own pass).
 */
export async function* readAnswerLines(source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, file: string): AsyncGenerator<AnswerLine> {
  for await (const raw of readRawLines(source)) {
    const id = scanSuccessfulOutput(raw.bytes);
    if (id !== undefined) {
      yield { line: raw.line, value: { custom_id: id, succeeded: true } };
      continue;
    }
    const parsed = parseRawLine(raw, { file, onBadLine: () => {} });
    if (!parsed.ok) continue;
    // The schema (and zod) only for lines the scan could not call a success: slice and demux never load it.
    const { BatchOutput, isSuccess } = (outputSchema ??= await import("../../schemas/openai-batch-output.ts"));
    const output = BatchOutput.safeParse(parsed.value);
    const customId = stringField(parsed.value, "custom_id");
    yield { line: raw.line, value: { ...(customId === undefined ? {} : { custom_id: customId }), succeeded: output.success && isSuccess(output.data) } };
  }
}

/** Request lines as a join by custom_id needs them: line number and id, by the byte scan. */
export async function* readRequestIds(source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, file: string): AsyncGenerator<{ line: number; value: { custom_id?: string } }> {
  for await (const rec of readLineIds(source, { file, onBadLine: () => {} })) {
    yield { line: rec.line, value: rec.customId === undefined ? {} : { custom_id: rec.customId } };
  }
}
