/**
 * One agentless stage over files, as `batchline agentless bugfixer|testwriter <stage>` runs it:
 * gen stages write request lines and failure records; proc_step2 lays out --save_dir. The caller
 * opens the input (a path it can read twice: stdin spooled first) and says where lines go; this
 * module builds the side inputs, applies the id selection and the last-line-per-custom_id rule,
 * and runs the registered stage.
 */
import { createReadStream } from "node:fs";
import type { GenOutput, Step2Output } from "../../schemas/agentless.ts";
import { UsageError } from "../core/errors.ts";
import { type JsonlRecord, joinLines, readJsonl, recordIdOf } from "../core/jsonl.ts";
import { type SkippedRecord, runStage } from "../core/stage.ts";
import { loadStage } from "../../stages/index.ts";
import { lastLinesOfRepeatedIds } from "./last-line-per-id.ts";
import { type SaveSummary, saveStep2 } from "./save.ts";
import { type AgentlessStage, type DatasetChoice, type IdSelection, agentlessSide, checkSelection, checkStructureDir, datasetRecords, lastLineWins, selectRecords } from "./side-inputs.ts";
import type { Role } from "./steps.ts";

/** One stage run. */
export interface AgentlessStageRun {
  role: Role;
  stage: AgentlessStage;
  /** The stage's options (the scripts' options: modelName, passk, numWorkers, ...). */
  options: Record<string, unknown>;
  dataset: DatasetChoice;
  repostructureDir: string | undefined;
  selection: IdSelection;
  /** proc stages: the previous step's output; `chunks` is what is read (with the caller's progress), `path` is read again for ids. */
  input?: { file: string; path: string; chunks: AsyncIterable<Buffer> };
  /** gen stages: where the request lines and the failure records go (JSONL text, in chunks). */
  writeRequests?: (chunks: AsyncIterable<string>) => Promise<void>;
  writeFailures?: (chunks: AsyncIterable<string>) => Promise<void>;
  /** proc_step2: the folder to lay out. */
  saveDir?: string | undefined;
  /** Testwriter proc_step2: the step-1 output (which test file step 1 chose). */
  step1File?: string | undefined;
  onSkip?: (skipped: SkippedRecord) => void;
  env: Record<string, string | undefined>;
  log?: (line: string) => void;
}

/** What a stage run produced: requests and failures by reason (gen stages), or the save summary (proc_step2). */
export type AgentlessStageResult = { kind: "requests"; requests: number; failures: number; byReason: Record<string, number> } | ({ kind: "save" } & SaveSummary);

const stringOf = (v: unknown) => (typeof v === "string" ? v : undefined);

async function allIds(records: AsyncIterable<JsonlRecord>): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of records) ids.push(recordIdOf(r.value) ?? "");
  return ids;
}

/** Runs one agentless stage; throws a UsageError for a missing input, output or directory. */
export async function runAgentlessStage(r: AgentlessStageRun): Promise<AgentlessStageResult> {
  const stageName = `agentless/${r.role}/${r.stage.replace(/_/g, "-")}`;
  const definition = (await loadStage(stageName))!;
  const repostructureDir = await checkStructureDir(r.repostructureDir);
  checkSelection(r.selection);
  const log = r.log ?? (() => {});
  if (r.stage === "proc_step2" && !r.saveDir) throw new UsageError(`${stageName}: missing --save_dir <dir>`);

  let records: AsyncIterable<JsonlRecord>;
  let file: string;
  if (r.stage === "gen_step1") {
    file = r.dataset.dataset;
    records = selectRecords(datasetRecords(r.dataset, r.env, (line) => log(`dataset: ${line}`)), r.selection, () => allIds(datasetRecords(r.dataset, r.env)));
  } else {
    if (!r.input) throw new UsageError(`${stageName}: missing --input_file <batch output of the previous step>`);
    const { path } = r.input;
    file = r.input.file;
    const repeated = await lastLinesOfRepeatedIds(path);
    const onSkip = r.onSkip;
    const lines = lastLineWins(readJsonl(r.input.chunks, { file, ...(onSkip ? { onBadLine: (err) => onSkip({ at: err.at, error: err }) } : {}) }), repeated, (n) => log(`${stageName}: ${n} earlier line(s) of ${repeated.size} repeated custom_id(s) ignored: the last line of each is its outcome`));
    records = selectRecords(lines, r.selection, () => allIds(readJsonl(createReadStream(path), { file: path, onBadLine: () => {} })));
  }

  const workers = Number(r.options.numWorkers ?? 8);
  const { side, close } = await agentlessSide({
    role: r.role,
    stage: r.stage,
    dataset: r.dataset,
    repostructureDir,
    prompts: { prompt: stringOf(r.options.promptTemplate), step1: stringOf(r.options.step1PromptTemplate), step2: stringOf(r.options.step2PromptTemplate) },
    numWorkers: Number.isFinite(workers) ? workers : 1,
    step1Files: r.step1File ? [r.step1File] : undefined,
    env: r.env,
    log: (line) => log(`dataset: ${line}`),
    note: log,
  });
  try {
    const outputs = runStage(definition, records, { file, options: r.options, side, ...(r.onSkip ? { onSkip: r.onSkip } : {}) });
    if (r.stage === "proc_step2") {
      const model = String(r.options.modelName ?? "deepseek-ai/DeepSeek-R1");
      return { kind: "save", ...(await saveStep2(r.saveDir!, r.role, model, outputs as AsyncIterable<Step2Output>)) };
    }
    const failures: string[] = [];
    const byReason: Record<string, number> = {};
    let requests = 0;
    async function* lines(): AsyncGenerator<string> {
      for await (const out of outputs as AsyncIterable<GenOutput>) {
        if (out.kind === "request") {
          requests++;
          yield JSON.stringify(out.request);
        } else {
          failures.push(JSON.stringify(out.failure));
          byReason[out.failure.reason] = (byReason[out.failure.reason] ?? 0) + 1;
        }
      }
    }
    const drain = async (chunks: AsyncIterable<string>) => {
      for await (const _ of chunks);
    };
    await (r.writeRequests ?? drain)(joinLines(lines()));
    if (r.writeFailures) await r.writeFailures(joinLines(failures));
    return { kind: "requests", requests, failures: failures.length, byReason };
  } finally {
    await close();
  }
}
