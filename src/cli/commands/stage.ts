/**
 * Generic stage commands: `batchline <pipeline> [<role>] <stage> [-i in] [-o out] [options]`,
 * or the Python scripts' `--stage <stage>` form. Snake_case stage names map to the kebab-case
 * files (`gen_step1` -> `gen-step1`). Stage options come from the stage's zod options schema.
 */
import type { CAC } from "cac";
import { z } from "zod";
import { UsageError } from "../../core/errors.ts";
import { readJsonl, toJsonl, joinLines } from "../../core/jsonl.ts";
import { type SkippedRecord, type Stage, parseStageOptions, runStage } from "../../core/stage.ts";
import { runStageOnWorkers, stageWorkerCount } from "../../internal/stage-workers.ts";
import { STAGES, loadStage, stagePipelines } from "../../../stages/index.ts";
import { openInput, writeOutput } from "../io.ts";
import { acceptOptions } from "../known-options.ts";
import { stringOption } from "../options.ts";
import { SkipLog } from "./common.ts";

/** Options the runner itself takes; everything else goes to the stage. */
const RUNNER_OPTIONS = new Set(["i", "o", "input", "output", "inputFile", "outputFile", "skipBad", "failures", "quiet", "q", "stage", "workers", "help", "h"]);

/** Finds the stage named by `pipeline` + leading positional words (+ `--stage`); leftover words are returned. */
export function resolveStageName(pipeline: string, words: string[], stageFlag?: string): { name: string; rest: string[] } | undefined {
  const norm = (parts: string[]) => [pipeline, ...parts].map((s) => s.replace(/_/g, "-")).join("/");
  for (let n = words.length; n >= (stageFlag === undefined ? 1 : 0); n--) {
    const name = norm(stageFlag === undefined ? words.slice(0, n) : [...words.slice(0, n), stageFlag]);
    if (STAGES[name]) return { name, rest: words.slice(n) };
  }
  return undefined;
}

function stagesOf(pipeline: string): string[] {
  return Object.keys(STAGES).filter((n) => n.startsWith(`${pipeline}/`));
}

/** Help text for one stage, from its description and options schema. */
export function stageHelp(stage: Stage): string {
  const lines = [`batchline ${stage.name.split("/").join(" ")} [-i <in.jsonl|->] [-o <out.jsonl|->] [options]`, "", stage.description, "", "Options:"];
  const shape = stage.options instanceof z.ZodObject ? (stage.options.shape as Record<string, z.ZodType>) : {};
  const rows: [string, string][] = [
    ["-i, --input <path>", "Input JSONL file, or - for stdin (default: -; alias --input_file)"],
    ["-o, --output <path>", "Output JSONL file, or - for stdout (default: -; alias --output_file)"],
  ];
  for (const [key, schema] of Object.entries(shape)) {
    rows.push([`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <value>`, schema.description ?? ""]);
  }
  if (stage.perRecord) rows.push(["--workers <n|auto>", "Worker threads (default auto: one per core, up to 4, for inputs of 32 MiB or more); the output is the same"]);
  rows.push(["--skip-bad", "Skip input lines that fail validation (reported, or written to --failures)"]);
  rows.push(["--failures <path>", "With --skip-bad: write skipped lines as JSONL {file, line, custom_id, stage, reason}"]);
  rows.push(["-q, --quiet", "No progress on stderr"]);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  for (const [flag, text] of rows) lines.push(`  ${flag.padEnd(width)}${text}`);
  return lines.join("\n") + "\n";
}

