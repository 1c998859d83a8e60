/**
 * The pieces both agentless pipeline definitions (agentless-bugfixer.ts, agentless-testwriter.ts)
 * are made of: their options (every option of the Kimi-Dev scripts, the dataset and structure
 * flags, id selection, replay recordings), the checks made before the first step, and the hooks
 * their steps call (dataset rows for gen_step1, side inputs per stage, the save/ sink).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { AgentlessOptions, type GenOutput, type Step2Output } from "../../schemas/agentless.ts";
import { type FailureRecord, type RoundsStep, type SideInputs, type Step, type StepContext, type StepResult, rounds, sink, stage, submit } from "../pipeline/index.ts";
import { saveStep2 } from "./save.ts";
import { type AgentlessStage, DEFAULT_DATASET, agentlessSide, checkDataset, checkSelection, checkStructureDir, datasetRecords, selectRecords, selectsAll } from "./side-inputs.ts";
import type { Role } from "./steps.ts";

const text = z.string();

/** Every option of an agentless pipeline besides the engine's own. */
// --prompt-template names the prompt of the one stage being run; a pipeline runs both steps and takes --step1/--step2-prompt-template.
const { promptTemplate: _oneStageTemplate, ...stageShape } = AgentlessOptions.shape;

export const AgentlessPipelineOptions = z.object({
  ...stageShape,
  dataset: text.default(DEFAULT_DATASET).describe("Hugging Face dataset id, or a .jsonl/.json/.parquet file"),
  split: text.default("test").describe("dataset split"),
  revision: text.optional().describe("dataset branch, tag or commit"),
  repostructureDir: text.optional().describe("Agentless repo structures, <dir>/<instance_id>.json (--repostructure_dir; required)"),
  start: z.union([text, z.number()]).optional().describe("first instance_id kept (or a 0-based position in the sorted ids)"),
  startFile: z.union([text, z.number()]).optional().describe("the Python scripts' name for --start"),
  end: z.union([text, z.number()]).optional().describe("instance_id (or position) where the selection stops, exclusive"),
  endFile: z.union([text, z.number()]).optional().describe("the Python scripts' name for --end"),
  shard: text.optional().describe("only instance_ids whose stable hash mod n is i (i/n)"),
  fromStep1: text.optional().describe("--backend replay: the recorded step-1 output"),
  fromStep2: text.optional().describe("--backend replay: the recorded step-2 output"),
});
export type AgentlessPipelineOptions = z.infer<typeof AgentlessPipelineOptions>;
type Ctx = StepContext<AgentlessPipelineOptions>;

/** Options that never change an output. */
export const AGENTLESS_VOLATILE = ["numWorkers"] as const;

/** Before the first step: the structures directory exists, the dataset is reachable, the id selection parses. */
export async function agentlessPreflight(ctx: { options: AgentlessPipelineOptions; env: Record<string, string | undefined> }): Promise<void> {
  const o = ctx.options;
  await checkStructureDir(o.repostructureDir);
  checkSelection(selectionOf(o));
  await checkDataset({ dataset: o.dataset, split: o.split, revision: o.revision }, ctx.env);
}

function selectionOf(o: AgentlessPipelineOptions) {
  return { start: o.start ?? o.startFile, end: o.end ?? o.endFile, shard: o.shard };
}

/** The stage options: what the stages' schema reads (the pipeline's own flags stay out). */
export function stageOptions(ctx: Ctx): Record<string, unknown> {
  const keys = Object.keys(AgentlessOptions.shape);
  return Object.fromEntries(keys.filter((k) => (ctx.options as Record<string, unknown>)[k] !== undefined).map((k) => [k, (ctx.options as Record<string, unknown>)[k]]));
}

/** gen_step1's records: the dataset's rows, with the id selection applied. */
export function datasetSource(ctx: Ctx) {
  const o = ctx.options;
  const choice = { dataset: o.dataset, split: o.split, revision: o.revision };
  const log = (line: string) => ctx.log(`dataset: ${line}`);
  const selection = selectionOf(o);
  const rows = datasetRecords(choice, ctx.env, log);
  const records = selectsAll(selection)
    ? rows
    : selectRecords(rows, selection, async () => {
        const ids: string[] = [];
        for await (const r of datasetRecords(choice, ctx.env)) ids.push((r.value as { instance_id: string }).instance_id);
        return ids;
      });
  return { label: o.dataset, records };
}

