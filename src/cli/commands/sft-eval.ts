/**
 * `batchline sft eval gen|run|score`: argv -> options -> one call of src/sft/eval.ts (requests
 * for k samples per task, the answers run with pytest through a runner, pass@k per model).
 */
import { homedir } from "node:os";
import type { CAC } from "cac";
import { UsageError } from "../../core/errors.ts";
import { hubOptionsFromEnv } from "../../datasets/hub.ts";
import { RUNNERS } from "../../runners/index.ts";
import { evalRequestLines, evalRunLines } from "../../sft/eval.ts";
import { formatComparison, formatScores, scoreRunFiles, scoredKs } from "../../sft/pass-at-k.ts";
import { DEFAULT_PROMPT_TEMPLATE, readPromptTemplate } from "../../sft/prompt.ts";
import { writeOutput } from "../io.ts";
import { stringOption } from "../options.ts";
import { wholeNumber } from "./sft.ts";

export const SFT_EVAL_COMMANDS = ["sft eval gen", "sft eval run", "sft eval score"] as const;

type Env = Record<string, string | undefined>;

function tasksSource(flags: { tasks?: unknown; split?: unknown }, env: Env) {
  const tasks = stringOption(flags.tasks);
  if (!tasks) throw new UsageError("needs --tasks <tasks .jsonl/.json/.parquet file or hub dataset>");
  const split = stringOption(flags.split);
  return { tasks, hub: hubOptionsFromEnv(env, homedir()), ...(split ? { split } : {}) };
}

function seconds(value: unknown, flag: string, fallback: number): number {
  const s = stringOption(value);
  if (s === undefined) return fallback;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} ${s}: expected seconds > 0`);
  return n;
}

async function gen(flags: Record<string, unknown>, env: Env): Promise<void> {
  const model = stringOption(flags.model);
  if (!model) throw new UsageError("sft eval gen needs --model (the model that writes the tests)");
  const temperature = stringOption(flags.temperature) === undefined ? 0.8 : Number(flags.temperature);
  if (!(temperature >= 0 && temperature <= 2)) throw new UsageError(`--temperature ${String(flags.temperature)}: expected a number from 0 to 2`);
  const templatePath = stringOption(flags.promptTemplate);
  const settings = {
    model,
    passk: wholeNumber(flags.passk, "--passk", 1) ?? 3,
    temperature,
    maxTokens: wholeNumber(flags.maxTokens, "--max-tokens", 1) ?? 2048,
    template: templatePath ? await readPromptTemplate(templatePath) : DEFAULT_PROMPT_TEMPLATE,
  };
  await writeOutput(stringOption(flags.output) ?? "-", evalRequestLines(tasksSource(flags, env), settings));
}

async function run(answersArg: string | undefined, flags: Record<string, unknown>, env: Env): Promise<void> {
  const answers = answersArg ?? stringOption(flags.input);
  const reference = flags.reference === true;
  if (reference === (answers !== undefined)) throw new UsageError("sft eval run needs the batch output file to run (-i output.jsonl), or --reference to run the tasks' reference tests");
  if (answers === "-") throw new UsageError("sft eval run reads a file: -i takes a path, not -");
  const output = stringOption(flags.output);
  if (!output) throw new UsageError("sft eval run needs -o <runs.jsonl>");
  const python = stringOption(flags.python);
  const log = flags.quiet ? undefined : (line: string) => process.stderr.write(`sft eval run: ${line}\n`);
  const counts: Record<string, number> = {};
  const lines = evalRunLines(
    tasksSource(flags, env),
    answers,
    {
      runner: stringOption(flags.runner) ?? "local",
      ...(stringOption(flags.model) ? { model: stringOption(flags.model)! } : {}),
      runnerOptions: { ...(python ? { python } : {}), baseEnv: env },
      timeoutMs: seconds(flags.timeout, "--timeout", 60) * 1000,
      workers: wholeNumber(flags.workers, "--workers", 1) ?? 2,
      ...(log ? { log } : {}),
    },
    (r) => {
      const key = r.status === "passed" ? "passed" : (r.reason ?? r.status);
      counts[key] = (counts[key] ?? 0) + 1;
    },
  );
  await writeOutput(output, lines);
  log?.(`${Object.values(counts).reduce((a, b) => a + b, 0)} sample(s): ${Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k} ${n}`).join(", ")} -> ${output}`);
}

