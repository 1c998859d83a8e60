/**
 * Dataset rows by name or path, streamed and checked. A spec ending in `.jsonl`, `.json` or
 * `.parquet` is a local file; anything else is a Hugging Face dataset id (src/datasets/hub.ts).
 * - `.jsonl`: read line by line (core/jsonl.ts), rows located by 1-based physical line.
 * - `.json`: a JSON array, streamed item by item (json-array.ts), located by row and start line;
 *   a `.json` file whose first character is `{` is JSON Lines (what `Dataset.to_json` writes).
 * - `.parquet` (local or hub): one row group at a time (parquet.ts), located by 1-based row; a
 *   file lacking a required column fails before its first row.
 * Every row is checked against the schema (SWE-bench by default): a row with absent or null
 * required fields fails as `test.parquet row 3 (instance_id=x): missing fields problem_statement`.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { z } from "zod";
import { SweBenchRow } from "../../schemas/swe-bench-row.ts";
import type { Issue } from "../core/errors.ts";
import { JsonlParseError, formatLocation } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { type DatasetLocation, DatasetError, DatasetRowError } from "./errors.ts";
import { type HubOptions, resolveHubSplit } from "./hub.ts";
import { readJsonArray } from "./json-array.ts";
import { openParquet, readParquetRows } from "./parquet.ts";

/** A parsed spec: a hub dataset id, or a local file and its format (from its extension). */
export type DatasetSpec = { kind: "hub"; dataset: string } | { kind: "local"; path: string; format: LocalFormat };

/** Local file formats, by extension. */
export type LocalFormat = "jsonl" | "json" | "parquet";

/** What `loadDataset` takes besides the spec. Hub fields are ignored for local files, and so is `split`. */
export interface LoadDatasetOptions<T> extends HubOptions {
  /** Hub split; default `test`. */
  split?: string;
  /** Hub branch, tag or commit; default `main`, falling back to the parquet conversion branch. */
  revision?: string;
  /** Hub config (subset); default `default`, or the only one there is. */
  config?: string;
  /** Row schema; default `SweBenchRow`. */
  schema?: z.ZodType<T>;
  /** Schema name in messages; default `SWE-bench row`. */
  schemaName?: string;
  /** Column that identifies a row in messages and in `indexById`; default `instance_id`. */
  idField?: string;
  /** With it, rows that fail the schema are reported here and skipped; without it, they throw. */
  onBadRow?: (error: DatasetRowError) => void;
}

/** One checked row and where it came from. */
export interface DatasetRecord<T> {
  value: T;
  at: DatasetLocation;
}

/** A row as read, before the schema check. */
export interface RawRecord {
  value: unknown;
  at: DatasetLocation;
}

const LOCAL_EXTENSIONS: Record<string, LocalFormat> = { ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet" };

const UNSUPPORTED = /\.(csv|tsv|txt|gz|bz2|xz|zst|zip|tar|arrow|feather)$/i;

/** Parses a spec: `.jsonl` / `.json` / `.parquet` paths (any case) are local, anything else a hub id; other data files are refused. */
export function parseDatasetSpec(spec: string): DatasetSpec {
  const lower = spec.toLowerCase();
  for (const [ext, format] of Object.entries(LOCAL_EXTENSIONS)) {
    if (lower.endsWith(ext)) return { kind: "local", path: spec, format };
  }
  if (UNSUPPORTED.test(spec)) {
    throw new DatasetError(spec, "bad-spec", `${spec}: unsupported file format (a local dataset must be .jsonl, .json or .parquet)`);
  }
  return { kind: "hub", dataset: spec };
}

/** Streams the rows of a dataset (hub id or local path) in file order, each checked and located; a row repeating an earlier row's id is a bad row naming both. */
export function loadDataset(spec: string, options?: LoadDatasetOptions<SweBenchRow>): AsyncGenerator<DatasetRecord<SweBenchRow>>;
export function loadDataset<T>(spec: string, options: LoadDatasetOptions<T> & { schema: z.ZodType<T> }): AsyncGenerator<DatasetRecord<T>>;
export async function* loadDataset<T>(spec: string, options: LoadDatasetOptions<T> = {}): AsyncGenerator<DatasetRecord<T>> {
  const schema = (options.schema ?? SweBenchRow) as z.ZodType<T>;
  const schemaName = options.schemaName ?? (options.schema ? "row" : "SWE-bench row");
  const idField = options.idField ?? "instance_id";
  const required = requiredKeys(schema);
  const parsed = parseDatasetSpec(spec);
  const raw =
    parsed.kind === "local"
      ? readLocal(parsed.path, parsed.format, required)
      : readHub(parsed.dataset, options, required);
  const seen = new Map<string, DatasetLocation>(); // ids only: a repeated id is refused where it is made
  for await (const record of raw) {
    let checked = checkRow(record, schema, schemaName, idField);
    if (!(checked instanceof DatasetRowError)) {
      const id = checked.at.instanceId;
      const first = id === undefined ? undefined : seen.get(id);
      if (first) checked = new DatasetRowError(checked.at, duplicateReason(idField, first));
      else if (id !== undefined) seen.set(id, checked.at);
    }
    if (checked instanceof DatasetRowError) {
      if (!options.onBadRow) throw checked;
      options.onBadRow(checked);
      continue;
    }
    yield checked;
  }
}

/** Checks one raw row against a schema: the checked record, or the error naming the row and its missing fields. */
export function checkRow<T>(record: RawRecord, schema: z.ZodType<T>, schemaName: string, idField: string): DatasetRecord<T> | DatasetRowError {
  const { value } = record;
  const at: DatasetLocation = { ...record.at };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return new DatasetRowError(at, `not a JSON object (a ${schemaName} must be an object)`);
  }
  const id = (value as Record<string, unknown>)[idField];
  if (typeof id === "string" && id !== "") at.instanceId = id;
  const result = schema.safeParse(value);
  if (result.success) return { value: result.data, at };
  const missing: string[] = [];
  const issues: Issue[] = [];
  for (const [i, issue] of flattenIssues(result.error).entries()) {
    const raw = result.error.issues[i];
    const key = raw?.path.length === 1 ? raw.path[0] : undefined;
    const given = typeof key === "string" ? (value as Record<string, unknown>)[key] : 0;
    if (typeof key === "string" && raw?.code === "invalid_type" && (given === undefined || given === null)) missing.push(key);
    else issues.push(issue);
  }
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`missing fields ${missing.join(", ")}`);
  if (issues.length > 0) parts.push(`not a valid ${schemaName}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`);
  return new DatasetRowError(at, parts.join("; "), { missing, issues });
}

