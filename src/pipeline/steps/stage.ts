/**
 * The `stage` step: a registered stage (by its name under stages/) over one workdir file, or over
 * records a `source` gives (a dataset), written to one workdir file. With `split`, each output
 * record is either a line for `out` or a failure record for `failures`; the report counts both.
 */
import { createReadStream } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic } from "../../core/atomic-file.ts";
import { UsageError } from "../../core/errors.ts";
import { type JsonlRecord, joinLines, readJsonl } from "../../core/jsonl.ts";
import { runStage } from "../../core/stage.ts";
import { loadStage } from "../../../stages/index.ts";
import { customIds, failureRecords } from "../files.ts";
import type { FailureRecord, Step, StepAccount, StepContext, StepResult } from "../types.ts";

/** Side inputs a stage gets (dataset index, structure loader, worker pool), built per run; `close` frees them. */
export interface SideInputs<Side = unknown> {
  side: Side;
  close?: () => Promise<void>;
}

/** How a stage step reads, runs and writes. */
export interface StageStepOptions<Options, Out> {
  /** Workdir file of input records (hashed, and read unless `source` reads it). Give this, `source`, or both. */
  in?: string;
  /** The records, when the definition reads them itself: from outside the workdir (a dataset), or `in` with its own filtering. `label` names them in errors. */
  source?: (ctx: StepContext<Options>) => { label: string; records: AsyncIterable<JsonlRecord> } | Promise<{ label: string; records: AsyncIterable<JsonlRecord> }>;
  /** Workdir file the records go to. */
  out: string;
  /** Workdir file for failure records (with `split`). */
  failures?: string;
  /** Each output record: a line for `out`, or a failure. Default: every record is a line. */
  split?: (record: Out) => { line: unknown } | { failure: FailureRecord };
  /** The report's name for the lines written (default "records"). */
  count?: string;
  /** The stage's side inputs, built before it runs and closed after. */
  side?: (ctx: StepContext<Options>) => Promise<SideInputs>;
  /** The stage's options (default: the pipeline's options). */
  options?: (ctx: StepContext<Options>) => Record<string, unknown>;
}

/** Writes `lines` (JSON values) to `path` atomically, one per line. */
export async function writeLines(path: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, joinLines(lines));
}

/** A stage step named `name` running stage `stageName` (e.g. `agentless/bugfixer/gen-step1`). */
export function stage<Options = any, Out = any>(name: string, stageName: string, o: StageStepOptions<Options, Out>): Step<Options> {
  if (o.in === undefined && o.source === undefined) throw new UsageError(`stage step ${name}: give in, source, or both`);
  const stageOptions = (ctx: StepContext<Options>) => o.options?.(ctx) ?? (ctx.options as Record<string, unknown>);
  return {
    kind: "stage",
    name,
    in: o.in === undefined ? [] : [o.in],
    out: o.failures ? [o.out, o.failures] : [o.out],
    failures: o.failures,
    hashed: (ctx) => ({ stage: stageName, options: stageOptions(ctx) }),
    async run(ctx): Promise<StepResult> {
      const definition = await loadStage(stageName);
      if (!definition) throw new UsageError(`stage step ${name}: no stage ${stageName} under stages/`);
      // How far through its input file the stage is (bytes read / size), for the progress bar.
      let fraction: () => number | undefined = () => undefined;
      let input: { label: string; records: AsyncIterable<JsonlRecord> };
      if (o.source) input = await o.source(ctx);
      else {
        const path = ctx.file(o.in!);
        const size = (await stat(path).catch(() => undefined))?.size; // a missing file fails below, as it always did
        let read = 0;
        async function* counted(): AsyncGenerator<Buffer> {
          for await (const chunk of createReadStream(path)) {
            read += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
        }
        fraction = () => (size === undefined ? undefined : size > 0 ? read / size : 1);
        input = { label: path, records: readJsonl(counted(), { file: path }) };
      }
      const side = o.side ? await o.side(ctx) : undefined;
      let lines = 0;
      const failures: string[] = [];
      const byReason: Record<string, number> = {};
      try {
        const outputs = runStage(definition, input.records, { file: input.label, options: stageOptions(ctx), side: side?.side });
        async function* written(): AsyncGenerator<string> {
          for await (const record of outputs) {
            const r = o.split ? o.split(record as Out) : { line: record };
            ctx.progress(lines + failures.length + 1, "records", fraction());
            if ("failure" in r) {
              failures.push(JSON.stringify(r.failure));
              byReason[r.failure.reason] = (byReason[r.failure.reason] ?? 0) + 1;
              continue;
            }
            lines++;
            yield JSON.stringify(r.line);
          }
        }
        await writeLines(ctx.file(o.out), written());
        if (o.failures) await writeLines(ctx.file(o.failures), failures);
      } finally {
        await side?.close?.();
      }
      const summary: Record<string, unknown> = { [o.count ?? "records"]: lines };
      if (o.failures) summary.failures = byReason;
      return { produced: lines, summary };
    },
    async account(ctx): Promise<StepAccount> {
      const done = new Set<string>();
      const failed = new Map<string, string>();
      for (const path of await ctx.versions(o.out)) for (const id of await customIds(path, ctx.onBadLine)) done.add(id);
      if (o.failures) for (const path of await ctx.versions(o.failures)) for await (const f of failureRecords(path, ctx.onBadLine)) failed.set(f.custom_id, f.reason);
      const expected = new Set<string>();
      if (o.in !== undefined) for (const path of await ctx.versions(o.in)) for (const id of await customIds(path, ctx.onBadLine)) expected.add(id);
      else for (const id of [...done, ...failed.keys()]) expected.add(id);
      return { expected, outcome: (id) => (done.has(id) ? "ok" : failed.get(id)) };
    },
  };
}
