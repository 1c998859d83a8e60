/**
 * Whole-file checks for batch files, streamed: every line against its schema, and for request
 * files the rules a Batch API applies to the file as a whole (unique custom_id, one model, a
 * Batch endpoint url) plus how many chunks each backend's limits need.
 */
import type { z } from "zod";
import { BATCH_URLS, BatchRequest, missingBodyFields } from "../../schemas/batch-request.ts";
import { BatchErrorLine } from "../../schemas/openai-batch-error.ts";
import { BatchOutput, isSuccess } from "../../schemas/openai-batch-output.ts";
import { readAnswerBody } from "./answer-body.ts";
import { ANTHROPIC_BATCH_LIMITS, ChunkPlanner, GEMINI_BATCH_LIMITS, OPENAI_BATCH_LIMITS, embeddingInputs } from "./chunking.ts";
import { type Location, formatLocation } from "./errors.ts";
import { type JoinSource, joinByCustomId } from "./join.ts";
import type { AnswerLine } from "./line-ids.ts";
import { type JsonlLine, customIdOf } from "./jsonl.ts";
import { flattenIssues } from "./stage.ts";

export type FileKind = "request" | "output" | "error";

/** One problem found, with where it is. */
export interface Problem {
  at: Location;
  message: string;
}

/** What `validateBatchFile` found. `problems` holds at most `maxProblems`; `problemCount` counts all. */
export interface ValidationReport {
  file: string;
  kind: FileKind;
  lines: number;
  bytes: number;
  problemCount: number;
  problems: Problem[];
  /** with `skipBad`: lines left out for a problem of their own (not counted in `problemCount`); `skippedLines` holds at most `maxProblems`. */
  skipped?: number;
  skippedLines?: Problem[];
  /** request files: lines per model, url per count, chunks needed per backend. */
  models?: Record<string, number>;
  urls?: Record<string, number>;
  chunks?: Record<string, number>;
  /** output/error files: outcome counts. */
  /** with a request file to check against: how completely the output answers it. */
  coverage?: AnswerCoverage;
  outcomes?: { succeeded: number; httpErrors: number; failed: number; truncated: number; emptyContent: number; byCode: Record<string, number> };
}

const SCHEMA_BY_KIND: Record<FileKind, z.ZodType> = { request: BatchRequest, output: BatchOutput, error: BatchErrorLine };

/** Guesses the kind from the first line: `method`/`body` means a request file, else an output file. */
export function guessKind(value: unknown): FileKind {
  if (typeof value === "object" && value !== null && ("method" in value || "body" in value)) return "request";
  return "output";
}

/** Options: the kind (guessed from the first line when absent) and how many problems to keep. */
export interface ValidateOptions {
  file: string;
  kind?: FileKind;
  maxProblems?: number;
  /** A line with a problem of its own (bad JSON, schema, repeated id, wrong url) is left out and
   * listed as skipped, as `submit --skip-bad` leaves it out; whole-file checks run on the rest. */
  skipBad?: boolean;
}

