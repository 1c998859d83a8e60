/**
 * `batchline sft kodcode|testgeneval`: dataset rows -> SFT rows for TRL, streamed.
 *
 * Each row goes through these filters, in order, and each one counts what it removes:
 *  1. `incorrect`: `r1_correctness` is "False" (only where the column exists; any value other
 *     than "True"/"False" is refused);
 *  2. `empty`: the code or the test file is null or blank;
 *  3. `duplicate`: the normalized code (line endings, trailing spaces and blank lines ignored)
 *     hashes like an earlier row's;
 *  4. `too_long`: prompt + completion exceed `maxLength` tokens of the target tokenizer;
 *  5. `not_selected`: with `limit`, rows outside the seeded subset.
 * A row lacking a required column stops the run, naming what is missing and what is there.
 *
 * Memory stays flat: one row at a time, plus a 16-byte hash per distinct code for the dedupe and,
 * with `limit`, the positions of at most `limit` rows. The subset is the `limit` rows whose
 * seeded hash of the normalized code is smallest (the same rows whatever the input order), and
 * is written in a second pass over the dataset, in dataset order.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { UsageError } from "../core/errors.ts";
import { toJsonl } from "../core/jsonl.ts";
import type { HubOptions } from "../datasets/hub.ts";
import { type DatasetRecord, loadDataset } from "../datasets/load.ts";
import { DatasetRowError } from "../datasets/errors.ts";
import { DEFAULT_PROMPT_TEMPLATE, renderPrompt } from "./prompt.ts";
import { CORRECTNESS_COLUMN, SFT_SOURCES, type SftSource, type SftSourceName } from "./sources.ts";
import type { TokenCounter } from "./tokenizer.ts";
import { SmallestK } from "./smallest-k.ts";

/** Output shapes TRL reads: prompt-completion (`{prompt, completion}`) or conversational (`{messages}`). */
export const SFT_FORMATS = ["prompt-completion", "messages"] as const;
export type SftFormat = (typeof SFT_FORMATS)[number];

/** One output row. */
export type SftRow = { prompt: string; completion: string } | { messages: [{ role: "user"; content: string }, { role: "assistant"; content: string }] };

export interface SftDataOptions {
  source: SftSourceName;
  /** A hub dataset id or a local .jsonl/.json/.parquet file. */
  dataset: string;
  /** Hub split; default the source's (train). */
  split?: string;
  /** Hub branch, tag or commit. */
  revision?: string;
  hub?: HubOptions;
  /** Template text (checked); default batchline's. */
  promptTemplate?: string;
  /** A column whose text goes in as existing tests; default none (full-file generation). */
  existingTestsColumn?: string;
  format?: SftFormat;
  /** Drop rows longer than this many tokens; needs `tokenizer`. */
  maxLength?: number;
  tokenizer?: TokenCounter;
  /** Keep at most this many rows, chosen by `seed`. */
  limit?: number;
  seed?: number;
}

/** What a run did: rows read, removed by each filter, written. */
export interface SftDataSummary {
  read: number;
  removed: { incorrect: number; empty: number; duplicate: number; too_long: number; not_selected: number };
  written: number;
}

const ANY_ROW = z.looseObject({});

/** Streams the SFT rows of a dataset; `summary` is complete once the generator is done. */
export function buildSftRows(options: SftDataOptions): { rows: AsyncGenerator<SftRow>; summary: SftDataSummary } {
  if (options.maxLength !== undefined && !options.tokenizer) throw new UsageError("--max-length needs --tokenizer (the target model's tokenizer.json, or its hub id)");
  const summary: SftDataSummary = { read: 0, removed: { incorrect: 0, empty: 0, duplicate: 0, too_long: 0, not_selected: 0 }, written: 0 };
  return { rows: generate(options, summary), summary };
}

async function* generate(options: SftDataOptions, summary: SftDataSummary): AsyncGenerator<SftRow> {
  const source: SftSource = SFT_SOURCES[options.source];
  const template = options.promptTemplate ?? DEFAULT_PROMPT_TEMPLATE;
  const format = options.format ?? "prompt-completion";
  const toRow = (r: Kept): SftRow => shape(format, renderPrompt(template, r.fields), r.completion);

  if (options.limit === undefined) {
    for await (const kept of filtered(options, source, template, summary)) {
      summary.written++;
      yield toRow(kept);
    }
    return;
  }
  // Pass 1: filter everything, keep the positions of the `limit` rows with the smallest seeded hash.
  const best = new SmallestK(options.limit);
  let survivors = 0;
  for await (const kept of filtered(options, source, template, summary)) {
    survivors++;
    best.offer(seededScore(options.seed ?? 0, kept.key), kept.ordinal);
  }
  const chosen = best.values();
  summary.removed.not_selected = survivors - chosen.size;
  if (chosen.size === 0) return;
  // Pass 2: the same rows again, writing only the chosen ones (no filter needs repeating).
  let ordinal = 0;
  for await (const record of readRows(options, source)) {
    ordinal++;
    if (!chosen.has(ordinal)) continue;
    const fields = promptFields(record, source, options.existingTestsColumn);
    summary.written++;
    yield toRow({ fields, completion: text(record.value, source.testColumn), key: "", ordinal });
  }
}

