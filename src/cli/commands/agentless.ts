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
import { type PromptStep, STEP1_PLACEHOLDERS, checkTemplate, templateText } from "../../agentless/prompts.ts";
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

/**
 * The user's prompt templates: `--step1-prompt-template` / `--step2-prompt-template`, or
 * `--prompt-template` for the step the stage builds. A step-1 template naming a step-2
 * placeholder is an error; a `{word}` that is no placeholder stays as written, with a note.
 */
async function promptTemplates(stage: StageWord, stageOptions: Record<string, unknown>, quiet: boolean): Promise<{ step1?: string; step2?: string }> {
  const generic = stringOption(stageOptions.promptTemplate);
  const wanted: [PromptStep, string, string | undefined][] = [
    ["step1", "--step1-prompt-template", stringOption(stageOptions.step1PromptTemplate) ?? (stage === "gen_step1" ? generic : undefined)],
    ["step2", "--step2-prompt-template", stringOption(stageOptions.step2PromptTemplate) ?? (stage === "proc_step1_gen_step2" ? generic : undefined)],
  ];
  const out: { step1?: string; step2?: string } = {};
  for (const [step, flag, path] of wanted) {
    if (path === undefined) continue;
    const text = templateText(await readFile(path, "utf8").catch(() => { throw new UsageError(`${flag} ${path}: cannot read it`); }));
    const { unavailable, unknown } = checkTemplate(text, step);
    if (unavailable.length > 0) throw new UsageError(`${flag} ${path}: ${unavailable.map((n) => `{${n}}`).join(", ")} only exist(s) in step 2 (step 1 has ${Object.keys(STEP1_PLACEHOLDERS).map((n) => `{${n}}`).join(", ")})`);
    if (unknown.length > 0 && !quiet) process.stderr.write(`batchline: ${flag} ${path}: ${unknown.map((n) => `{${n}}`).join(", ")} is no placeholder and stays as written\n`);
    out[step] = text;
  }
  return out;
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
  const prompts = await promptTemplates(stage, stageOptions, quiet);
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
    const side: AgentlessSide = { dataset: index, structures, build: builder.build, prompts };
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

type Stages = readonly StageWord[];
const ALL: Stages = STAGES;
const GEN: Stages = ["gen_step1", "proc_step1_gen_step2"];
const PROC: Stages = ["proc_step1_gen_step2", "proc_step2"];

/** Every option of the agentless stages: cac flags, help text, and the stages that read it (for per-stage --help). */
const OPTIONS: { flags: string; help: string; stages: Stages; pipeline?: true }[] = [
  { flags: "--stage <name>", help: "gen_step1, proc_step1_gen_step2 or proc_step2 (instead of the word)", stages: ALL },
  { flags: "--dataset <name|path>", help: "Hugging Face dataset id or .jsonl/.json/.parquet (default princeton-nlp/SWE-bench_Verified)", stages: ALL, pipeline: true },
  { flags: "--split <name>", help: "Dataset split (default test)", stages: ALL, pipeline: true },
  { flags: "--revision <rev>", help: "Dataset revision on the hub (default main)", stages: ALL, pipeline: true },
  { flags: "--repostructure-dir <dir>", help: "Agentless repo structures, <dir>/<instance_id>.json (must exist)", stages: ALL, pipeline: true },
  { flags: "-i, --input, --input-file <path>", help: "Batch output of the previous step, or -", stages: PROC },
  { flags: "-o, --output, --output-file <path>", help: "Request file to write, or - (default)", stages: GEN },
  { flags: "--save-dir <dir>", help: "Where samples/, output_<pass>_processed*.jsonl, preds_<pass>.jsonl, failures.jsonl go", stages: ["proc_step2"] },
  { flags: "--step1-file <path>", help: "testwriter: the step-1 output; its choice of test file stands", stages: ["proc_step2"] },
  { flags: "--failures <path>", help: "Failure records (default <output_file>.failures.jsonl)", stages: GEN },
  { flags: "--model-name <name>", help: "Model in the requests (default deepseek-ai/DeepSeek-R1); proc_step2: model_name_or_path when the answer names none", stages: ALL, pipeline: true },
  { flags: "--temp <t>", help: "Temperature (default 1.0; testwriter __pass0 uses 0)", stages: GEN, pipeline: true },
  { flags: "--max-tokens <n>", help: "max_tokens (default 32768)", stages: GEN, pipeline: true },
  { flags: "--passk <k>", help: "Samples per instance (default 1); custom_id <instance_id>__pass<N> when > 1", stages: ["gen_step1"], pipeline: true },
  { flags: "--num-workers <n>", help: "Worker threads building patches (default 8)", stages: ["proc_step2"], pipeline: true },
  { flags: "--enable-thinking", help: "Add enable_thinking and thinking_budget to request bodies (neither is sent otherwise)", stages: GEN, pipeline: true },
  { flags: "--thinking-budget <n>", help: "Thinking budget (default 32768)", stages: GEN, pipeline: true },
  { flags: "--convert-crlf", help: "Turn CRLF into LF in problem statements", stages: GEN, pipeline: true },
  { flags: "--prompt-template <file>", help: "Your own prompt for the step this stage builds", stages: GEN },
  { flags: "--step1-prompt-template <file>", help: "Your own localization prompt: {problem_statement} {structure} {agentless_structure} {instance_id} {repo}", stages: ["gen_step1"], pipeline: true },
  { flags: "--step2-prompt-template <file>", help: "Your own repair/test prompt: step 1's placeholders and {content} {agentless_content} {file}", stages: ["proc_step1_gen_step2"], pipeline: true },
  { flags: "--start, --start-file <id|n>", help: "First id processed (custom_id or instance_id, or a 0-based position)", stages: ALL, pipeline: true },
  { flags: "--end, --end-file <id|n>", help: "Id (or position) where processing stops, exclusive", stages: ALL, pipeline: true },
  { flags: "--shard <i/n>", help: "Only ids whose stable hash mod n is i", stages: ALL, pipeline: true },
  { flags: "--skip-bad", help: "Report and skip bad input lines instead of failing", stages: PROC },
  { flags: "-q, --quiet", help: "No progress or summary on stderr", stages: ALL },
];

/** Options of an agentless run that a pipeline over it takes too: dataset, structures, request body, prompts, selection. */
export const AGENTLESS_RUN_OPTIONS: readonly [flag: string, description: string][] = OPTIONS.filter((o) => o.pipeline).map((o) => [o.flags, o.help]);

const EXAMPLES: Record<StageWord, string> = {
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
  let resolved: { role: Role; stage: StageWord };
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

const STAGE_SUMMARY: Record<StageWord, (role: Role) => string> = {
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
