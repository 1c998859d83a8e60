/**
 * `batchline agentless bugfixer|testwriter <stage>` (or `--stage <stage>`), taking every option of
 * Kimi-Dev's batch_rollout_bugfixer.py / batch_rollout_testwriter.py, snake_case or kebab-case:
 *   gen_step1             --dataset --repostructure_dir --output_file      -> requests (+ failures)
 *   proc_step1_gen_step2  --input_file (step-1 output) --output_file       -> requests (+ failures)
 *   proc_step2            --input_file (step-2 output) --save_dir [--step1_file] -> Agentless files
 * `--start_file/--end_file` (or --start/--end, --shard) select input records by id: instance_id
 * for dataset rows, custom_id for output lines. argv -> options -> `runAgentlessStage` (src/agentless).
 */
import type { CAC } from "cac";
import { AGENTLESS_STAGES, type AgentlessStage, DEFAULT_DATASET } from "../../agentless/side-inputs.ts";
import { runAgentlessStage } from "../../agentless/run-stage.ts";
import type { Role } from "../../agentless/steps.ts";
import { UsageError } from "../../core/errors.ts";
import type { SkippedRecord } from "../../core/stage.ts";
import { openInput, writeOutput } from "../io.ts";
import { stringOption } from "../options.ts";
import { SkipLog, spoolStdin } from "./common.ts";

/** Options the command itself reads; all others go to the stage's options schema. */
const OWN = new Set(["dataset", "split", "revision", "repostructureDir", "inputFile", "input", "i", "outputFile", "output", "o", "saveDir", "step1File", "failures", "start", "end", "startFile", "endFile", "shard", "skipBad", "quiet", "q", "stage", "help", "h"]);

function pick(options: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = stringOption(options[k]);
    if (v !== undefined && v !== "") return v;
  }
  return undefined;
}

function resolveWords(words: string[], stageFlag: string | undefined): { role: Role; stage: AgentlessStage } {
  const [role, ...rest] = words;
  if (role !== "bugfixer" && role !== "testwriter") throw new UsageError(`agentless: expected bugfixer or testwriter (or structure, vote), got ${role ?? "nothing"}`);
  const given = (stageFlag ?? rest[0] ?? "").replace(/-/g, "_");
  if (!(AGENTLESS_STAGES as readonly string[]).includes(given)) throw new UsageError(`agentless ${role}: expected a stage (${AGENTLESS_STAGES.join(", ")}) as a word or --stage, got ${given || "nothing"}`);
  if (rest.length > (stageFlag === undefined ? 1 : 0)) throw new UsageError(`agentless ${role}: unexpected arguments ${rest.slice(stageFlag === undefined ? 1 : 0).join(" ")}`);
  return { role, stage: given as AgentlessStage };
}

