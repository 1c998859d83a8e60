/**
 * `sft eval run`: each answer's test file run with real pytest against its task's code, in a
 * sandbox (a runner's fresh `files` workspace: the code at `code_file`, the test file, the driver
 * of pytest-driver.ts; a timeout; no network where the runner can cut it). One runs.jsonl line per
 * answer, in answer-file order. A sample passes only when its file parses, pytest collects at
 * least one test, every test passes (at least one), and the file checks something other than
 * constants; anything else is a failure with its reason and the tail of pytest's output.
 */
import { readAnswerBody } from "../core/answer-body.ts";
import { RecordError } from "../core/errors.ts";
import type { JsonlRecord } from "../core/jsonl.ts";
import { mapConcurrent } from "../internal/concurrency.ts";
import type { Runner } from "../runners/types.ts";
import type { SftEvalRun, SftEvalTask } from "../../schemas/sft-eval.ts";
import { extractTestFile } from "./extract-test.ts";
import { DRIVER_FILE, DRIVER_SOURCE, type DriverReport, REPORT_FILE } from "./pytest-driver.ts";

/** Characters of pytest output kept in `failure_log`. */
export const FAILURE_LOG_CHARS = 4000;

export interface EvalRunOptions {
  tasks: ReadonlyMap<string, SftEvalTask>;
  /** The model of answers that name none (failed requests); default: the one model the other answers name, else "unknown". */
  model?: string;
  runner: Runner;
  timeoutMs: number;
  /** Test files run at once (default 2). */
  workers?: number;
  log?: (line: string) => void;
}

/** One sample to run: where it came from, its ids, the model and the test file (or why there is none). */
interface Sample {
  index: number;
  custom_id: string;
  task: SftEvalTask;
  sample: number;
  model: string;
  test?: string;
  noTest?: { reason: "request_failed" | "no_test_file"; detail: string };
}

/** Task id and sample number of `<task_id>__pass<N>` (a bare task id is sample 0). */
export function parseSampleId(customId: string): { taskId: string; sample: number } {
  const m = /^(.*)__pass(0|[1-9]\d*)$/.exec(customId);
  return m ? { taskId: m[1]!, sample: Number(m[2]) } : { taskId: customId, sample: 0 };
}

/** Runs every answer of a batch output file (OpenAI Batch output lines); yields runs.jsonl lines in input order. */
export async function* runAnswers(answers: AsyncIterable<JsonlRecord>, file: string, o: EvalRunOptions): AsyncGenerator<SftEvalRun> {
  yield* runSamples(samplesOf(answers, file, o.tasks, o.model ?? "unknown"), o);
}

/** The model an answer body names, if any. */
export function answerModel(line: unknown): string | undefined {
  const model = (line as { response?: { body?: { model?: unknown } } | null } | null)?.response?.body?.model;
  return typeof model === "string" && model !== "" ? model : undefined;
}

/** Runs each task's reference tests as sample 0 of model "reference": a check of the tasks and of the sandbox. */
export async function* runReferences(o: EvalRunOptions): AsyncGenerator<SftEvalRun> {
  let index = 0;
  const samples: Sample[] = [...o.tasks.values()].map((task) => ({
    index: index++,
    custom_id: `${task.task_id}__pass0`,
    task,
    sample: 0,
    model: "reference",
    ...(task.reference_tests?.trim() ? { test: task.reference_tests } : { noTest: { reason: "no_test_file" as const, detail: "the task has no reference_tests" } }),
  }));
  yield* runSamples(samples, o);
}

async function* samplesOf(answers: AsyncIterable<JsonlRecord>, file: string, tasks: ReadonlyMap<string, SftEvalTask>, fallbackModel: string): AsyncGenerator<Sample> {
  let index = 0;
  const seen = new Map<string, number>();
  for await (const { line, value } of answers) {
    const v = value as { custom_id?: unknown; response?: { status_code?: number; body?: unknown } | null; error?: { message?: string } | null };
    const customId = typeof v?.custom_id === "string" ? v.custom_id : undefined;
    if (!customId) throw new RecordError({ file, line }, "line has no string custom_id");
    const at = { file, line, customId };
    const first = seen.get(customId);
    if (first !== undefined) throw new RecordError(at, `custom_id repeats line ${first} (merge retry rounds first: batchline merge)`);
    seen.set(customId, line);
    const { taskId, sample } = parseSampleId(customId);
    const task = tasks.get(taskId);
    if (!task) throw new RecordError(at, `no task ${taskId} in the tasks file`);
    const body = v.response?.body;
    const model = answerModel(value) ?? fallbackModel;
    const base = { index: index++, custom_id: customId, task, sample, model };
    const status = v.response?.status_code;
    if (!v.response || (status !== undefined && (status < 200 || status >= 300))) {
      yield { ...base, noTest: { reason: "request_failed", detail: v.error?.message ?? `HTTP ${status ?? "error"}` } };
      continue;
    }
    const answer = readAnswerBody(body);
    const test = answer?.text ? extractTestFile(answer.text) : undefined;
    if (test === undefined) yield { ...base, noTest: { reason: "no_test_file", detail: answer?.failure ?? "the answer holds no test file" } };
    else yield { ...base, test };
  }
}