/** A stage's side inputs, built for this run (dataset index, structures, template, worker pool, step-1 choices). */
export function sideFor(role: Role, stage: AgentlessStage) {
  return async (ctx: Ctx): Promise<SideInputs> => {
    const o = ctx.options;
    return agentlessSide({
      role,
      stage,
      dataset: { dataset: o.dataset, split: o.split, revision: o.revision },
      repostructureDir: o.repostructureDir!,
      prompts: { step1: o.step1PromptTemplate, step2: o.step2PromptTemplate },
      note: ctx.log,
      numWorkers: o.numWorkers,
      step1Files: stage === "proc_step2" ? await ctx.versions("step1_output.jsonl") : undefined,
      env: ctx.env,
      log: (line) => ctx.log(`dataset: ${line}`),
    });
  };
}

/** A gen stage's output: a request line, or a failure for its failures file. */
export function requestOrFailure(out: GenOutput): { line: unknown } | { failure: FailureRecord } {
  return out.kind === "request" ? { line: out.request } : { failure: out.failure };
}

/** The proc_step2 sink: save/ laid out as Agentless and the SWE-bench harness read it. */
export function saveTo(role: Role) {
  return async (records: AsyncIterable<unknown>, dir: string, ctx: Ctx): Promise<StepResult> => {
    const summary = await saveStep2(dir, role, ctx.options.modelName, records as AsyncIterable<Step2Output>);
    return { produced: summary.samples, summary: { samples: summary.samples, failures: summary.byReason } };
  };
}

/** Coverage of proc_step2: the custom_ids with a sample file. */
export async function samplesWritten(dir: string, ids: Iterable<string>): Promise<Set<string>> {
  return new Set([...ids].filter((id) => existsSync(join(dir, "samples", `${id}.jsonl`))));
}

/** proc_step2's own failure records in save/failures.jsonl. */
export const isProcStep2Failure = (f: { stage?: string }) => f.stage === "proc_step2";

/**
 * The steps of an agentless pipeline for `role`: gen_step1, its submit, proc_step1_gen_step2, its
 * submit, proc_step2 into save/, then retry rounds that re-request failed step-1 requests and
 * every proc_step2 failure. The two roles differ only in the stages they run.
 */
export function agentlessSteps(role: Role): (Step<AgentlessPipelineOptions> | RoundsStep)[] {
  return [
    stage("gen_step1", `agentless/${role}/gen-step1`, { source: datasetSource, out: "step1_requests.jsonl", failures: "step1_requests.jsonl.failures.jsonl", split: requestOrFailure, count: "requests", side: sideFor(role, "gen_step1"), options: stageOptions }),
    submit("submit_step1", { in: "step1_requests.jsonl", out: "step1_output.jsonl", replay: "fromStep1" }),
    stage("proc_step1_gen_step2", `agentless/${role}/proc-step1-gen-step2`, { in: "step1_output.jsonl", out: "step2_requests.jsonl", failures: "step2_requests.jsonl.failures.jsonl", split: requestOrFailure, count: "requests", side: sideFor(role, "proc_step1_gen_step2"), options: stageOptions }),
    submit("submit_step2", { in: "step2_requests.jsonl", out: "step2_output.jsonl", replay: "fromStep2" }),
    sink("proc_step2", { in: ["step2_output.jsonl", "step1_output.jsonl"], stage: `agentless/${role}/proc-step2`, out: "save/", failures: "save/failures.jsonl", ownsFailure: isProcStep2Failure, side: sideFor(role, "proc_step2"), options: stageOptions, write: saveTo(role), succeeded: samplesWritten }),
    rounds({
      retry: [
        { from: "submit_step1", failedRequests: true },
        { from: "submit_step2", failures: "save/failures.jsonl", when: isProcStep2Failure },
      ],
      names: { submit_step2: "submit" },
    }),
  ];
}
