/**
 * The `sink` step: records of a workdir file (run through a registered stage first, when one is
 * named) laid out as a folder by the definition's `write` (agentless `save/`: samples/,
 * output_<pass>_processed*.jsonl, preds_<pass>.jsonl, failures.jsonl). A sink's folder is shared
 * by the main run and the retry rounds: the main run starts it afresh, rounds merge into it.
 */
import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { UsageError } from "../../core/errors.ts";
import { readJsonl } from "../../core/jsonl.ts";
import { runStage } from "../../core/stage.ts";
import { loadStage } from "../../../stages/index.ts";
import { answerOutcomes, customIds, failureRecords } from "../files.ts";
import type { SideInputs } from "./stage.ts";
import type { Step, StepContext, StepResult } from "../types.ts";

/** How a sink reads its records and lays them out. */
export interface SinkStepOptions<Options> {
  /** Workdir files it reads; the first holds its records, the others are side inputs its `side` reads. */
  in: string[];
  /** A registered stage the records go through first (e.g. `agentless/bugfixer/proc-step2`). */
  stage?: string;
  /** The folder it lays out (workdir-relative, ends in `/`). */
  out: string;
  /** The failure records it keeps in its folder (e.g. `save/failures.jsonl`), for rounds and coverage. */
  failures?: string;
  /** Only these failure records are this step's (default: all in `failures`). */
  ownsFailure?: (failure: { stage?: string }) => boolean;
  side?: (ctx: StepContext<Options>) => Promise<SideInputs>;
  options?: (ctx: StepContext<Options>) => Record<string, unknown>;
  /** Lays out the records under `dir` (merging with what is there); returns how many it produced and the report entry. */
  write(records: AsyncIterable<unknown>, dir: string, ctx: StepContext<Options>): Promise<StepResult>;
  /** Coverage: the custom_ids it turned into a result (default: every answered id without a failure). */
  succeeded?: (dir: string, ids: Iterable<string>) => Promise<Set<string>>;
}

/** A sink step named `name`. */
export function sink<Options = any>(name: string, o: SinkStepOptions<Options>): Step<Options> {
  if (!o.out.endsWith("/")) throw new UsageError(`sink step ${name}: out must be a folder (ending in /), got ${o.out}`);
  const stageOptions = (ctx: StepContext<Options>) => o.options?.(ctx) ?? (ctx.options as Record<string, unknown>);
  const owns = o.ownsFailure ?? (() => true);
  return {
    kind: "sink",
    name,
    in: o.in,
    out: [o.out, ...(o.failures ? [o.failures] : [])],
    failures: o.failures,
    hashed: (ctx) => ({ stage: o.stage ?? null, options: stageOptions(ctx) }),
    async run(ctx): Promise<StepResult> {
      const dir = ctx.file(o.out);
      if (ctx.round === 0) await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const file = ctx.file(o.in[0]!);
      const lines = readJsonl(createReadStream(file), { file });
      const side = o.side ? await o.side(ctx) : undefined;
      try {
        let records: AsyncIterable<unknown>;
        if (o.stage) {
          const definition = await loadStage(o.stage);
          if (!definition) throw new UsageError(`sink step ${name}: no stage ${o.stage} under stages/`);
          records = runStage(definition, lines, { file, options: stageOptions(ctx), side: side?.side });
        } else {
          records = (async function* () {
            for await (const rec of lines) yield rec.value;
          })();
        }
        let n = 0;
        const counted = (async function* () {
          for await (const record of records) {
            ctx.progress(++n, "records");
            yield record;
          }
        })();
        return await o.write(counted, dir, ctx);
      } finally {
        await side?.close?.();
      }
    },
    async account(ctx) {
      const answered = await answerOutcomes(await ctx.versions(o.in[0]!), ctx.onBadLine);
      const expected = new Set<string>(answered.keys());
      if (answered.size === 0) for (const path of await ctx.versions(o.in[0]!)) for (const id of await customIds(path, ctx.onBadLine)) expected.add(id);
      const failed = new Map<string, string>();
      if (o.failures) for await (const f of failureRecords(ctx.file(o.failures), ctx.onBadLine)) if (owns(f)) failed.set(f.custom_id, f.reason);
      const done = o.succeeded ? await o.succeeded(ctx.file(o.out), expected) : new Set([...expected].filter((id) => !failed.has(id)));
      return { expected, outcome: (id) => (failed.has(id) ? failed.get(id) : done.has(id) ? "ok" : undefined) };
    },
  };
}
