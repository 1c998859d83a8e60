/**
 * `batchline sft kodcode|testgeneval`: argv -> options -> `writeSftData` (src/sft). The hub
 * settings come from the environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE).
 */
import { homedir } from "node:os";
import type { CAC } from "cac";
import { UsageError } from "../../core/errors.ts";
import { hubOptionsFromEnv } from "../../datasets/hub.ts";
import { readPromptTemplate } from "../../sft/prompt.ts";
import { SFT_FORMATS, type SftFormat, describeSummary, writeSftData } from "../../sft/sft-data.ts";
import { SFT_SOURCES, type SftSourceName } from "../../sft/sources.ts";
import { loadTokenizer } from "../../sft/tokenizer.ts";
import { loadEvalTasks } from "../../sft/eval.ts";
import { TRACE_FORMATS, type TraceFormat, traceLines } from "../../sft/traces.ts";
import { DEFAULT_BASE_MODEL, STAGES, TRL_VERSION, type TrlStage, trlCommands, trlConfigYaml } from "../../sft/trl-config.ts";
import { writeOutput } from "../io.ts";
import { stringOption } from "../options.ts";

export const SFT_COMMANDS = ["sft kodcode", "sft testgeneval", "sft trl-config", "sft traces"] as const;

interface DataFlags {
  dataset?: string;
  split?: string;
  revision?: string;
  output?: string;
  format?: string;
  promptTemplate?: string;
  existingTestsColumn?: string;
  maxLength?: string;
  tokenizer?: string;
  tokenizerRevision?: string;
  limit?: string;
  seed?: string;
  quiet?: boolean;
}

/** A whole number >= min from an option, or undefined when absent. */
export function wholeNumber(value: unknown, flag: string, min: number): number | undefined {
  const s = stringOption(value);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} ${s}: expected a whole number >= ${min}`);
  return n;
}

async function data(source: SftSourceName, flags: DataFlags, env: Record<string, string | undefined>): Promise<void> {
  const dataset = stringOption(flags.dataset);
  if (!dataset) throw new UsageError(`sft ${source} needs --dataset <hub id or .jsonl/.json/.parquet file>`);
  const format = stringOption(flags.format) ?? "prompt-completion";
  if (!(SFT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: expected one of ${SFT_FORMATS.join(", ")}`);
  const log = flags.quiet ? undefined : (line: string) => process.stderr.write(`sft ${source}: ${line}\n`);
  const hub = { ...hubOptionsFromEnv(env, homedir()), ...(log ? { onLog: log } : {}) };
  const maxLength = wholeNumber(flags.maxLength, "--max-length", 1);
  const tokenizerSpec = stringOption(flags.tokenizer);
  if (maxLength !== undefined && !tokenizerSpec) throw new UsageError("--max-length needs --tokenizer (a tokenizer.json, a directory with one, or a hub model id)");
  const tokenizerRevision = stringOption(flags.tokenizerRevision);
  const tokenizer = tokenizerSpec ? await loadTokenizer(tokenizerSpec, { ...hub, ...(tokenizerRevision ? { revision: tokenizerRevision } : {}) }) : undefined;
  const templatePath = stringOption(flags.promptTemplate);
  const split = stringOption(flags.split);
  const revision = stringOption(flags.revision);
  const existing = stringOption(flags.existingTestsColumn);
  const limit = wholeNumber(flags.limit, "--limit", 1);
  const seed = wholeNumber(flags.seed, "--seed", 0);
  const summary = await writeSftData(
    {
      source,
      dataset,
      hub,
      ...(revision ? { revision } : {}),
      format: format as SftFormat,
      output: stringOption(flags.output) ?? "-",
      ...(split ? { split } : {}),
      ...(templatePath ? { promptTemplate: await readPromptTemplate(templatePath) } : {}),
      ...(existing ? { existingTestsColumn: existing } : {}),
      ...(maxLength !== undefined ? { maxLength } : {}),
      ...(tokenizer ? { tokenizer } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(seed !== undefined ? { seed } : {}),
    },
    writeOutput,
  );
  log?.(describeSummary(summary));
}

interface TrlFlags {
  stage?: string;
  baseModel?: string;
  adapterFrom?: string;
  dataset?: string;
  outputDir?: string;
  epochs?: string;
  maxSteps?: string;
  maxLength?: string;
  output?: string;
}