/** Streams lines (text, for exact byte sizes) and checks them. Never throws for bad input. */
export async function validateBatchFile(lines: AsyncIterable<JsonlLine>, options: ValidateOptions): Promise<ValidationReport> {
  const maxProblems = options.maxProblems ?? 20;
  const report: ValidationReport = { file: options.file, kind: options.kind ?? "request", lines: 0, bytes: 0, problemCount: 0, problems: [] };
  const problem = (at: Location, message: string) => {
    report.problemCount++;
    if (report.problems.length < maxProblems) report.problems.push({ at, message });
  };
  if (options.skipBad) {
    report.skipped = 0;
    report.skippedLines = [];
  }
  /** A problem of one line: a problem, or with `skipBad` a skipped line. */
  const lineProblem = (at: Location, message: string) => {
    if (!report.skippedLines) return problem(at, message);
    report.skipped = (report.skipped ?? 0) + 1;
    if (report.skippedLines.length < maxProblems) report.skippedLines.push({ at, message });
  };
  const firstLine = new Map<string, number>();
  const planners = [new ChunkPlanner(OPENAI_BATCH_LIMITS), new ChunkPlanner(ANTHROPIC_BATCH_LIMITS), new ChunkPlanner(GEMINI_BATCH_LIMITS)];
  const models: Record<string, number> = {};
  const urls: Record<string, number> = {};
  const outcomes = { succeeded: 0, httpErrors: 0, failed: 0, truncated: 0, emptyContent: 0, byCode: {} as Record<string, number> };
  let kind = options.kind;

  for await (const { line, text } of lines) {
    report.lines++;
    const bytes = Buffer.byteLength(text) + 1;
    report.bytes += bytes;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      lineProblem({ file: options.file, line }, `not valid JSON (${(err as Error).message})`);
      continue;
    }
    kind ??= guessKind(value);
    const customId = customIdOf(value);
    const at: Location = { file: options.file, line, ...(customId !== undefined ? { customId } : {}) };
    const parsed = SCHEMA_BY_KIND[kind].safeParse(value);
    if (!parsed.success) {
      const detail = flattenIssues(parsed.error).map((i) => (i.path ? `${i.message} at ${i.path}` : i.message)).join("; ");
      lineProblem(at, `not a valid ${kind} line: ${detail}`);
      continue;
    }
    if (customId !== undefined) {
      const first = firstLine.get(customId);
      if (first !== undefined) {
        lineProblem(at, `duplicate custom_id (first on line ${first})`);
        if (options.skipBad) continue;
      } else firstLine.set(customId, line);
    }
    if (kind === "request") {
      const req = parsed.data as BatchRequest;
      const wrong: string[] = [];
      if (!(BATCH_URLS as readonly string[]).includes(req.url)) {
        const hint = BATCH_URLS.find((u) => u.endsWith(req.url));
        wrong.push(`url ${req.url} is not a Batch API endpoint${hint ? ` (use ${hint})` : ` (one of ${BATCH_URLS.join(", ")})`}`);
      }
      const lacking = missingBodyFields(req.url, req.body);
      if (lacking.length > 0) wrong.push(`a ${req.url} body needs ${lacking.map((f) => `body.${f}`).join(" and ")}`);
      for (const message of wrong) lineProblem(at, message);
      if (wrong.length > 0 && options.skipBad) continue;
      models[req.body.model] = (models[req.body.model] ?? 0) + 1;
      urls[req.url] = (urls[req.url] ?? 0) + 1;
      const inputs = embeddingInputs(req.url, req.body);
      for (const planner of planners) planner.add(`${req.url} ${req.body.model}`, bytes, inputs);
    } else {
      const out = parsed.data as BatchOutput;
      if (kind === "output" && out.response === null && out.error === null) {
        lineProblem(at, "neither a response nor an error: an output line holds one of them");
        continue;
      }
      const answer = isSuccess(out) ? readAnswerBody(out.response?.body) : undefined;
      if (isSuccess(out) && answer?.failure !== undefined) {
        // an HTTP 200 whose body is no usable answer (a refusal, a failed or filtered Responses body): failed, as retry counts it
        outcomes.failed++;
        outcomes.byCode.incomplete_answer = (outcomes.byCode.incomplete_answer ?? 0) + 1;
      } else if (isSuccess(out)) {
        outcomes.succeeded++;
        if (answer?.truncated) outcomes.truncated++;
        if (answer && (answer.text === null || answer.text === "")) outcomes.emptyContent++;
      } else if (out.response) {
        outcomes.httpErrors++;
        const code = `http_${out.response.status_code}`;
        outcomes.byCode[code] = (outcomes.byCode[code] ?? 0) + 1;
      } else {
        outcomes.failed++;
        const code = out.error?.code ?? "unknown";
        outcomes.byCode[code] = (outcomes.byCode[code] ?? 0) + 1;
      }
    }
  }

  report.kind = kind ?? report.kind;
  if (report.kind === "request") {
    report.models = models;
    report.urls = urls;
    report.chunks = Object.fromEntries(planners.map((p) => [p.limits.name, p.count]));
    const modelNames = Object.keys(models);
    if (modelNames.length > 1) {
      problem({ file: options.file }, `${modelNames.length} models in one file (${modelNames.join(", ")}); a batch holds one model, so submitters split by model`);
    }
    if (Object.keys(urls).length > 1) problem({ file: options.file }, `${Object.keys(urls).length} different urls in one file; a batch has one endpoint`);
  } else {
    report.outcomes = outcomes;
  }
  return report;
}