async function* runSamples(samples: AsyncIterable<Sample> | Iterable<Sample>, o: EvalRunOptions): AsyncGenerator<SftEvalRun> {
  // Results settle in any order; they are written in input order, holding only those that wait.
  const waiting = new Map<number, SftEvalRun>();
  let next = 0;
  for await (const [index, run] of mapConcurrent(samples, o.workers ?? 2, async (s) => [s.index, await runOne(s, o)] as const)) {
    waiting.set(index, run);
    while (waiting.has(next)) {
      yield waiting.get(next)!;
      waiting.delete(next++);
    }
  }
}

function testFileName(codeFile: string): string {
  return codeFile === "test_generated.py" ? "test_generated_sample.py" : "test_generated.py";
}

async function runOne(s: Sample, o: EvalRunOptions): Promise<SftEvalRun> {
  const base = { custom_id: s.custom_id, task_id: s.task.task_id, sample: s.sample, model: s.model };
  if (s.noTest) return { ...base, status: "failed", reason: s.noTest.reason, tests_collected: 0, tests_passed: 0, duration_ms: 0, failure_log: s.noTest.detail, test_file: "" };
  const testFile = testFileName(s.task.code_file);
  const result = await o.runner.run({
    id: s.custom_id,
    workspace: { kind: "files", files: { [s.task.code_file]: s.task.code, [testFile]: s.test!, [DRIVER_FILE]: DRIVER_SOURCE } },
    command: { python: [DRIVER_FILE, testFile, REPORT_FILE] },
    timeoutMs: o.timeoutMs,
    outputs: [REPORT_FILE],
  });
  const output = `${result.stdout}${result.stderr ? `\n${result.stderr}` : ""}`.trim();
  const tail = output.length > FAILURE_LOG_CHARS ? output.slice(-FAILURE_LOG_CHARS) : output;
  const done = { ...base, duration_ms: Math.round(result.durationMs), test_file: s.test! };
  const fail = (reason: SftEvalRun["reason"], collected: number, passed: number, log: string): SftEvalRun => ({ ...done, status: "failed", reason, tests_collected: collected, tests_passed: passed, failure_log: log });
  if (result.timedOut) return fail("timeout", 0, 0, `timed out after ${o.timeoutMs} ms\n${tail}`.trim());
  const text = result.outputs[REPORT_FILE];
  let report: DriverReport | undefined;
  try {
    report = text ? (JSON.parse(text) as DriverReport) : undefined;
  } catch {
    report = undefined;
  }
  if (!result.setup.ok || !report) {
    const why = !result.setup.ok ? result.setup.detail : `the pytest driver wrote no report (exit ${result.exitCode ?? result.signal})`;
    return { ...done, status: "error", reason: "runner_error", tests_collected: 0, tests_passed: 0, failure_log: `${why}\n${[...result.notes, tail].join("\n")}`.trim() };
  }
  if (report.syntax_error) return fail("syntax_error", 0, 0, report.syntax_error);
  if (report.collected === 0) return fail("no_tests_collected", 0, 0, tail);
  if (report.failed > 0 || report.errors > 0 || report.exit_code !== 0) return fail("tests_failed", report.collected, report.passed, tail);
  if (report.passed === 0 || report.checks === 0) {
    return fail("tests_nothing", report.collected, report.passed, report.passed === 0 ? "every test was skipped" : "no assert looks at anything but constants (assert True): the file passes whatever the code does");
  }
  return { ...done, status: "passed", tests_collected: report.collected, tests_passed: report.passed, failure_log: "" };
}