function ksOf(value: unknown): number[] {
  const raw = value === undefined ? [] : (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(","));
  return scoredKs(raw.map((k) => wholeNumber(k.trim(), "--k", 1)!));
}

async function score(files: string[], flags: Record<string, unknown>): Promise<void> {
  if (files.length === 0) throw new UsageError("sft eval score needs runs.jsonl file(s)");
  const ks = ksOf(flags.k);
  const scores = await scoreRunFiles(files, ks);
  const compare = stringOption(flags.compare);
  if (compare) {
    const other = await scoreRunFiles([compare], ks);
    if (flags.json) process.stdout.write(`${JSON.stringify({ before: scores, after: other })}\n`);
    else process.stdout.write(formatComparison(scores, other, ks, ["before", "after"]));
    return;
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(scores)}\n`);
  else process.stdout.write(formatScores(scores, ks));
}

export function registerSftEval(cli: CAC, env: Env): void {
  cli
    .command("sft eval gen", "Tasks -> k test-writing requests per task (custom_id <task_id>__pass<N>), for any backend")
    .option("--tasks <file|id>", "Tasks: {task_id, code, code_file (default solution.py), reference_tests} rows, .jsonl/.json/.parquet or a hub dataset")
    .option("--split <name>", "Hub split of --tasks (default test)")
    .option("--model <name>", "The model that writes the tests")
    .option("--passk <n>", "Samples per task (default 3)")
    .option("--temperature <t>", "Sampling temperature (default 0.8; not sent to gpt-5/o-series models)")
    .option("--max-tokens <n>", "max_tokens per answer (default 2048)")
    .option("--prompt-template <file>", "Prompt template (default batchline's, as in the SFT rows)")
    .option("-o, --output <path>", "Request file, or - (default)")
    .example("npx batchline sft eval gen --tasks tasks.jsonl --model my-org/testwriter-stage-b --passk 3 -o requests.jsonl")
    .action((flags: Record<string, unknown>) => gen(flags, env));

  cli
    .command("sft eval run [answers]", "Run each answer's test file with pytest against its task's code in a sandbox -> runs.jsonl")
    .option("-i, --input <path>", "The batch output file (instead of the argument)")
    .option("--reference", "Run each task's reference_tests instead (checks the tasks and the sandbox)")
    .option("--model <name>", "Model name for answers that name none, e.g. failed requests (default: the one model the answers name)")
    .option("--tasks <file|id>", "The tasks the requests were made from")
    .option("--split <name>", "Hub split of --tasks (default test)")
    .option("-o, --output <path>", "runs.jsonl to write")
    .option("--runner <name>", `Where tests run: ${Object.keys(RUNNERS).join(", ")} (default local: temp dir, timeout, no network where possible)`)
    .option("--python <path>", "Interpreter with pytest (default python3)")
    .option("--timeout <s>", "Seconds per test file (default 60)")
    .option("--workers <n>", "Test files run at once (default 2)")
    .option("-q, --quiet", "No progress on stderr")
    .example("npx batchline sft eval run -i output.jsonl --tasks tasks.jsonl -o runs.jsonl --timeout 60")
    .action((answers: string | undefined, flags: Record<string, unknown>) => run(answers, flags, env));

  cli
    .command("sft eval score [...runs]", "pass@k (unbiased estimator, mean over tasks) per model from runs.jsonl")
    .option("--k <n>", "Another k to score besides 1 and 3 (repeat or comma-separate)")
    .option("--compare <runs.jsonl>", "A second run to put beside the first (before vs after fine-tuning)")
    .option("--json", "Print the scores as JSON")
    .example("npx batchline sft eval score runs_base.jsonl --compare runs_stage_b.jsonl --k 5")
    .action((runs: string[], flags: Record<string, unknown>) => score(runs, flags));
}