async function runStageCommand(pipeline: string, words: string[], options: Record<string, unknown>): Promise<void> {
  const resolved = resolveStageName(pipeline, words, stringOption(options.stage));
  if (!resolved) {
    const named = [...words, ...(options.stage !== undefined ? [String(options.stage)] : [])].join(" ");
    throw new UsageError(`${pipeline}: unknown stage ${named || "(none given)"}; stages: ${stagesOf(pipeline).map((n) => n.slice(pipeline.length + 1)).join(", ")}`);
  }
  const stage = (await loadStage(resolved.name))!;
  const inFlag = stringOption(options.input) ?? stringOption(options.inputFile);
  if (resolved.rest.length > (inFlag === undefined ? 1 : 0)) throw new UsageError(`${resolved.name}: unexpected arguments ${resolved.rest.join(" ")}`);
  const inPath = inFlag ?? resolved.rest[0] ?? "-";
  const outPath = stringOption(options.output) ?? stringOption(options.outputFile) ?? "-";
  const stageOptions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (!RUNNER_OPTIONS.has(k) && v !== undefined) stageOptions[k] = v;

  const quiet = options.quiet === true;
  const skipBad = options.skipBad === true;
  const failuresPath = stringOption(options.failures);
  if (failuresPath && !skipBad) throw new UsageError("--failures only applies with --skip-bad");
  const skipped: SkippedRecord[] = [];
  const log = new SkipLog();
  const onSkip = skipBad
    ? (s: SkippedRecord) => {
        if (failuresPath) {
          log.count++;
          skipped.push(s);
        } else log.report(s.at, s.error.message);
      }
    : undefined;

  const workersFlag = stringOption(options.workers) ?? "auto";
  const workersWanted = workersFlag === "auto" ? "auto" : Number(workersFlag);
  if (workersWanted !== "auto" && !(Number.isInteger(workersWanted) && workersWanted >= 1)) throw new UsageError(`--workers ${workersFlag}: expected a whole number >= 1, or auto`);
  const input = await openInput(inPath, { label: resolved.name, quiet });
  const workers = stage.perRecord ? stageWorkerCount(workersWanted, input.size) : 1;
  if (workers > 1) {
    parseStageOptions(stage, stageOptions); // a bad option is refused before any worker starts
    await writeOutput(outPath, runStageOnWorkers(input.chunks, { stage: stage.name, file: input.file, options: stageOptions, skipBad }, workers, onSkip));
  } else {
    const records = readJsonl(input.chunks, {
      file: input.file,
      ...(onSkip ? { onBadLine: (err) => onSkip({ at: err.at, error: err }) } : {}),
    });
    const outputs = runStage(stage, records, { file: input.file, options: stageOptions, ...(onSkip ? { onSkip } : {}) });
    await writeOutput(outPath, toJsonl(outputs));
  }
  input.progress.done();
  if (failuresPath) {
    const rows = skipped.map((s) => ({ file: s.at.file, line: s.at.line ?? null, custom_id: s.at.customId ?? null, stage: stage.name, reason: s.error.name, detail: s.error.message }));
    await writeOutput(failuresPath, joinLines(rows.map((r) => JSON.stringify(r))));
  }
  log.summary(stage.name);
}

/** The options of the stage that `words` name (none when they name no stage: the action says so). */
async function stageOptionNames(pipeline: string, words: readonly string[], stageFlag: string | undefined): Promise<string[]> {
  const stage = resolveStageName(pipeline, [...words.flat()], stageFlag);
  const options = stage ? (await loadStage(stage.name))!.options : undefined;
  return options instanceof z.ZodObject ? Object.keys(options.shape) : [];
}

/** Registers one command per pipeline that has stages (e.g. `requests`). */
export function registerStageCommands(cli: CAC, own: readonly string[] = []): void {
  for (const pipeline of stagePipelines()) {
    if (own.includes(pipeline)) continue; // pipelines with a command of their own (side inputs, sinks)
    const names = stagesOf(pipeline).map((n) => n.slice(pipeline.length + 1));
    const command = cli
      .command(`${pipeline} [...stage]`, `Run a ${pipeline} stage: ${names.join(", ")} (see batchline ${pipeline} <stage> --help)`)
      .option("-i, --input, --input-file <path>", "Input JSONL file, or - for stdin (default: -)")
      .option("-o, --output, --output-file <path>", "Output JSONL file, or - for stdout (default: -)")
      .option("--skip-bad", "Skip input lines that fail validation")
      .option("--failures <path>", "With --skip-bad: write skipped lines there as JSONL")
      .option("--stage <name>", "The stage (instead of the word)")
      .option("--workers <n|auto>", "Worker threads for stages that map each line on its own (requests rewrite); auto: one per core (up to 4) for inputs of 32 MiB or more, else 1")
      .option("-q, --quiet", "No progress on stderr")
      .action((words: string[], options: Record<string, unknown>) => runStageCommand(pipeline, words, options));
    acceptOptions(command, (words, options) => stageOptionNames(pipeline, words, stringOption(options.stage)));
  }
}

/** Prints a stage's own help when argv asks for it; returns false when argv names no stage. */
export async function printStageHelp(argv: string[], own: readonly string[] = []): Promise<boolean> {
  const [pipeline, ...rest] = argv;
  if (!pipeline || own.includes(pipeline) || !stagePipelines().includes(pipeline)) return false;
  const words = rest.filter((a) => !a.startsWith("-"));
  const resolved = resolveStageName(pipeline, words);
  if (!resolved) {
    process.stdout.write(`batchline ${pipeline} <stage> [options]\n\nStages:\n`);
    for (const name of stagesOf(pipeline)) process.stdout.write(`  ${name.slice(pipeline.length + 1).padEnd(24)}${(await loadStage(name))!.description}\n`);
    return true;
  }
  process.stdout.write(stageHelp((await loadStage(resolved.name))!));
  return true;
}
