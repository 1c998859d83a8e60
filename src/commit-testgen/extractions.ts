/**
 * The extraction directory: `<dir>/*.json` in byte order of file name, without ISO-Bench's
 * `extraction_summary.json`; `onlyHash` keeps files whose name contains it, `limit` the first n
 * (0: all), as generate_test_generators.py selects them. Each file is validated against the
 * CommitExtraction schema with its path in the message.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CommitExtraction } from "../../schemas/commit-extraction.ts";
import { JsonlParseError, RecordValidationError, UsageError } from "../core/errors.ts";
import { flattenIssues } from "../core/stage.ts";
import { compareBytes } from "../core/custom-id.ts";

export interface ExtractionSelection {
  onlyHash?: string;
  /** Keep the first n files (0 or unset: all). */
  limit?: number;
}

/** The extraction files of `dir` that the selection keeps, in byte order of name. */
export async function listExtractionFiles(dir: string, selection: ExtractionSelection = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new UsageError(`--extractions-dir ${dir}: no such directory`);
  }
  let kept = names.filter((n) => n.endsWith(".json") && n !== "extraction_summary.json").sort(compareBytes);
  if (selection.onlyHash) kept = kept.filter((n) => n.includes(selection.onlyHash!));
  if (selection.limit && selection.limit > 0) kept = kept.slice(0, selection.limit);
  return kept.map((n) => join(dir, n));
}

/** Reads and validates one extraction file; `json` is its text. */
export async function readExtraction(path: string): Promise<{ json: string; extraction: CommitExtraction }> {
  let value: unknown;
  let json: string;
  try {
    json = await readFile(path, "utf8");
    value = JSON.parse(json);
  } catch (err) {
    throw new JsonlParseError({ file: path }, `not a readable JSON document (${(err as Error).message})`, { cause: err });
  }
  const parsed = CommitExtraction.safeParse(value);
  if (!parsed.success) throw new RecordValidationError({ file: path }, "commit extraction", flattenIssues(parsed.error));
  return { json, extraction: parsed.data };
}

/** The selected extractions of `dir`, with their paths. */
export async function* readExtractions(dir: string, selection: ExtractionSelection = {}): AsyncGenerator<{ path: string; json: string; extraction: CommitExtraction }> {
  for (const path of await listExtractionFiles(dir, selection)) yield { path, ...(await readExtraction(path)) };
}

/** What proc and repair keep per commit: small fields only (a commit's old contents are read again when needed). */
export interface CommitSummary {
  path: string;
  commit_hash: string;
  message: string;
  category: string | null;
}

/** The selected commits of `dir` by full hash (proc and repair look commits up by custom_id). */
export async function extractionIndex(dir: string, selection: ExtractionSelection = {}): Promise<Map<string, CommitSummary>> {
  const index = new Map<string, CommitSummary>();
  for await (const { path, extraction } of readExtractions(dir, selection)) {
    const category = extraction.csv_metadata?.category;
    index.set(extraction.commit_hash, { path, commit_hash: extraction.commit_hash, message: extraction.message, category: typeof category === "string" ? category : null });
  }
  return index;
}
