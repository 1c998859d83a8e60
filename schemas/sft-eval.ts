/**
 * Records of `batchline sft eval`: a task (the code a test file is written for, and its reference
 * tests), and one line of `runs.jsonl` (one generated test file run with pytest against the task's
 * code). Scores (pass@k) are computed from runs.jsonl alone.
 */
import { z } from "zod";

/** A task: `code` is written to `code_file` (default solution.py, what KodCode tests import). */
export const SftEvalTask = z.looseObject({
  task_id: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, _ . - only (it starts the custom_id)"),
  code: z.string().min(1),
  code_file: z.string().min(1).regex(/^[\w./-]+\.py$/, "a relative .py path").default("solution.py"),
  /** Tests known to pass on `code` (used by `sft eval run --reference` to check the tasks). */
  reference_tests: z.string().optional(),
});
export type SftEvalTask = z.infer<typeof SftEvalTask>;

/** Why a sample did not pass. */
export const SftEvalFailReason = z.enum([
  "request_failed", // the request has no answer (HTTP error, expired, ...)
  "no_test_file", // the answer holds no test file
  "syntax_error", // the test file does not parse
  "no_tests_collected", // pytest collected nothing
  "tests_nothing", // only constant asserts: it passes whatever the code does
  "tests_failed", // a test failed or errored
  "timeout",
  "runner_error", // the sandbox could not run it
]);
export type SftEvalFailReason = z.infer<typeof SftEvalFailReason>;

/** One line of runs.jsonl. */
export const SftEvalRun = z.looseObject({
  custom_id: z.string(),
  task_id: z.string(),
  /** 0-based sample number. */
  sample: z.number().int().min(0),
  /** The model that answered (from the answer body), or "reference". */
  model: z.string(),
  status: z.enum(["passed", "failed", "error"]),
  reason: SftEvalFailReason.optional(),
  tests_collected: z.number().int().min(0),
  tests_passed: z.number().int().min(0),
  duration_ms: z.number().min(0),
  /** The tail of pytest's output (or the error) when it did not pass; "" when it passed. */
  failure_log: z.string(),
  /** The test file as run ("" when there was none). */
  test_file: z.string(),
});
export type SftEvalRun = z.infer<typeof SftEvalRun>;
