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

type Stages = readonly AgentlessStage[];
const ALL: Stages = AGENTLESS_STAGES;
const GEN: Stages = ["gen_step1", "proc_step1_gen_step2"];
const PROC: Stages = ["proc_step1_gen_step2", "proc_step2"];

/** Every option of the agentless stages: cac flags, help text, and the stages that read it (for per-stage --help). */
const OPTIONS: { flags: string; help: string; stages: Stages }[] = [
  { flags: "--stage <name>", help: "gen_step1, proc_step1_gen_step2 or proc_step2 (instead of the word)", stages: ALL },
  { flags: "--dataset <name|path>", help: "Hugging Face dataset id or .jsonl/.json/.parquet (default princeton-nlp/SWE-bench_Verified)", stages: ALL },
  { flags: "--split <name>", help: "Dataset split (default test)", stages: ALL },
  { flags: "--revision <rev>", help: "Dataset revision on the hub (default main)", stages: ALL },
  { flags: "--repostructure-dir <dir>", help: "Agentless repo structures, <dir>/<instance_id>.json (must exist)", stages: ALL },
  { flags: "-i, --input, --input-file <path>", help: "Batch output of the previous step, or -", stages: PROC },
  { flags: "-o, --output, --output-file <path>", help: "Request file to write, or - (default)", stages: GEN },
  { flags: "--save-dir <dir>", help: "Where samples/, output_<pass>_processed*.jsonl, preds_<pass>.jsonl, failures.jsonl go", stages: ["proc_step2"] },
  { flags: "--step1-file <path>", help: "testwriter: the step-1 output; its choice of test file stands", stages: ["proc_step2"] },
  { flags: "--failures <path>", help: "Failure records (default <output_file>.failures.jsonl)", stages: GEN },
  { flags: "--model-name <name>", help: "Model in the requests (default deepseek-ai/DeepSeek-R1); proc_step2: model_name_or_path when the answer names none", stages: ALL },
  { flags: "--temp <t>", help: "Temperature (default 1.0; testwriter __pass0 uses 0)", stages: GEN },
  { flags: "--max-tokens <n>", help: "max_tokens (default 32768)", stages: GEN },
  { flags: "--passk <k>", help: "Samples per instance (default 1); custom_id <instance_id>__pass<N> when > 1", stages: ["gen_step1"] },
  { flags: "--num-workers <n>", help: "Worker threads building patches (default 8)", stages: ["proc_step2"] },
  { flags: "--enable-thinking", help: "Add enable_thinking and thinking_budget to request bodies (neither is sent otherwise)", stages: GEN },
  { flags: "--thinking-budget <n>", help: "Thinking budget (default 32768)", stages: GEN },
  { flags: "--convert-crlf", help: "Turn CRLF into LF in problem statements", stages: GEN },
  { flags: "--prompt-template <file>", help: "Your own prompt for the step this stage builds", stages: GEN },
  { flags: "--step1-prompt-template <file>", help: "Your own localization prompt: {problem_statement} {structure} {agentless_structure} {instance_id} {repo}", stages: ["gen_step1"] },
  { flags: "--step2-prompt-template <file>", help: "Your own repair/test prompt: step 1's placeholders and {content} {agentless_content} {file}", stages: ["proc_step1_gen_step2"] },
  { flags: "--start, --start-file <id|n>", help: "First id processed (custom_id or instance_id, or a 0-based position)", stages: ALL },
  { flags: "--end, --end-file <id|n>", help: "Id (or position) where processing stops, exclusive", stages: ALL },
  { flags: "--shard <i/n>", help: "Only ids whose stable hash mod n is i", stages: ALL },
  { flags: "--skip-bad", help: "Report and skip bad input lines instead of failing", stages: PROC },
  { flags: "-q, --quiet", help: "No progress or summary on stderr", stages: ALL },
];

const EXAMPLES: Record<AgentlessStage, string> = {
  gen_step1: "--dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --output_file r1.jsonl --model_name deepseek-ai/DeepSeek-V3.2 --passk 8",
  proc_step1_gen_step2: "--dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --input_file out1.jsonl --output_file r2.jsonl --model_name deepseek-ai/DeepSeek-V3.2",
  proc_step2: "--dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --input_file out2.jsonl --save_dir results/",
};

/**
 * The help of one agentless stage (`agentless bugfixer proc_step2 --help`): its own options only.
 * Undefined when argv does not name a role and a stage (the command's generic help then applies).
 */
export function agentlessStageHelp(argv: readonly string[]): string | undefined {
  if (argv[0] !== "agentless") return undefined;
  const stageAt = argv.findIndex((a) => a === "--stage");
  const stageFlag = stageAt === -1 ? argv.find((a) => a.startsWith("--stage="))?.slice(8) : argv[stageAt + 1];
  let resolved: { role: Role; stage: AgentlessStage };
  try {
    resolved = resolveWords(stageFlag === undefined ? argv.slice(1, 3) : argv.slice(1, 2), stageFlag);
  } catch {
    return undefined;
  }
  const { role, stage } = resolved;
  const own = OPTIONS.filter((o) => o.stages.includes(stage) && o.flags !== "--stage <name>" && !(o.flags.startsWith("--step1-file") && role !== "testwriter"));
  const width = Math.max(...own.map((o) => o.flags.length)) + 2;
  const lines = [
    `batchline agentless ${role} ${stage} [options]`,
    "",
    `${STAGE_SUMMARY[stage](role)} Snake_case spellings (--input_file) and --stage ${stage} work too.`,
    "",
    "Options:",
    ...own.map((o) => `  ${o.flags.padEnd(width)}${o.help}`),
    `  ${"-h, --help".padEnd(width)}This help`,
    "",
    "Example:",
    `  npx batchline agentless ${role} ${stage} ${EXAMPLES[stage]}${stage === "proc_step2" && role === "testwriter" ? " --step1_file out1.jsonl" : ""}`,
    "",
  ];
  return lines.join("\n");
}

const STAGE_SUMMARY: Record<AgentlessStage, (role: Role) => string> = {
  gen_step1: (role) => `Dataset rows -> localization requests, one per instance and pass (test files ${role === "bugfixer" ? "hidden" : "shown"} in the tree).`,
  proc_step1_gen_step2: (role) => `Step-1 batch output -> ${role === "bugfixer" ? "SEARCH/REPLACE repair requests with the found files" : "test-writing requests for the first test file found"}; failures to <output_file>.failures.jsonl.`,
  proc_step2: (role) => `Step-2 batch output -> ${role === "bugfixer" ? "git patches (output_<pass>_processed.jsonl, preds_<pass>.jsonl)" : "reproduce_bug.py patches (output_<pass>_processed_reproduction_test.jsonl)"} and failures.jsonl under --save_dir.`,
};

export function registerAgentless(cli: CAC, env: NodeJS.ProcessEnv): void {
  const command = cli.command("agentless [...words]", "Kimi-Dev/Agentless rollouts: agentless bugfixer|testwriter gen_step1|proc_step1_gen_step2|proc_step2 (each with --help), agentless structure|vote");
  for (const o of OPTIONS) command.option(o.flags, o.help);
  command
    .example("batchline agentless bugfixer --stage gen_step1 --dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --output_file r1.jsonl --model_name deepseek-ai/DeepSeek-V3.2 --temp 1.0 --passk 8")
    .example("batchline agentless bugfixer proc_step2 --repostructure_dir ./repostructures --input_file out2.jsonl --save_dir results/")
    .action((words: string[], options: Record<string, unknown>) => runAgentless(words, options, env));
}
