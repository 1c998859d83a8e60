/**
 * The `submit` step: a workdir request file sent through the run's backend (`--backend`, with the
 * run's backend options), the merged answers written to a workdir output file. A killed submit
 * resumes from its own state file or journal, so nothing is uploaded or paid twice; a submit
 * started over (changed requests, --start-from) first removes that state.
 */
import { rm } from "node:fs/promises";
import { removeCacheWork, staleCacheWork } from "../../cache/cached-submit.ts";
import { journalPathFor } from "../../submitters/direct-runner.ts";
import { loadState, statePathFor } from "../../submitters/state.ts";
import type { SubmitEvent } from "../../submitters/submit-events.ts";
import { submitFile } from "../../submitters/submit-file.ts";
import { tierOfBackend } from "../../submitters/usage-cost.ts";
import { writeLines } from "./stage.ts";
import { answerOutcomes, countLines, customIds, submitUsage } from "../files.ts";
import { HASHED_BACKEND_OPTIONS, backendOptionsOf } from "../run-options.ts";
import { fileHash } from "../workdir.ts";
import type { Step, StepContext } from "../types.ts";

/** What a submit step reads and writes, and (replay) where its recording comes from. */
export interface SubmitStepOptions<Options> {
  in: string;
  out: string;
  /** The option (a key of the definition's options) holding the replay backend's recording for this step, e.g. `fromStep1`. */
  replay?: keyof Options & string;
}

/** Removes a submit's state, chunks, journal and output: the step starts over. */
export async function resetSubmit(output: string): Promise<void> {
  await rm(statePathFor(output), { force: true });
  await rm(`${output}.chunks`, { recursive: true, force: true });
  await rm(journalPathFor(output), { force: true });
  await rm(output, { force: true });
  await removeCacheWork(output);
}

/** On a resume, a state made for another request file cannot be resumed: start over. */
async function resetStaleSubmit(requests: string, output: string): Promise<void> {
  const state = await loadState(statePathFor(output)).catch(() => undefined);
  if ((state && state.requests.sha256 !== (await fileHash(requests))) || (await staleCacheWork(requests, output))) await resetSubmit(output);
}

/** The replay recording the options name for this step, if any. */
export function replayFile<Options>(options: Options, o: SubmitStepOptions<Options>): string | undefined {
  const v = o.replay ? (options as Record<string, unknown>)[o.replay] : undefined;
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Backend options for this step: the run's, the step's own overrides (RunContext.stepOptions), and its replay recording. */
export function submitOptionsFor<Options>(ctx: StepContext<Options>, o: SubmitStepOptions<Options>): Record<string, unknown> {
  const from = replayFile(ctx.options, o);
  return { ...backendOptionsOf(ctx.run), ...(from ? { from } : {}), ...ctx.stepOptions };
}

/**
 * How a step's `submitFile` reports: its lines to the step's log under `prefix`; when the run has
 * an event subscriber, the runner's lines come to it as submit events instead (the status block),
 * and only the other lines (the run lock) stay log lines.
 */
export function submitReporting(ctx: StepContext<any>, prefix: string): { log: (line: string) => void; onEvent?: (event: SubmitEvent) => void } {
  const onEvent = ctx.onSubmitEvent;
  const log = (line: string): void => {
    if (!(onEvent && line.startsWith("["))) ctx.log(`${prefix}: ${line}`);
  };
  return onEvent ? { log, onEvent } : { log };
}

/** A submit step named `name`. */
export function submit<Options = any>(name: string, o: SubmitStepOptions<Options>): Step<Options> & { submitOptions: SubmitStepOptions<Options> } {
  return {
    kind: "submit",
    name,
    in: [o.in],
    out: [o.out],
    submitOptions: o,
    hashed: (ctx) => {
      const picked = Object.fromEntries(HASHED_BACKEND_OPTIONS.filter((k) => ctx.run[k] !== undefined).map((k) => [k, ctx.run[k]]));
      return { backend: ctx.run.backend, ...picked, from: ctx.run.backend === "replay" ? (replayFile(ctx.options, o) ?? null) : null };
    },
    async run(ctx) {
      const requests = ctx.file(o.in);
      const output = ctx.file(o.out);
      if (!ctx.resume) await resetSubmit(output);
      else await resetStaleSubmit(requests, output);
      const prices = ctx.prices;
      let fromCache = 0;
      if ((await countLines(requests)) === 0) {
        await writeLines(output, []);
      } else {
        ({ fromCache = 0 } = await submitFile(ctx.run.backend, { ...submitOptionsFor(ctx, o), requests, output, env: ctx.env, ...submitReporting(ctx, ctx.name), ...(ctx.signal ? { signal: ctx.signal } : {}) }));
      }
      const usage = await submitUsage(output, prices, tierOfBackend(ctx.run.backend));
      // fromCache: lines the request cache answered (not sent, not paid for this time)
      return { produced: usage.succeeded, summary: { ...usage, ...(fromCache > 0 ? { fromCache } : {}) } };
    },
    async account(ctx) {
      const expected = new Set<string>();
      for (const path of await ctx.versions(o.in)) for (const id of await customIds(path, ctx.onBadLine)) expected.add(id);
      const outcomes = await answerOutcomes(await ctx.versions(o.out), ctx.onBadLine);
      return { expected, outcome: (id) => outcomes.get(id) };
    },
  };
}