interface Kept {
  fields: { code: string; code_file: string; existing_tests?: string };
  completion: string;
  /** Hash of the normalized code. */
  key: string;
  /** 1-based position in the dataset stream. */
  ordinal: number;
}

async function* filtered(options: SftDataOptions, source: SftSource, template: string, summary: SftDataSummary): AsyncGenerator<Kept> {
  const seen = new Set<string>();
  let ordinal = 0;
  for await (const record of readRows(options, source)) {
    ordinal++;
    summary.read++;
    const row = record.value;
    if (CORRECTNESS_COLUMN in row) {
      const verdict = row[CORRECTNESS_COLUMN];
      if (verdict === "False") {
        summary.removed.incorrect++;
        continue;
      }
      if (verdict !== "True") throw new DatasetRowError(record.at, `${CORRECTNESS_COLUMN} is ${JSON.stringify(verdict)}; expected the string "True" or "False"`);
    }
    const code = text(row, source.codeColumn);
    const completion = text(row, source.testColumn);
    if (code.trim() === "" || completion.trim() === "") {
      summary.removed.empty++;
      continue;
    }
    const key = codeKey(code);
    if (seen.has(key)) {
      summary.removed.duplicate++;
      continue;
    }
    seen.add(key);
    const fields = promptFields(record, source, options.existingTestsColumn);
    if (options.maxLength !== undefined && options.tokenizer!.count(renderPrompt(template, fields), completion) > options.maxLength) {
      summary.removed.too_long++;
      continue;
    }
    yield { fields, completion, key, ordinal };
  }
}

/** Dataset rows with the source's required columns checked (missing ones named with those present). */
async function* readRows(options: SftDataOptions, source: SftSource): AsyncGenerator<DatasetRecord<Record<string, unknown>>> {
  const required = options.existingTestsColumn ? [...source.required, options.existingTestsColumn] : source.required;
  const records = loadDataset(options.dataset, {
    ...options.hub,
    split: options.split ?? source.split,
    ...(options.revision ? { revision: options.revision } : {}),
    schema: ANY_ROW,
    schemaName: `${source.name} row`,
    idField: "\u0000", // no id check: duplicates are this command's own filter
  });
  for await (const record of records) {
    const row = record.value as Record<string, unknown>;
    const id = source.idColumns.map((c) => row[c]).find((v) => typeof v === "string" || typeof v === "number");
    if (id !== undefined) record.at.instanceId = String(id);
    const missing = required.filter((c) => !(c in row));
    if (missing.length > 0) {
      throw new DatasetRowError(record.at, `not a ${source.name} row: missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (columns present: ${Object.keys(row).join(", ") || "none"})`);
    }
    for (const c of required) {
      const v = row[c];
      if (v !== null && typeof v !== "string") throw new DatasetRowError(record.at, `column ${c} is ${typeof v}, expected text`);
    }
    yield record as DatasetRecord<Record<string, unknown>>;
  }
}

function text(row: Record<string, unknown>, column: string): string {
  const v = row[column];
  return typeof v === "string" ? v : "";
}

function promptFields(record: DatasetRecord<Record<string, unknown>>, source: SftSource, existingColumn: string | undefined): Kept["fields"] {
  const row = record.value;
  const codeFile = "fixed" in source.codeFile ? source.codeFile.fixed : text(row, source.codeFile.column) || source.codeFile.fallback;
  const fields: Kept["fields"] = { code: text(row, source.codeColumn), code_file: codeFile };
  if (existingColumn) fields.existing_tests = text(row, existingColumn);
  return fields;
}

function shape(format: SftFormat, prompt: string, completion: string): SftRow {
  if (format === "messages") return { messages: [{ role: "user", content: prompt }, { role: "assistant", content: completion }] };
  return { prompt, completion };
}

/** Code as compared for duplicates: LF line endings, no trailing spaces, no blank lines. */
export function normalizeCode(code: string): string {
  return code
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "")
    .join("\n");
}

/** A 16-byte hash of the normalized code (base64). */
export function codeKey(code: string): string {
  return createHash("sha256").update(normalizeCode(code)).digest().subarray(0, 16).toString("base64");
}

/** A row's place in the seeded order: the first 48 bits of sha256(seed, key). */
function seededScore(seed: number, key: string): number {
  return createHash("sha256").update(`${seed}\u0000${key}`).digest().readUIntBE(0, 6);
}

/** `read 7, removed: incorrect 1, empty 0, ..., written 3`. */
export function describeSummary(s: SftDataSummary): string {
  const removed = Object.entries(s.removed).map(([k, n]) => `${k} ${n}`).join(", ");
  return `read ${s.read}, removed: ${removed}, written ${s.written}`;
}

/** Builds the SFT rows and writes them as JSONL to `output` (atomically) or stdout (`-`). */
export async function writeSftData(options: SftDataOptions & { output: string }, write: (dest: string, chunks: AsyncIterable<string>) => Promise<void>): Promise<SftDataSummary> {
  const { rows, summary } = buildSftRows(options);
  await write(options.output, toJsonl(rows));
  return summary;
}
