/**
 * Records of the commit-testgen pipeline: failures (`failures.jsonl`), what gen and proc emit,
 * the `index.json` entries (ISO-Bench's `{commit_hash, script_path, category, message}`), and the
 * lines of `runs.jsonl`.
 */
import { z } from "zod";
import { BatchRequest } from "./batch-request.ts";

/**
 * Why a commit has no usable script. `syntax_error` carries line/column (1-based, as Python
 * reports them) and the extracted `code`; `runtime_error`/`timeout` come from runs.jsonl.
 */
export const CommitTestgenFailure = z.strictObject({
  custom_id: z.string(),
  commit_hash: z.string(),
  stage: z.enum(["gen", "proc", "run"]),
  reason: z.enum(["context_exceeded", "syntax_error", "no_code", "truncated", "request_failed", "runtime_error", "timeout"]),
  detail: z.string(),
  line: z.number().int().nullable().optional(),
  column: z.number().int().nullable().optional(),
  code: z.string().optional(),
});
export type CommitTestgenFailure = z.infer<typeof CommitTestgenFailure>;

/** What the gen stage emits: a request line, or a failure. */
export const CommitGenOutput = z.union([
  z.strictObject({ kind: z.literal("request"), request: BatchRequest, trimmed: z.unknown().optional() }),
  z.strictObject({ kind: z.literal("failure"), failure: CommitTestgenFailure }),
]);
export type CommitGenOutput = z.infer<typeof CommitGenOutput>;

/** What the proc stage emits per output line: a script that parses, or a failure. */
export const CommitProcOutput = z.union([
  z.strictObject({ kind: z.literal("script"), commit_hash: z.string(), code: z.string(), how: z.string() }),
  z.strictObject({ kind: z.literal("failure"), failure: CommitTestgenFailure }),
]);
export type CommitProcOutput = z.infer<typeof CommitProcOutput>;

/** One `index.json` entry. */
export const ScriptIndexEntry = z.looseObject({
  commit_hash: z.string(),
  script_path: z.string(),
  category: z.string().nullable().optional(),
  message: z.string().nullable().optional(),
});
export type ScriptIndexEntry = z.infer<typeof ScriptIndexEntry>;

/** One `runs.jsonl` line: the last run of a commit's script (`script_sha256` says which version ran). */
export const ScriptRun = z.strictObject({
  commit_hash: z.string(),
  script_path: z.string(),
  script_sha256: z.string(),
  status: z.enum(["passed", "failed", "timeout"]),
  exit_code: z.number().int().nullable(),
  duration_ms: z.number().int(),
  stdout_tail: z.string(),
  stderr_tail: z.string(),
  produced_test_cases: z.boolean(),
  files_written: z.array(z.string()),
  printed_json: z.boolean(),
  error: z.string().nullable(),
});
export type ScriptRun = z.infer<typeof ScriptRun>;