/** The report as text lines for a terminal. */
export function formatReport(report: ValidationReport): string[] {
  const out: string[] = [];
  const mb = (report.bytes / 1e6).toFixed(1);
  if (report.lines === 0) {
    out.push(`${report.file}: empty file (no lines)`);
    return out;
  }
  out.push(`${report.file}: ${report.kind} file, ${report.lines} lines, ${mb} MB`);
  if (report.models) out.push(`models: ${Object.entries(report.models).map(([m, n]) => `${m} (${n})`).join(", ") || "none"}`);
  if (report.urls) out.push(`urls: ${Object.entries(report.urls).map(([u, n]) => `${u} (${n})`).join(", ") || "none"}`);
  if (report.chunks) {
    out.push(`chunks: ${Object.entries(report.chunks).map(([b, n]) => `${b} ${n}`).join(", ")} (limits: openai-batch 50,000 lines / 200 MB / 50,000 embedding inputs, anthropic-batch 100,000 / 256 MB, gemini-batch 1,000,000 / 2,000 MB, 1 MB = 1,000,000 bytes, one model per chunk)`);
  }
  if (report.outcomes) {
    const o = report.outcomes;
    const codes = Object.entries(o.byCode).map(([c, n]) => `${c} ${n}`).join(", ");
    out.push(`outcomes: ${o.succeeded} succeeded (${o.truncated} truncated by max_tokens, ${o.emptyContent} with empty content), ${o.httpErrors} HTTP errors, ${o.failed} failed${codes ? ` [${codes}]` : ""}`);
  }
  if (report.coverage) {
    const c = report.coverage;
    out.push(`answers: ${c.answered}/${c.requests} requests answered (${c.succeeded} succeeded), ${c.missing} missing, ${c.unexpected} answers to no request`);
  }
  for (const p of report.skippedLines ?? []) out.push(`skipped ${formatLocation(p.at)}: ${p.message}`);
  if ((report.skipped ?? 0) > (report.skippedLines?.length ?? 0)) out.push(`... and ${report.skipped! - report.skippedLines!.length} more skipped lines`);
  if (report.skipped) out.push(`${report.skipped} bad line(s) skipped (--skip-bad): submit --skip-bad leaves them out; the checks above are of the other ${report.lines - report.skipped}`);
  for (const p of report.problems) out.push(`${formatLocation(p.at)}: ${p.message}`);
  if (report.problemCount > report.problems.length) out.push(`... and ${report.problemCount - report.problems.length} more problems`);
  out.push(report.problemCount === 0 ? "valid" : `${report.problemCount} problem(s)`);
  return out;
}

/** How completely an output file answers a request file. */
export interface AnswerCoverage {
  requests: number;
  answered: number;
  succeeded: number;
  missing: number;
  unexpected: number;
}

/**
 * Joins a request file (streamed) with its output file (indexed: one success flag per id) by
 * custom_id; `readRequestIds` and `readAnswerLines` (line-ids.ts) read the two sides by a byte scan. Requests with no answer, answers to no request and duplicated ids become problems.
 */
export async function checkAnswered(requests: JoinSource, outputs: JoinSource<AnswerLine["value"]>, report: ValidationReport, maxProblems = 20): Promise<AnswerCoverage> {
  const problem = (at: Location, message: string) => {
    report.problemCount++;
    if (report.problems.length < maxProblems) report.problems.push({ at, message });
  };
  const join = joinByCustomId(requests, outputs, { pick: (v) => v.succeeded });
  const coverage: AnswerCoverage = { requests: 0, answered: 0, succeeded: 0, missing: 0, unexpected: 0 };
  for await (const row of join.rows) {
    if (row.left) coverage.requests++;
    if (row.left && row.right) {
      coverage.answered++;
      if (row.right.value) coverage.succeeded++;
    }
  }
  for (const at of join.report.missingRight) {
    coverage.missing++;
    problem(at, `request has no line in ${outputs.file}`);
  }
  for (const at of join.report.missingLeft) {
    coverage.unexpected++;
    problem(at, `answer to no request in ${requests.file}`);
  }
  for (const d of join.report.duplicates) {
    if (d.file === requests.file) problem({ file: d.file, line: d.lines[1]!, customId: d.customId }, `duplicate custom_id (lines ${d.lines.join(", ")})`);
  }
  for (const at of join.report.withoutId) problem(at, "line has no string custom_id");
  report.coverage = coverage;
  return coverage;
}
