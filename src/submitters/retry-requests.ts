/**
 * Which requests to send again after a batch round. The output file is indexed by custom_id,
 * keeping one class per id and never the line; the request file then streams through the join,
 * and each request whose class is selected is copied byte for byte, in request order. A request
 * has exactly one class, the first that applies: missing (no output line), failed, truncated,
 * empty, no-patch (a proc_step2 failure in an agentless save dir's failures.jsonl), ok.
 */
import { BatchRequest } from "../../schemas/batch-request.ts";
import { BatchOutput, isSuccess } from "../../schemas/openai-batch-output.ts";
import { answerOf } from "../agentless/answers.ts";
import { type Issue, RecordError, RecordValidationError, UsageError } from "../core/errors.ts";
import { type JoinReport, joinByCustomId } from "../core/join.ts";
import { type JsonlRecord, customIdOf, readJsonl } from "../core/jsonl.ts";
import { type IdLine, readLineIds } from "../core/line-ids.ts";
import { flattenIssues } from "../core/stage.ts";

/** Every class a request can have, in precedence order; `ok` requests are never retried. */
export const RETRY_CLASSES = ["missing", "failed", "truncated", "empty", "no-patch", "ok"] as const;
export type RetryClass = (typeof RETRY_CLASSES)[number];

/** The classes `--why` selects from; `missing` is always retried. */
export const SELECTABLE = ["empty", "failed", "truncated", "no-patch"] as const;
type Selectable = (typeof SELECTABLE)[number];
export const DEFAULT_WHY: readonly Selectable[] = ["empty", "failed", "truncated"];

/** What the output file alone says about an answer: no-patch needs the save dir, missing needs the join. */
type AnswerClass = "failed" | "truncated" | "empty" | "ok";

/**
 * The class of one batch output line (chat or Responses-API body). failed: no response, a status
 * other than 200, an error, or a response that failed or stopped short for a reason other than
 * max_output_tokens; truncated: finish_reason length, a response incomplete for max_output_tokens
 * (or cut inside a reasoning block); empty: no choices or output, or text that is null or blank
 * once reasoning blocks are removed.
 */
export function classifyOutput(line: BatchOutput): AnswerClass {
  if (!isSuccess(line)) return "failed";
  const answer = answerOf(line);
  if (answer.ok) return "ok";
  if (answer.reason === "truncated") return "truncated";
  return answer.reason === "incomplete" ? "failed" : "empty";
}

function isSelectable(word: string): word is Selectable {
  return (SELECTABLE as readonly string[]).includes(word);
}

/** `--why` as a set of classes (plus missing); every word is checked. `noPatchKnown`: a save dir was given. */
export function parseWhy(value: unknown, noPatchKnown: boolean): Set<RetryClass> {
  if (value === true) throw new UsageError(`--why needs a value: a comma-separated list of ${SELECTABLE.join(", ")}`);
  const words =
    value === undefined
      ? [...DEFAULT_WHY]
      : (Array.isArray(value) ? value : [value])
          .flatMap((v) => String(v).split(","))
          .map((w) => w.trim())
          .filter((w) => w !== "");
  if (words.length === 0) throw new UsageError(`--why needs at least one of ${SELECTABLE.join(", ")} (or missing, to retry only requests without an output line)`);
  const why = new Set<RetryClass>(["missing"]);
  for (const word of words) {
    if (word === "missing") continue;
    if (!isSelectable(word)) throw new UsageError(`--why: unknown class "${word}" (valid: ${SELECTABLE.join(", ")}; missing lines are always retried)`);
    why.add(word);
  }
  if (why.has("no-patch") && !noPatchKnown) throw new UsageError("--why no-patch needs --save-dir <dir>: its failures.jsonl lists the proc_step2 failures");
  return why;
}

/** The custom_ids with a proc_step2 failure in an agentless `failures.jsonl` (its bytes as `chunks`). */
export async function readNoPatch(file: string, chunks: AsyncIterable<Uint8Array | string>): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const rec of readJsonl(chunks, { file })) {
    const v = rec.value as { custom_id?: unknown; stage?: unknown } | null;
    if (typeof v !== "object" || v === null || typeof v.custom_id !== "string" || typeof v.stage !== "string") {
      throw new RecordError({ file, line: rec.line }, "not a failures.jsonl line (it needs a string custom_id and stage)");
    }
    if (v.stage === "proc_step2") ids.add(v.custom_id);
  }
  return ids;
}

/** A request as the join carries it: its id and raw bytes, so the line can be copied unchanged. */
interface RequestLine {
  custom_id: string;
  bytes: Buffer;
}

