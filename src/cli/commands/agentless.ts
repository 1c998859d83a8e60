/**
 * `batchline agentless bugfixer|testwriter <stage>` (or `--stage <stage>`), taking every option of
 * Kimi-Dev's batch_rollout_bugfixer.py / batch_rollout_testwriter.py, snake_case or kebab-case:
 *   gen_step1             --dataset --repostructure_dir --output_file      -> requests (+ failures)
 *   proc_step1_gen_step2  --input_file (step-1 output) --output_file       -> requests (+ failures)
 *   proc_step2            --input_file (step-2 output) --save_dir [--step1_file] -> Agentless files
 * `--start_file/--end_file` (or --start/--end, --shard) select input records by id: instance_id
 * for dataset rows, custom_id for output lines.
 */
import type { CAC } from "cac";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { GenOutput, Step2Output } from "../../../schemas/agentless.ts";
import { type SampleJob, type SampleResult, buildSample } from "../../agentless/build-sample.ts";
import { RepoStructureLoader } from "../../agentless/repo-structure.ts";
import { lastLinesOfRepeatedIds } from "../../agentless/last-line-per-id.ts";
import { saveStep2 } from "../../agentless/save.ts";
import { readStep1Choices } from "../../agentless/step1-choices.ts";
import type { AgentlessSide, Role } from "../../agentless/steps.ts";
import { compareBytes, inRange, inShard, needsIdList, resolveRange } from "../../core/custom-id.ts";
import { UsageError } from "../../core/errors.ts";
import { type JsonlRecord, joinLines, readJsonl } from "../../core/jsonl.ts";
import { type SkippedRecord, runStage } from "../../core/stage.ts";
import { hubOptionsFromEnv } from "../../datasets/hub.ts";
import { loadDataset } from "../../datasets/load.ts";
import { WorkerPool } from "../../internal/worker-pool.ts";
import type { SweBenchRow } from "../../../schemas/swe-bench-row.ts";
import { loadStage } from "../../../stages/index.ts";
import { openInput, writeOutput } from "../io.ts";
import { stringOption } from "../options.ts";
import { sliceSpec } from "./slice.ts";
import { SkipLog, lineId, spoolStdin } from "./common.ts";

const STAGES = ["gen_step1", "proc_step1_gen_step2", "proc_step2"] as const;
type StageWord = (typeof STAGES)[number];

/** Options the command itself reads; all others go to the stage's options schema. */
const OWN = new Set(["dataset", "split", "revision", "repostructureDir", "inputFile", "input", "i", "outputFile", "output", "o", "saveDir", "step1File", "failures", "start", "end", "startFile", "endFile", "shard", "skipBad", "quiet", "q", "stage", "help", "h"]);

function pick(options: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = stringOption(options[k]);
    if (v !== undefined && v !== "") return v;
  }
  return undefined;
}

function resolveWords(words: string[], stageFlag: string | undefined): { role: Role; stage: StageWord } {
  const [role, ...rest] = words;
  if (role !== "bugfixer" && role !== "testwriter") throw new UsageError(`agentless: expected bugfixer or testwriter (or structure, vote), got ${role ?? "nothing"}`);
  const given = (stageFlag ?? rest[0] ?? "").replace(/-/g, "_");
  if (!(STAGES as readonly string[]).includes(given)) throw new UsageError(`agentless ${role}: expected a stage (${STAGES.join(", ")}) as a word or --stage, got ${given || "nothing"}`);
  if (rest.length > (stageFlag === undefined ? 1 : 0)) throw new UsageError(`agentless ${role}: unexpected arguments ${rest.slice(stageFlag === undefined ? 1 : 0).join(" ")}`);
  return { role, stage: given as StageWord };
}

/** Keeps the records whose id is in the --start/--end/--shard selection (positions need all ids first). */
async function* selected(records: AsyncIterable<JsonlRecord>, options: Record<string, unknown>, allIds?: () => Promise<string[]>): AsyncGenerator<JsonlRecord> {
  const spec = sliceSpec(options);
  if (!spec.start && !spec.end && !spec.shard) {
    yield* records;
    return;
  }
  const sorted = needsIdList(spec.start, spec.end) ? [...new Set(await allIds!())].sort(compareBytes) : undefined;
  const range = resolveRange(spec.start, spec.end, sorted);
  for await (const rec of records) {
    const id = lineId(rec.value);
    if (id === undefined) {
      yield rec; // the stage's own validation names the line
      continue;
    }
    if (range.empty || !inRange(id, range) || (spec.shard && !inShard(id, spec.shard))) continue;
    yield rec;
  }
}