export async function runAgentless(words: string[], options: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<void> {
  const { role, stage } = resolveWords(words, pick(options, "stage"));
  const label = `agentless/${role}/${stage.replace(/_/g, "-")}`;
  const stageOptions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (!OWN.has(k) && v !== undefined) stageOptions[k] = v;
  const quiet = options.quiet === true;
  const skipped = new SkipLog();
  const onSkip = options.skipBad ? (s: SkippedRecord) => skipped.report(s.at, s.error.message) : undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let input: { file: string; path: string; chunks: AsyncIterable<Buffer> } | undefined;
  const inFlag = pick(options, "inputFile", "input", "i");
  const outPath = pick(options, "outputFile", "output", "o") ?? "-";
  const failuresPath = pick(options, "failures") ?? (outPath === "-" ? undefined : `${outPath}.failures.jsonl`);
  try {
    if (stage !== "gen_step1" && inFlag !== undefined) {
      let path = inFlag;
      // stdin is spooled: the repeated-id pre-pass reads the input twice.
      if (path === "-") ({ path, cleanup } = await spoolStdin());
      const opened = await openInput(path, { label, quiet });
      input = { file: inFlag === "-" ? "<stdin>" : opened.file, path, chunks: opened.chunks };
    }
    const result = await runAgentlessStage({
      role,
      stage,
      options: stageOptions,
      dataset: { dataset: pick(options, "dataset") ?? DEFAULT_DATASET, split: pick(options, "split"), revision: pick(options, "revision") },
      repostructureDir: pick(options, "repostructureDir"),
      selection: { start: pick(options, "start", "startFile"), end: pick(options, "end", "endFile"), shard: pick(options, "shard") },
      ...(input ? { input } : {}),
      writeRequests: (chunks) => writeOutput(outPath, chunks),
      ...(failuresPath ? { writeFailures: (chunks: AsyncIterable<string>) => writeOutput(failuresPath, chunks) } : {}),
      saveDir: pick(options, "saveDir"),
      step1File: pick(options, "step1File"),
      ...(onSkip ? { onSkip } : {}),
      env,
      ...(quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
    });
    if (!quiet) {
      const why = Object.entries(result.byReason).map(([r, n]) => `${r} ${n}`).join(", ");
      if (result.kind === "save") process.stderr.write(`${label}: ${result.samples} sample(s), ${result.failures} failure(s)${why ? ` (${why})` : ""} -> ${pick(options, "saveDir")} (passes ${result.passes.join(", ") || "none"})\n`);
      else process.stderr.write(`${label}: ${result.requests} request(s), ${result.failures} failure(s)${why ? ` (${why})` : ""}${result.failures && failuresPath ? ` -> ${failuresPath}` : ""}\n`);
    }
    skipped.summary(label);
  } finally {
    await cleanup?.();
  }
}

/** Options of an agentless run that a pipeline over it takes too: dataset, structures, request body, selection. */
export const AGENTLESS_RUN_OPTIONS: readonly [flag: string, description: string][] = [
  ["--dataset <name|path>", "Hugging Face dataset id or .jsonl/.json/.parquet (default princeton-nlp/SWE-bench_Verified)"],
  ["--split <name>", "Dataset split (default test)"],
  ["--revision <rev>", "Dataset revision on the hub (default main)"],
  ["--repostructure-dir <dir>", "Agentless repo structures, <dir>/<instance_id>.json"],
  ["--model-name <name>", "Model in the requests and model_name_or_path (default deepseek-ai/DeepSeek-R1)"],
  ["--temp <t>", "Temperature (default 1.0; testwriter pass 0 uses 0 when passk > 1)"],
  ["--max-tokens <n>", "max_tokens (default 32768)"],
  ["--passk <k>", "Samples per instance (default 1)"],
  ["--num-workers <n>", "proc_step2: worker threads building patches (default 8)"],
  ["--enable-thinking", "Add enable_thinking and thinking_budget to request bodies"],
  ["--thinking-budget <n>", "Thinking budget (default 32768)"],
  ["--convert-crlf", "Turn CRLF into LF in problem statements"],
  ["--prompt-template <file>", "Your own prompt: {problem_statement}, {structure}, {content}, {file}"],
  ["--start, --start-file <id|n>", "First id processed (custom_id or instance_id, or a 0-based position)"],
  ["--end, --end-file <id|n>", "Id (or position) where processing stops, exclusive"],
  ["--shard <i/n>", "Only ids whose stable hash mod n is i"],
];

export function registerAgentless(cli: CAC, env: NodeJS.ProcessEnv): void {
  const command = cli
    .command("agentless [...words]", "Kimi-Dev/Agentless rollouts: agentless bugfixer|testwriter gen_step1|proc_step1_gen_step2|proc_step2, agentless structure")
    .option("--stage <name>", "gen_step1, proc_step1_gen_step2 or proc_step2 (instead of the word)")
    .option("-i, --input, --input-file <path>", "Batch output of the previous step (proc stages), or -")
    .option("-o, --output, --output-file <path>", "Request file to write (gen stages), or - (default)")
    .option("--save-dir <dir>", "proc_step2: where samples/, output_<pass>_processed*.jsonl, preds_<pass>.jsonl, failures.jsonl go")
    .option("--step1-file <path>", "testwriter proc_step2: the step-1 output, to know which test file was chosen")
    .option("--failures <path>", "gen stages: failure records (default <output_file>.failures.jsonl)");
  for (const [flag, description] of AGENTLESS_RUN_OPTIONS) command.option(flag, description);
  command
    .option("--skip-bad", "Report and skip bad input lines instead of failing")
    .option("-q, --quiet", "No progress or summary on stderr")
    .example("batchline agentless bugfixer --stage gen_step1 --dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --output_file r1.jsonl --model_name deepseek-ai/DeepSeek-V3.2 --temp 1.0 --passk 8")
    .example("batchline agentless bugfixer proc_step2 --repostructure_dir ./repostructures --input_file out2.jsonl --save_dir results/ --passk 8")
    .action((words: string[], options: Record<string, unknown>) => runAgentless(words, options, env));
}