/** Request lines by their custom_id, read by a byte scan: requests are copied, never parsed. */
async function* requestLines(records: AsyncIterable<IdLine>, file: string): AsyncGenerator<{ line: number; value: RequestLine }> {
  for await (const rec of records) {
    if (rec.customId === undefined) throw new RecordError({ file, line: rec.line }, "request line has no string custom_id");
    yield { line: rec.line, value: { custom_id: rec.customId, bytes: rec.bytes } };
  }
}

async function* outputLines(records: AsyncIterable<JsonlRecord>, file: string): AsyncGenerator<JsonlRecord<BatchOutput>> {
  for await (const rec of records) {
    const parsed = BatchOutput.safeParse(rec.value);
    if (!parsed.success) {
      const id = customIdOf(rec.value);
      throw new RecordValidationError({ file, line: rec.line, ...(id === undefined ? {} : { customId: id }) }, "batch output line", flattenIssues(parsed.error));
    }
    yield { ...rec, value: parsed.data };
  }
}

/** Throws on the first duplicated custom_id the join has reported so far. */
function failOnDuplicates(report: JoinReport, outputFile: string): void {
  const d = report.duplicates[0];
  if (!d) return;
  const hint = d.file === outputFile ? "; fold retry rounds into one file with `batchline merge` first" : "";
  throw new RecordError({ file: d.file, line: d.lines[1] ?? d.lines[0], customId: d.customId }, `duplicate custom_id (lines ${d.lines.join(", ")})${hint}`);
}

/** One side of the join: a file's name in messages and its bytes. */
export interface RetryInput {
  file: string;
  chunks: AsyncIterable<Uint8Array | string>;
}

/** What `selectRetries` found: the class counts, lines written, and output lines that answer no request (filled as the lines are read). */
export interface RetryTally {
  counts: Record<RetryClass, number>;
  written: number;
  stray: number;
}

/** The problems of a request line about to be copied into a retry file, or undefined when it is a valid request. */
function requestProblems(bytes: Buffer): Issue[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    return [{ path: "", message: `not valid JSON (${(err as Error).message})` }];
  }
  const parsed = BatchRequest.safeParse(value);
  return parsed.success ? undefined : flattenIssues(parsed.error);
}

/**
 * The request lines to send again: the output file is indexed by custom_id (one class per id),
 * then the request file streams through the join and each request whose class is in `why` is
 * yielded byte for byte, in request order. `onIndexed` is called once the outputs are indexed.
 */
export function selectRetries(o: { requests: RetryInput; outputs: RetryInput; why: ReadonlySet<RetryClass>; noPatch?: ReadonlySet<string> | undefined; onIndexed?: () => void; onBadLine?: (err: RecordValidationError) => void }): { lines: AsyncGenerator<Buffer>; tally: RetryTally } {
  const joined = joinByCustomId(
    { file: o.requests.file, records: requestLines(readLineIds(o.requests.chunks, { file: o.requests.file }), o.requests.file) },
    { file: o.outputs.file, records: outputLines(readJsonl(o.outputs.chunks, { file: o.outputs.file }), o.outputs.file) },
    { pick: classifyOutput },
  );
  const tally: RetryTally = { counts: Object.fromEntries(RETRY_CLASSES.map((c) => [c, 0])) as Record<RetryClass, number>, written: 0, stray: 0 };
  async function* lines(): AsyncGenerator<Buffer> {
    let indexed = false;
    for await (const row of joined.rows) {
      if (!indexed) {
        // The first row comes once the output file is indexed: its duplicates are known before anything is written.
        indexed = true;
        o.onIndexed?.();
        failOnDuplicates(joined.report, o.outputs.file);
      }
      if (!row.left) continue; // an answer to no request: counted below, never written
      let cls: RetryClass = row.right?.value ?? "missing";
      if (cls === "ok" && o.noPatch?.has(row.customId)) cls = "no-patch";
      tally.counts[cls]++;
      if (o.why.has(cls)) {
        // Lines are copied, not parsed, except those copied into the retry file: each must be a request.
        const issues = requestProblems(row.left.value.bytes);
        if (issues) {
          const err = new RecordValidationError({ file: o.requests.file, line: row.left.line, customId: row.customId }, "batch request line", issues);
          if (!o.onBadLine) throw err;
          o.onBadLine(err);
          continue;
        }
        tally.written++;
        yield row.left.value.bytes;
      }
    }
    failOnDuplicates(joined.report, o.outputs.file);
    tally.stray = joined.report.missingLeft.length;
  }
  return { lines: lines(), tally };
}