function datasetOptions(options: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  const split = pick(options, "split") ?? "test";
  const revision = pick(options, "revision");
  return {
    ...hubOptionsFromEnv(env, homedir()),
    split,
    ...(revision ? { revision } : {}),
    ...(options.quiet ? {} : { onLog: (line: string) => process.stderr.write(`dataset: ${line}\n`) }),
  };
}

/**
 * Dataset rows, kept to the fields the stages read; the gold `patch` only when asked (bugfixer
 * proc_step2 writes it into gt_results), so other stages never hold a dataset's patches.
 */
async function datasetIndex(spec: string, options: Record<string, unknown>, env: NodeJS.ProcessEnv, keepPatch = false): Promise<Map<string, SweBenchRow>> {
  const index = new Map<string, SweBenchRow>();
  for await (const rec of loadDataset(spec, datasetOptions(options, env))) {
    const r = rec.value;
    index.set(r.instance_id, { instance_id: r.instance_id, repo: r.repo, base_commit: r.base_commit, problem_statement: r.problem_statement, ...(keepPatch && typeof r.patch === "string" ? { patch: r.patch } : {}) } as SweBenchRow);
  }
  return index;
}

/** --repostructure_dir must be a directory: a wrong path is one error, not a structure_not_found failure per instance. */
async function assertStructureDir(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new UsageError(`--repostructure_dir ${dir}: no such directory (it holds the <instance_id>.json repo structures; build them with \`batchline agentless structure\`)`);
  if (!info.isDirectory()) throw new UsageError(`--repostructure_dir ${dir}: not a directory`);
}

/** Drops the earlier lines of a custom_id that is on several lines: the last line is its outcome (one record per custom_id). */
async function* lastLineWins(records: AsyncIterable<JsonlRecord>, repeated: Map<string, number>, label: string, quiet: boolean): AsyncGenerator<JsonlRecord> {
  let dropped = 0;
  for await (const rec of records) {
    const id = lineId(rec.value);
    const last = id === undefined ? undefined : repeated.get(id);
    if (last !== undefined && last !== rec.line) {
      dropped++;
      continue;
    }
    yield rec;
  }
  if (dropped > 0 && !quiet) process.stderr.write(`${label}: ${dropped} earlier line(s) of ${repeated.size} repeated custom_id(s) ignored: the last line of each is its outcome\n`);
}

function sampleBuilder(workers: number): { build: (job: SampleJob) => Promise<SampleResult>; close: () => Promise<void> } {
  if (workers <= 1) return { build: async (job) => buildSample(job), close: async () => {} };
  const ext = extname(fileURLToPath(import.meta.url)); // .ts from src/, .js from dist/
  const pool = new WorkerPool<SampleJob, SampleResult>(new URL(`../../agentless/build-sample-worker${ext}`, import.meta.url), workers);
  return { build: (job) => pool.run(job), close: () => pool.close() };
}

