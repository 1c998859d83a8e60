/**
 * The `eval` step (built with `evaluate`, since `eval` is taken): records of a workdir file run
 * through a runner (tests in a sandbox), one result line per record. The definition's `evaluate`
 * function owns the runner (src/runners/); the engine owns the files, the failure records
 * (every result not `passed`, with its reason), the report and coverage.
 */
import { createReadStream } from "node:fs";
import type { JsonlRecord } from "../../core/jsonl.ts";
import { readJsonl } from "../../core/jsonl.ts";
import { customIds, records as fileRecords } from "../files.ts";
import { writeLines } from "./stage.ts";
import type { Step, StepContext, StepResult } from "../types.ts";

/** One evaluated record: its custom_id, whether it passed, and why not; other fields are kept in `out`. */
export interface EvalResult {
  custom_id: string;
  status: "passed" | "failed" | "error";
  /** Why it did not pass (default: the status). */
  reason?: string;
  detail?: string;
  [key: string]: unknown;
}

/** What an eval step reads and writes, and how it evaluates. */
export interface EvalStepOptions<Options> {
  in: string;
  /** Workdir file of `EvalResult` lines, in input order. */
  out: string;
  /** Workdir file of failure records for what did not pass (default `<out>.failures.jsonl`). */
  failures?: string;
  /** Evaluates the records (through a runner); yields one result per record. */
  evaluate(records: AsyncIterable<JsonlRecord>, ctx: StepContext<Options>): AsyncIterable<EvalResult>;
  /** What besides the input decides the results (image, timeout, ...), for the step's hash. */
  hashed?: (ctx: StepContext<Options>) => unknown;
}

/** An eval step named `name`. */
export function evaluate<Options = any>(name: string, o: EvalStepOptions<Options>): Step<Options> {
  const failures = o.failures ?? `${o.out}.failures.jsonl`;
  return {
    kind: "eval",
    name,
    in: [o.in],
    out: [o.out, failures],
    failures,
    hashed: (ctx) => o.hashed?.(ctx) ?? null,
    async run(ctx): Promise<StepResult> {
      const file = ctx.file(o.in);
      const counts = { passed: 0, failed: 0, error: 0 };
      const byReason: Record<string, number> = {};
      const failed: string[] = [];
      async function* results(): AsyncGenerator<string> {
        for await (const r of o.evaluate(readJsonl(createReadStream(file), { file }), ctx)) {
          counts[r.status]++;
          ctx.progress(counts.passed + counts.failed + counts.error, "evaluated");
          if (r.status !== "passed") {
            const reason = r.reason ?? r.status;
            byReason[reason] = (byReason[reason] ?? 0) + 1;
            failed.push(JSON.stringify({ custom_id: r.custom_id, stage: name, reason, detail: r.detail ?? "" }));
          }
          yield JSON.stringify(r);
        }
      }
      await writeLines(ctx.file(o.out), results());
      await writeLines(ctx.file(failures), failed);
      return { produced: counts.passed + counts.failed + counts.error, summary: { ...counts, failures: byReason } };
    },
    async account(ctx) {
      const expected = new Set<string>();
      for (const path of await ctx.versions(o.in)) for (const id of await customIds(path, ctx.onBadLine)) expected.add(id);
      const outcome = new Map<string, string>();
      for (const path of await ctx.versions(o.out)) {
        for await (const rec of fileRecords(path, ctx.onBadLine)) {
          const r = rec.value as EvalResult;
          if (outcome.get(r.custom_id) !== "ok") outcome.set(r.custom_id, r.status === "passed" ? "ok" : (r.reason ?? r.status));
        }
      }
      return { expected, outcome: (id) => outcome.get(id) };
    },
  };
}