async function trlConfig(flags: TrlFlags): Promise<void> {
  const stage = stringOption(flags.stage)?.toLowerCase();
  if (!stage || !Object.hasOwn(STAGES, stage)) throw new UsageError(`sft trl-config needs --stage a, b or c${stage ? ` (got ${stage})` : ""}`);
  const epochsText = stringOption(flags.epochs);
  const epochs = epochsText === undefined ? undefined : Number(epochsText);
  if (epochs !== undefined && !(epochs > 0)) throw new UsageError(`--epochs ${epochsText}: expected a number > 0 (0.5 for half an epoch)`);
  const maxSteps = wholeNumber(flags.maxSteps, "--max-steps", 1);
  if (epochs !== undefined && maxSteps !== undefined) throw new UsageError("give --epochs or --max-steps, not both");
  const options = {
    stage: stage as TrlStage,
    ...(stringOption(flags.baseModel) ? { baseModel: stringOption(flags.baseModel)! } : {}),
    ...(stringOption(flags.adapterFrom) ? { adapterFrom: stringOption(flags.adapterFrom)! } : {}),
    ...(stringOption(flags.dataset) ? { dataset: stringOption(flags.dataset)! } : {}),
    ...(stringOption(flags.outputDir) ? { outputDir: stringOption(flags.outputDir)! } : {}),
    ...(epochs !== undefined ? { epochs } : {}),
    ...(maxSteps !== undefined ? { maxSteps } : {}),
    ...(flags.maxLength !== undefined ? { maxLength: wholeNumber(flags.maxLength, "--max-length", 1)! } : {}),
  };
  const output = stringOption(flags.output) ?? "-";
  const yaml = trlConfigYaml(options);
  await writeOutput(output, (async function* () {
    yield yaml;
  })());
  const commands = trlCommands(options, output === "-" ? `sft_stage_${stage}.yaml` : output);
  process.stderr.write(`sft trl-config: stage ${stage.toUpperCase()} for TRL ${TRL_VERSION}; run it with:\n${commands.map((c) => `  ${c}\n`).join("")}`);
}