function duplicateReason(idField: string, first: DatasetLocation): string {
  return `duplicate ${idField} (first seen at ${first.file}${first.line !== undefined ? `:${first.line}` : ""}${first.row !== undefined ? ` row ${first.row}` : ""})`;
}

/** Maps each row's id (`instance_id` by default) to its row; a repeated or missing id throws, naming both rows. */
export async function indexById<T>(records: AsyncIterable<DatasetRecord<T>> | Iterable<DatasetRecord<T>>, options: { idField?: string } = {}): Promise<Map<string, T>> {
  const idField = options.idField ?? "instance_id";
  const index = new Map<string, T>();
  const seen = new Map<string, DatasetLocation>();
  for await (const record of records) {
    const id = (record.value as Record<string, unknown> | null)?.[idField];
    if (typeof id !== "string" || id === "") throw new DatasetRowError(record.at, `no ${idField} to index by`);
    const first = seen.get(id);
    if (first) {
      throw new DatasetRowError(record.at, duplicateReason(idField, first));
    }
    seen.set(id, record.at);
    index.set(id, record.value);
  }
  return index;
}

/** Keys of an object schema that must be present (their schema refuses `undefined`). */
function requiredKeys(schema: z.ZodType): string[] {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>)
    .filter(([, field]) => !field.safeParse(undefined).success)
    .map(([key]) => key);
}

async function* readHub<T>(dataset: string, options: LoadDatasetOptions<T>, required: string[]): AsyncGenerator<RawRecord> {
  const request = { dataset, split: options.split ?? "test", ...(options.revision ? { revision: options.revision } : {}), ...(options.config ? { config: options.config } : {}) };
  const split = await resolveHubSplit(request, options);
  for (const file of split.files) yield* readParquetFile(file.localPath, file.label, dataset, required);
}

async function* readLocal(path: string, format: LocalFormat, required: string[]): AsyncGenerator<RawRecord> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new DatasetError(path, "not-found", `${path}: not a file`);
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(path, "not-found", `${path}: no such file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  if (format === "parquet") yield* readParquetFile(path, path, path, required);
  else if (format === "jsonl") yield* readJsonlFile(path);
  else yield* readJsonFile(path);
}

async function* readParquetFile(path: string, label: string, dataset: string, required: string[]): AsyncGenerator<RawRecord> {
  const source = await openParquet(path, label);
  const have = new Set(source.columns);
  const absent = required.filter((key) => !have.has(key));
  if (absent.length > 0) {
    throw new DatasetError(dataset, "missing-columns", `${label}: missing columns ${absent.join(", ")} (columns: ${source.columns.join(", ")})`, { columns: absent });
  }
  for await (const { row, value } of readParquetRows(source, label)) yield { value, at: { file: label, row } };
}

async function* readJsonlFile(path: string, hint?: string): AsyncGenerator<RawRecord> {
  try {
    for await (const { line, value } of readJsonl(createReadStream(path), { file: path })) yield { value, at: { file: path, line } };
  } catch (err) {
    if (hint && err instanceof JsonlParseError) throw new JsonlParseError(err.at, `${err.message.slice(formatLocation(err.at).length + 2)}; ${hint}`, { cause: err });
    throw err;
  }
}

async function* readJsonFile(path: string): AsyncGenerator<RawRecord> {
  const stream = createReadStream(path);
  const { first, chunks } = await peekFirstByte(stream);
  if (first === 0x7b /* { */) {
    stream.destroy();
    yield* readJsonlFile(path, "a .json dataset must be a JSON array of rows, or JSON Lines (one row per line)");
    return;
  }
  for await (const { row, line, value } of readJsonArray(chunks, { file: path })) yield { value, at: { file: path, line, row } };
}

/** The first non-whitespace byte of a stream (after a UTF-8 BOM), and the stream's chunks from the start. */
async function peekFirstByte(source: AsyncIterable<Buffer>): Promise<{ first: number | undefined; chunks: AsyncIterable<Buffer> }> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let first: number | undefined;
  let total = 0;
  while (first === undefined) {
    const next = await iterator.next();
    if (next.done) break;
    const buf = next.value;
    seen.push(buf);
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i] as number;
      const pos = total + i;
      if (pos < 3 && b === [0xef, 0xbb, 0xbf][pos]) continue;
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
      first = b;
      break;
    }
    total += buf.length;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await iterator.return?.(); // closes the file when the reader stops early
    }
  }
  return { first, chunks: rest() };
}
