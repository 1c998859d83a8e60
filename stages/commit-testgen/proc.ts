/**
 * commit-testgen proc: batch output lines -> the script of each commit (the first code candidate
 * that Python's parser accepts, see src/commit-testgen/answer-code.ts) or a failure:
 * `request_failed` (no answer: HTTP error, expired, ...), `truncated` (finish_reason length),
 * `no_code`, `syntax_error` (line, column, message of the preferred candidate, and its code, for
 * repair). The syntax checker is a side input: one python3 process for the whole file. Up to 64
 * checks are in flight at once; outputs keep input order.
 */
import { z } from "zod";
import { BatchlineError } from "../../src/core/errors.ts";
import { defineStage } from "../../src/core/stage.ts";
import { BatchOutput } from "../../schemas/openai-batch-output.ts";
import { type CommitProcOutput, CommitProcOutput as ProcOutputSchema } from "../../schemas/commit-testgen.ts";
import { answerOf } from "../../src/agentless/answers.ts";
import { codeCandidates } from "../../src/commit-testgen/answer-code.ts";
import type { SyntaxVerdict } from "../../src/commit-testgen/syntax-checker.ts";

/** Side inputs: the commits by full hash, and the syntax checker. */
export interface CommitProcSide {
  extractions: ReadonlyMap<string, unknown>;
  check(code: string): Promise<SyntaxVerdict>;
}

const IN_FLIGHT = 64;

async function processLine(line: BatchOutput, side: CommitProcSide): Promise<CommitProcOutput> {
  const hash = line.custom_id;
  const failure = (reason: "request_failed" | "truncated" | "no_code" | "syntax_error", detail: string, extra: Record<string, unknown> = {}): CommitProcOutput => ({
    kind: "failure",
    failure: { custom_id: hash, commit_hash: hash, stage: "proc", reason, detail, ...extra },
  });
  const answer = answerOf(line);
  if (!answer.ok) {
    if (answer.reason === "truncated") return failure("truncated", answer.detail);
    if (answer.reason === "empty_answer" || answer.reason === "null_content") return failure("no_code", answer.detail);
    return failure("request_failed", `${answer.reason}: ${answer.detail}`);
  }
  const candidates = codeCandidates(answer.text);
  if (candidates.length === 0) return failure("no_code", "the answer holds no Python script (no python block, no line that starts code, or too short to be a script)");
  let first: (SyntaxVerdict & { ok: false }) | undefined;
  for (const c of candidates) {
    const verdict = await side.check(c.code);
    if (verdict.ok) return { kind: "script", commit_hash: hash, code: c.code, how: c.how };
    first ??= verdict;
  }
  const where = first!.line === null ? "" : ` at line ${first!.line}${first!.column === null ? "" : `, column ${first!.column}`}`;
  return failure("syntax_error", `${first!.message}${where}`, { line: first!.line, column: first!.column, code: candidates[0]!.code });
}

export default defineStage({
  name: "commit-testgen/proc",
  description: "Batch output -> each commit's Python test-generator script (syntax-checked by Python) or a failure with its reason",
  input: BatchOutput,
  output: ProcOutputSchema,
  options: z.strictObject({}),
  async *transform(lines, ctx: { side: CommitProcSide }) {
    const queue: Promise<CommitProcOutput>[] = [];
    for await (const line of lines) {
      if (!ctx.side.extractions.has(line.custom_id)) {
        throw new BatchlineError(`custom_id ${line.custom_id} is not the hash of a commit in --extractions-dir`);
      }
      const pending = processLine(line, ctx.side);
      pending.catch(() => {}); // awaited in turn below; this only keeps a later rejection from counting as unhandled
      queue.push(pending);
      if (queue.length >= IN_FLIGHT) yield await queue.shift()!;
    }
    while (queue.length > 0) yield await queue.shift()!;
  },
});