export async function runAgentless(words: string[], options: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<void> {
  const { role, stage } = resolveWords(words, pick(options, "stage"));
  const stageName = `agentless/${role}/${stage.replace(/_/g, "-")}`;
  const definition = (await loadStage(stageName))!;
  const repostructureDir = pick(options, "repostructureDir");
  if (!repostructureDir) throw new UsageError(`${stageName}: missing --repostructure_dir <dir of <instance_id>.json>`);
  await assertStructureDir(repostructureDir);
  const dataset = pick(options, "dataset") ?? "princeton-nlp/SWE-bench_Verified";
  const stageOptions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (!OWN.has(k) && v !== undefined) stageOptions[k] = v;
  const quiet = options.quiet === true;
  const structures = new RepoStructureLoader({ dir: repostructureDir });
  const templatePath = stringOption(stageOptions.promptTemplate);
  const promptTemplate = templatePath ? await readFile(templatePath, "utf8").catch(() => { throw new UsageError(`--prompt-template ${templatePath}: cannot read it`); }) : undefined;
  const skipped = new SkipLog();
  const onSkip = options.skipBad ? (s: SkippedRecord) => skipped.report(s.at, s.error.message) : undefined;
  const workers = Number(stageOptions.numWorkers ?? stageOptions.num_workers ?? 8);
  const builder = sampleBuilder(stage === "proc_step2" && Number.isFinite(workers) ? workers : 1);

  try {
    let records: AsyncIterable<JsonlRecord>;
    let file: string;
    let cleanup: (() => Promise<void>) | undefined;
    let index: Map<string, SweBenchRow>;
    if (stage === "gen_step1") {
      file = dataset;
      index = new Map();
      const rows = async function* (): AsyncGenerator<JsonlRecord> {
        for await (const rec of loadDataset(dataset, datasetOptions(options, env))) {
          yield { line: rec.at.line ?? rec.at.row ?? 0, text: "", offset: 0, value: rec.value };
        }
      };
      records = selected(rows(), options, async () => {
        const ids: string[] = [];
        for await (const r of rows()) ids.push(lineId(r.value) ?? "");
        return ids;
      });
    } else {
      let inPath = pick(options, "inputFile", "input", "i");
      if (!inPath) throw new UsageError(`${stageName}: missing --input_file <batch output of the previous step>`);
      index = await datasetIndex(dataset, options, env, stage === "proc_step2" && role === "bugfixer");
      // stdin is spooled: the repeated-id pre-pass reads the input twice.
      if (inPath === "-") ({ path: inPath, cleanup } = await spoolStdin());
      const input = await openInput(inPath, { label: stageName, quiet });
      file = input.file;
      const path = inPath;
      const repeated = await lastLinesOfRepeatedIds(path);
      records = selected(lastLineWins(readJsonl(input.chunks, { file, ...(onSkip ? { onBadLine: (err) => onSkip({ at: err.at, error: err }) } : {}) }), repeated, stageName, quiet), options, async () => {
        const ids: string[] = [];
        for await (const r of readJsonl(createReadStream(path), { file: path, onBadLine: () => {} })) ids.push(lineId(r.value) ?? "");
        return ids;
      });
    }
    const side: AgentlessSide = { dataset: index, structures, build: builder.build, ...(promptTemplate !== undefined ? { promptTemplate } : {}) };
    const step1 = pick(options, "step1File");
    if (stage === "proc_step2" && role === "testwriter" && step1) side.step1Choices = await readStep1Choices(step1, structures);
    const outputs = runStage(definition, records, { file, options: stageOptions, side, ...(onSkip ? { onSkip } : {}) });

    try {
      if (stage === "proc_step2") {
        const saveDir = pick(options, "saveDir");
        if (!saveDir) throw new UsageError(`${stageName}: missing --save_dir <dir>`);
        const model = String(stageOptions.modelName ?? stageOptions.model_name ?? "deepseek-ai/DeepSeek-R1");
        const summary = await saveStep2(saveDir, role, model, outputs as AsyncIterable<Step2Output>);
        if (!quiet) {
          const reasons = Object.entries(summary.byReason).map(([r, n]) => `${r} ${n}`).join(", ");
          process.stderr.write(`${stageName}: ${summary.samples} sample(s), ${summary.failures} failure(s)${reasons ? ` (${reasons})` : ""} -> ${saveDir} (passes ${summary.passes.join(", ") || "none"})\n`);
        }
      } else {
        const outPath = pick(options, "outputFile", "output", "o") ?? "-";
        const failures: string[] = [];
        let requests = 0;
        async function* lines(): AsyncGenerator<string> {
          for await (const out of outputs as AsyncIterable<GenOutput>) {
            if (out.kind === "request") {
              requests++;
              yield JSON.stringify(out.request);
            } else failures.push(JSON.stringify(out.failure));
          }
        }
        await writeOutput(outPath, joinLines(lines()));
        const failuresPath = pick(options, "failures") ?? (outPath === "-" ? undefined : `${outPath}.failures.jsonl`);
        if (failuresPath) await writeOutput(failuresPath, joinLines(failures));
        if (!quiet) {
          const reasons = new Map<string, number>();
          for (const f of failures) reasons.set(JSON.parse(f).reason, (reasons.get(JSON.parse(f).reason) ?? 0) + 1);
          const why = [...reasons].map(([r, n]) => `${r} ${n}`).join(", ");
          process.stderr.write(`${stageName}: ${requests} request(s), ${failures.length} failure(s)${why ? ` (${why})` : ""}${failures.length && failuresPath ? ` -> ${failuresPath}` : ""}\n`);
        }
      }
    } finally {
      await cleanup?.();
    }
    skipped.summary(stageName);
  } finally {
    await builder.close();
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
