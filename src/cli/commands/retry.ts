/**
 * `batchline retry`: the request lines to send again after a batch round. The output file is
 * indexed by custom_id, keeping one class per id and never the line; the request file then streams
 * through the join, and each request whose class is selected is copied byte for byte, in request
 * order. A request has exactly one class, the first that applies: missing (no output line),
 * failed, truncated, empty, no-patch (a proc_step2 failure in `--save-dir`'s failures.jsonl), ok.
 */
import type { CAC } from "cac";
import { join } from "node:path";
import { BatchRequest } from "../../../schemas/batch-request.ts";
import { BatchOutput, isSuccess } from "../../../schemas/openai-batch-output.ts";
import { answerOf } from "../../agentless/answers.ts";
import { type Issue, RecordError, RecordValidationError, UsageError } from "../../core/errors.ts";
import { type JoinReport, joinByCustomId } from "../../core/join.ts";
import { type JsonlRecord, customIdOf, joinRawLines, readJsonl } from "../../core/jsonl.ts";
import { type IdLine, readLineIds } from "../../core/line-ids.ts";
import { flattenIssues } from "../../core/stage.ts";
import { openInput, writeOutput } from "../io.ts";
import { stringOption } from "../options.ts";
import { SkipLog } from "./common.ts";

/** Every class a request can have, in precedence order; `ok` requests are never retried. */
export const RETRY_CLASSES = ["missing", "failed", "truncated", "empty", "no-patch", "ok"] as const;
export type RetryClass = (typeof RETRY_CLASSES)[number];

/** The classes `--why` selects from; `missing` is always retried. */
const SELECTABLE = ["empty", "failed", "truncated", "no-patch"] as const;
type Selectable = (typeof SELECTABLE)[number];
const DEFAULT_WHY: readonly Selectable[] = ["empty", "failed", "truncated"];

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

/** `--why` as a set of classes (plus missing); every word is checked. */
function parseWhy(value: unknown, saveDir: string | undefined): Set<RetryClass> {
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
  if (why.has("no-patch") && saveDir === undefined) throw new UsageError("--why no-patch needs --save-dir <dir>: its failures.jsonl lists the proc_step2 failures");
  return why;
}

/** The custom_ids with a proc_step2 failure in `<saveDir>/failures.jsonl`. */
async function readNoPatch(saveDir: string, quiet: boolean | undefined): Promise<Set<string>> {
  const input = await openInput(join(saveDir, "failures.jsonl"), { label: "retry: reading failures", quiet });
  const ids = new Set<string>();
  for await (const rec of readJsonl(input.chunks, { file: input.file })) {
    const v = rec.value as { custom_id?: unknown; stage?: unknown } | null;
    if (typeof v !== "object" || v === null || typeof v.custom_id !== "string" || typeof v.stage !== "string") {
      throw new RecordError({ file: input.file, line: rec.line }, "not a failures.jsonl line (it needs a string custom_id and stage)");
    }
    if (v.stage === "proc_step2") ids.add(v.custom_id);
  }
  input.progress.done();
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

/** The problems of a request line that is about to be written, or undefined when it is a valid request. */
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

interface RetryOptions {
  output?: string;
  skipBad?: boolean;
  why?: unknown;
  saveDir?: unknown;
  quiet?: boolean;
}

async function retry(requestsPath: string, outputPath: string, options: RetryOptions): Promise<void> {
  if (requestsPath === "-" && outputPath === "-") throw new UsageError("retry reads a request file and an output file: only one of them can be - (stdin)");
  const saveDir = stringOption(options.saveDir);
  const why = parseWhy(options.why, saveDir);
  const noPatch = saveDir === undefined ? undefined : await readNoPatch(saveDir, options.quiet);
  const outputs = await openInput(outputPath, { label: "retry: indexing outputs", quiet: options.quiet });
  const requests = await openInput(requestsPath, { label: "retry: reading requests", quiet: options.quiet });

  const joined = joinByCustomId(
    { file: requests.file, records: requestLines(readLineIds(requests.chunks, { file: requests.file }), requests.file) },
    { file: outputs.file, records: outputLines(readJsonl(outputs.chunks, { file: outputs.file }), outputs.file) },
    { pick: classifyOutput },
  );
  const counts = Object.fromEntries(RETRY_CLASSES.map((c) => [c, 0])) as Record<RetryClass, number>;
  const skipped = new SkipLog();
  let written = 0;

  async function* selected(): AsyncGenerator<Buffer> {
    let indexed = false;
    for await (const row of joined.rows) {
      if (!indexed) {
        // The first row comes once the output file is indexed: its duplicates are known before anything is written.
        indexed = true;
        outputs.progress.done();
        failOnDuplicates(joined.report, outputs.file);
      }
      if (!row.left) continue; // an answer to no request: counted below, never written
      let cls: RetryClass = row.right?.value ?? "missing";
      if (cls === "ok" && noPatch?.has(row.customId)) cls = "no-patch";
      counts[cls]++;
      if (why.has(cls)) {
        // Lines are copied, not parsed, except those copied into the retry file: each must be a request.
        const issues = requestProblems(row.left.value.bytes);
        if (issues) {
          const err = new RecordValidationError({ file: requests.file, line: row.left.line, customId: row.customId }, "batch request line", issues);
          if (!options.skipBad) throw err;
          skipped.report(err.at, err.message);
          continue;
        }
        written++;
        yield row.left.value.bytes;
      }
    }
    failOnDuplicates(joined.report, outputs.file);
  }

  const dest = options.output ?? "-";
  await writeOutput(dest, joinRawLines(selected()));
  requests.progress.done();
  skipped.summary("retry");
  if (!options.quiet) {
    const classes = RETRY_CLASSES.filter((c) => c !== "no-patch" || noPatch !== undefined);
    const total = classes.reduce((n, c) => n + counts[c], 0);
    const stray = joined.report.missingLeft.length;
    process.stderr.write(`retry: ${total} requests: ${classes.map((c) => `${counts[c]} ${c}`).join(", ")}${stray > 0 ? `; ${stray} output lines answer no request` : ""}\n`);
    process.stderr.write(`retry: wrote ${written} lines (${[...why].join(", ")}) to ${dest === "-" ? "stdout" : dest}\n`);
  }
}

/** Registers `batchline retry <requests> <output>`. */
export function registerRetry(cli: CAC): void {
  cli
    .command("retry <requests> <output>", "Request lines to send again: missing from the output, or failed, truncated, empty (or without a patch)")
    .option("-o, --output <path>", "Where the request lines go, or - for stdout", { default: "-" })
    .option("--why <classes>", `Classes to retry, comma-separated: ${SELECTABLE.join(", ")} (missing always)`, { default: DEFAULT_WHY.join(",") })
    .option("--save-dir <dir>", "An agentless --save_dir: requests with a proc_step2 failure in its failures.jsonl are no-patch")
    .option("--skip-bad", "Report and skip request lines that are not valid requests instead of failing")
    .option("-q, --quiet", "No progress or summary on stderr")
    .example("batchline retry batch_requests_step1.jsonl batch_output_step1.jsonl -o retry_step1.jsonl")
    .example("batchline retry batch_requests_step2.jsonl batch_output_step2.jsonl --why failed,no-patch --save-dir results/run1")
    .action((requestsPath: string, outputPath: string, options: RetryOptions) => retry(requestsPath, outputPath, options));
}