/** A repeatable, comma-separable file option as a list. */
function fileList(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

async function traces(flags: { evalRuns?: unknown; tasks?: unknown; sweTestgen?: unknown; format?: unknown; output?: unknown; quiet?: boolean }, env: Record<string, string | undefined>): Promise<void> {
  const evalRuns = fileList(flags.evalRuns);
  const preds = fileList(flags.sweTestgen);
  if (evalRuns.length === 0 && preds.length === 0) throw new UsageError("sft traces needs --eval-runs <runs.jsonl> (with --tasks) or --swe-testgen <preds.json>");
  const tasksSpec = stringOption(flags.tasks);
  if (evalRuns.length > 0 && !tasksSpec) throw new UsageError("--eval-runs needs --tasks (the tasks the runs were made from: the code under test)");
  const format = stringOption(flags.format) ?? "prompt-completion";
  if (!(TRACE_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: expected one of ${TRACE_FORMATS.join(", ")}`);
  const tasks = tasksSpec ? await loadEvalTasks({ tasks: tasksSpec, hub: hubOptionsFromEnv(env, homedir()) }) : undefined;
  const output = stringOption(flags.output) ?? "-";
  const { lines, summary } = traceLines({ evalRuns, preds, ...(tasks ? { tasks } : {}) }, format as TraceFormat);
  await writeOutput(output, lines);
  if (!flags.quiet) process.stderr.write(`sft traces: ${summary.eval + summary.swe_testgen} pair(s) (sft eval ${summary.eval}, swe-testgen ${summary.swe_testgen}); dropped: unchanged ${summary.unchanged}, duplicate ${summary.duplicate}\n`);
}

export function registerSft(cli: CAC, env: Record<string, string | undefined>): void {
  for (const source of Object.keys(SFT_SOURCES) as SftSourceName[]) {
    const s = SFT_SOURCES[source];
    cli
      .command(`sft ${source}`, `${source === "kodcode" ? "KodCode-V1-SFT-R1" : "TestGenEval"} rows (${s.codeColumn} -> ${s.testColumn}) -> TRL SFT rows: filtered, deduped, length-checked, subset`)
      .option("--dataset <id|file>", "Hub dataset id or a local .jsonl/.json/.parquet file")
      .option("--split <name>", `Hub split (default ${s.split})`)
      .option("--revision <rev>", "Hub branch, tag or commit (default main)")
      .option("-o, --output <path>", "Output JSONL, or - (default)")
      .option("--format <name>", `${SFT_FORMATS.join(" or ")} (default prompt-completion: {prompt, completion}; messages: {messages: [user, assistant]})`)
      .option("--prompt-template <file>", "Prompt template with {code}, {code_file}, {existing_tests} (default batchline's)")
      .option("--existing-tests-column <name>", "A text column to show as existing tests (default none: full-file generation)")
      .option("--max-length <n>", "Drop rows whose prompt + completion exceed n tokens (needs --tokenizer)")
      .option("--tokenizer <path|id>", "tokenizer.json, a directory holding one, or a hub model id (fetched into the hub cache)")
      .option("--tokenizer-revision <rev>", "Hub revision of --tokenizer (default main)")
      .option("--limit <n>", "Keep at most n rows, a seeded subset")
      .option("--seed <n>", "Seed of the subset (default 0)")
      .option("-q, --quiet", "No summary on stderr")
      .example(
        source === "kodcode"
          ? "npx batchline sft kodcode --dataset KodCode/KodCode-V1-SFT-R1 --split train --tokenizer deepseek-ai/deepseek-coder-6.7b-instruct --max-length 2048 --limit 50000 --seed 1 -o stage_a.jsonl"
          : "npx batchline sft testgeneval --dataset testgeneval_train.parquet --tokenizer ./tokenizer.json --max-length 2048 -o stage_b.jsonl",
      )
      .action((flags: DataFlags) => data(source, flags, env));
  }

  cli
    .command("sft trl-config", `The trl sft YAML config of a plan stage (QLoRA: 4-bit NF4, LoRA r16/alpha32/dropout0.05 on attention and MLP projections) and the command that runs it (TRL ${TRL_VERSION}); trains nothing`)
    .option("--stage <a|b|c>", "a: KodCode, LR 2e-4, 1 epoch; b: TestGenEval, LR 1e-4, 1 epoch; c: failure->fix traces, LR 5e-5, 300 steps")
    .option("--base-model <id>", `Base model (default ${DEFAULT_BASE_MODEL})`)
    .option("--adapter-from <dir>", "The earlier stage's adapter: merged into its base as <dir>-merged, which this stage trains on")
    .option("--dataset <file>", "The SFT JSONL written by batchline sft (default stage_<x>.jsonl)")
    .option("--output-dir <dir>", "Where TRL saves the adapter (default outputs/stage_<x>)")
    .option("--epochs <n>", "Epochs (0.5 for half of one; default 1)")
    .option("--max-steps <n>", "Steps instead of epochs (default 300 for stage c)")
    .option("--max-length <n>", "max_length in tokens (default 2048)")
    .option("-o, --output <path>", "The YAML file, or - (default)")
    .example("npx batchline sft trl-config --stage a -o stage_a.yaml")
    .example("npx batchline sft trl-config --stage b --adapter-from outputs/stage_a --epochs 0.5 -o stage_b.yaml")
    .action(trlConfig);

  cli
    .command("sft traces", "Failure->fix pairs (a failed test file and a later one that passed) from sft eval runs and swe-testgen preds.json -> stage C SFT rows")
    .option("--eval-runs <runs.jsonl>", "sft eval runs (repeat or comma-separate; in order: later runs fix earlier ones)")
    .option("--tasks <file|id>", "The tasks the eval runs were made from")
    .option("--swe-testgen <preds.json>", "swe-testgen preds.json (repeat or comma-separate)")
    .option("--format <name>", `${TRACE_FORMATS.join(", ")} (default prompt-completion; pairs: {code, failed_test, failure_log, fixed_test, ...})`)
    .option("-o, --output <path>", "Output JSONL, or - (default)")
    .option("-q, --quiet", "No summary on stderr")
    .example("npx batchline sft traces --eval-runs runs_base.jsonl,runs_stage_b.jsonl --tasks tasks.jsonl --swe-testgen result/model_gen_test/stage1_auto/preds.json -o stage_c.jsonl")
    .action((flags: Record<string, unknown>) => traces(flags, env));
}
