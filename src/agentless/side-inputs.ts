/**
 * What the agentless stages read besides their records, built once per run by whoever runs them
 * (the `agentless` command or a pipeline step): the dataset (rows for gen_step1, an index by
 * instance id for the proc stages), the repo-structure loader, the prompt templates, the testwriter's
 * step-1 choices, and the patch builder (a worker pool for proc_step2). Also the record selection
 * by id range or shard, and the one-outcome-per-custom_id rule for inputs with repeated ids.
 */
import { readFile, stat } from "node:fs/promises";
import { availableParallelism, homedir } from "node:os";
import type { SweBenchRow } from "../../schemas/swe-bench-row.ts";
import { type Shard, compareBytes, inRange, inShard, needsIdList, parseRangeBound, parseShard, resolveRange } from "../core/custom-id.ts";
import { UsageError } from "../core/errors.ts";
import { type JsonlRecord, recordIdOf } from "../core/jsonl.ts";
import { hubOptionsFromEnv, resolveHubSplit } from "../datasets/hub.ts";
import { loadDataset, parseDatasetSpec } from "../datasets/load.ts";
import { type SampleJob, type SampleResult, buildSample } from "./build-sample.ts";
import { type PromptStep, STEP1_PLACEHOLDERS, checkTemplate, templateText } from "./prompts.ts";
import { RepoStructureLoader } from "./repo-structure.ts";
import { SamplePool } from "./sample-pool.ts";
import { type Step1Choice, readStep1Choices } from "./step1-choices.ts";
import type { AgentlessSide, Role } from "./steps.ts";

/** The three stages of each role, by the Python scripts' names. */
export const AGENTLESS_STAGES = ["gen_step1", "proc_step1_gen_step2", "proc_step2"] as const;
export type AgentlessStage = (typeof AGENTLESS_STAGES)[number];

/** Where the dataset comes from: a hub id or a local file, with the hub's split and revision. */
export interface DatasetChoice {
  dataset: string;
  split?: string | undefined;
  revision?: string | undefined;
}

/** The default dataset of the Kimi-Dev scripts. */
export const DEFAULT_DATASET = "princeton-nlp/SWE-bench_Verified";

function loadOptions(choice: DatasetChoice, env: Record<string, string | undefined>, log?: (line: string) => void) {
  return {
    ...hubOptionsFromEnv(env, homedir()),
    split: choice.split ?? "test",
    ...(choice.revision ? { revision: choice.revision } : {}),
    ...(log ? { onLog: log } : {}),
  };
}

/** The dataset's rows as records for gen_step1 (located by line or row). */
export async function* datasetRecords(choice: DatasetChoice, env: Record<string, string | undefined>, log?: (line: string) => void): AsyncGenerator<JsonlRecord> {
  for await (const rec of loadDataset(choice.dataset, loadOptions(choice, env, log))) {
    yield { line: rec.at.line ?? rec.at.row ?? 0, text: "", offset: 0, value: rec.value };
  }
}

/**
 * Dataset rows by instance id, kept to the fields the stages read; the gold `patch` only when
 * asked (bugfixer proc_step2 writes it into gt_results), so other stages never hold a dataset's patches.
 */
export async function datasetIndex(choice: DatasetChoice, env: Record<string, string | undefined>, keepPatch = false, log?: (line: string) => void): Promise<Map<string, SweBenchRow>> {
  const index = new Map<string, SweBenchRow>();
  for await (const rec of loadDataset(choice.dataset, loadOptions(choice, env, log))) {
    const r = rec.value;
    index.set(r.instance_id, { instance_id: r.instance_id, repo: r.repo, base_commit: r.base_commit, problem_statement: r.problem_statement, ...(keepPatch && typeof r.patch === "string" ? { patch: r.patch } : {}) } as SweBenchRow);
  }
  return index;
}

/** Throws a UsageError unless the dataset can be read: a local file that exists, or a hub split that resolves (it is cached on the way). */
export async function checkDataset(choice: DatasetChoice, env: Record<string, string | undefined>, log?: (line: string) => void): Promise<void> {
  const spec = parseDatasetSpec(choice.dataset);
  if (spec.kind === "local") {
    const info = await stat(spec.path).catch(() => undefined);
    if (!info || !info.isFile()) throw new UsageError(`--dataset ${choice.dataset}: no such file`);
    return;
  }
  const o = loadOptions(choice, env, log);
  await resolveHubSplit({ dataset: spec.dataset, split: o.split, ...(choice.revision ? { revision: choice.revision } : {}) }, o);
}

/** --repostructure_dir must be a directory: a wrong path is one error, not a structure_not_found failure per instance. */
export async function checkStructureDir(dir: string | undefined): Promise<string> {
  if (!dir) throw new UsageError("missing --repostructure_dir <dir of <instance_id>.json> (build them with `batchline agentless structure`)");
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new UsageError(`--repostructure_dir ${dir}: no such directory (it holds the <instance_id>.json repo structures; build them with \`batchline agentless structure\`)`);
  if (!info.isDirectory()) throw new UsageError(`--repostructure_dir ${dir}: not a directory`);
  return dir;
}

/** Prompt template files: `prompt` is for the step the stage builds (`--prompt-template`), `step1`/`step2` name their step. */
export interface PromptTemplateFiles {
  prompt?: string | undefined;
  step1?: string | undefined;
  step2?: string | undefined;
}

/**
 * The user's prompt templates (prompts.ts) for a stage: `--step1-prompt-template` /
 * `--step2-prompt-template`, or `--prompt-template` for the step the stage builds. A step-1
 * template naming a step-2 placeholder is an error; a `{word}` that is no placeholder stays as
 * written, with a note.
 */
export async function loadPromptTemplates(stage: AgentlessStage, files: PromptTemplateFiles, note?: (line: string) => void): Promise<{ step1?: string; step2?: string }> {
  const wanted: [PromptStep, string, string | undefined][] = [
    ["step1", "--step1-prompt-template", files.step1 || (stage === "gen_step1" ? files.prompt : undefined) || undefined],
    ["step2", "--step2-prompt-template", files.step2 || (stage === "proc_step1_gen_step2" ? files.prompt : undefined) || undefined],
  ];
  const out: { step1?: string; step2?: string } = {};
  for (const [step, flag, path] of wanted) {
    if (path === undefined) continue;
    const text = templateText(await readFile(path, "utf8").catch(() => { throw new UsageError(`${flag} ${path}: cannot read it`); }));
    const { unavailable, unknown } = checkTemplate(text, step);
    if (unavailable.length > 0) throw new UsageError(`${flag} ${path}: ${unavailable.map((n) => `{${n}}`).join(", ")} only exist(s) in step 2 (step 1 has ${Object.keys(STEP1_PLACEHOLDERS).map((n) => `{${n}}`).join(", ")})`);
    if (unknown.length > 0) note?.(`batchline: ${flag} ${path}: ${unknown.map((n) => `{${n}}`).join(", ")} is no placeholder and stays as written`);
    out[step] = text;
  }
  return out;
}

/** Builds samples inline (1 worker) or on a pool of worker threads; `close` ends the pool. */
export function sampleBuilder(workers: number): { build: (job: SampleJob) => Promise<SampleResult>; close: () => Promise<void> } {
  if (!(workers > 1)) return { build: async (job) => buildSample(job), close: async () => {} };
  const pool = new SamplePool(Math.floor(workers));
  return { build: (job) => pool.build(job), close: () => pool.close() };
}

/**
 * The worker threads `--num_workers N` gets: N, but no more than the machine's cores. The work is
 * CPU-bound, so threads beyond the cores add memory (about 70 MB each), not speed; the scripts'
 * default of 8 on a 2-core machine runs 2.
 */
export function threadsFor(numWorkers: number): number {
  return Math.max(1, Math.min(Math.floor(numWorkers), availableParallelism()));
}

/** The testwriter's step-1 choices from one or more step-1 outputs (later files win: retry rounds). */
export async function step1Choices(paths: readonly string[], structures: RepoStructureLoader): Promise<Map<string, Step1Choice>> {
  const all = new Map<string, Step1Choice>();
  for (const path of paths) for (const [id, choice] of await readStep1Choices(path, structures)) all.set(id, choice);
  return all;
}

/** The side inputs one agentless stage needs; `close` frees the worker pool. */
export interface AgentlessSideRequest {
  role: Role;
  stage: AgentlessStage;
  dataset: DatasetChoice;
  repostructureDir: string;
  /** Prompt template files (the stage's own, step 1's, step 2's). */
  prompts?: PromptTemplateFiles | undefined;
  /** proc_step2: worker threads building patches. */
  numWorkers?: number | undefined;
  /** Testwriter proc_step2: the step-1 output file(s). */
  step1Files?: readonly string[] | undefined;
  env: Record<string, string | undefined>;
  log?: ((line: string) => void) | undefined;
  /** Notes for the user (a template word that is no placeholder). */
  note?: ((line: string) => void) | undefined;
}

export async function agentlessSide(r: AgentlessSideRequest): Promise<{ side: AgentlessSide; close: () => Promise<void> }> {
  const structures = new RepoStructureLoader({ dir: r.repostructureDir });
  const prompts = await loadPromptTemplates(r.stage, r.prompts ?? {}, r.note);
  const dataset = r.stage === "gen_step1" ? new Map<string, SweBenchRow>() : await datasetIndex(r.dataset, r.env, r.stage === "proc_step2" && r.role === "bugfixer", r.log);
  const requested = r.stage === "proc_step2" ? (r.numWorkers ?? 8) : 1;
  const threads = threadsFor(requested);
  if (threads < Math.floor(requested)) r.note?.(`proc_step2: building patches on ${threads} worker thread(s), one per core (--num_workers ${requested})`);
  const builder = sampleBuilder(threads);
  const side: AgentlessSide = { dataset, structures, build: builder.build, prompts };
  if (r.stage === "proc_step2" && r.role === "testwriter" && r.step1Files?.length) side.step1Choices = await step1Choices(r.step1Files, structures);
  return { side, close: builder.close };
}

/** Keep records by id: `--start/--end` (ids or 0-based positions in the byte-sorted id list) and `--shard i/n`. */
export interface IdSelection {
  start?: string | number | undefined;
  end?: string | number | undefined;
  shard?: string | undefined;
}

/** True when the selection keeps everything. */
export function selectsAll(s: IdSelection): boolean {
  return s.start === undefined && s.end === undefined && s.shard === undefined;
}

/** Throws a UsageError for a selection that does not parse (before anything runs). */
export function checkSelection(s: IdSelection): void {
  parseRangeBound(s.start, "--start");
  parseRangeBound(s.end, "--end");
  parseShard(s.shard);
}

/** Keeps the records whose id (custom_id, or instance_id for rows) is selected; `allIds` lists every id, for positions. */
export async function* selectRecords(records: AsyncIterable<JsonlRecord>, selection: IdSelection, allIds: () => Promise<string[]>): AsyncGenerator<JsonlRecord> {
  const start = parseRangeBound(selection.start, "--start");
  const end = parseRangeBound(selection.end, "--end");
  const shard: Shard | undefined = parseShard(selection.shard);
  if (!start && !end && !shard) {
    yield* records;
    return;
  }
  const sorted = needsIdList(start, end) ? [...new Set(await allIds())].sort(compareBytes) : undefined;
  const range = resolveRange(start, end, sorted);
  for await (const rec of records) {
    const id = recordIdOf(rec.value);
    if (id === undefined) {
      yield rec; // the stage's own validation names the line
      continue;
    }
    if (range.empty || !inRange(id, range) || (shard && !inShard(id, shard))) continue;
    yield rec;
  }
}

/** Drops the earlier lines of a custom_id that is on several lines: the last line is its outcome. `dropped` is told how many. */
export async function* lastLineWins(records: AsyncIterable<JsonlRecord>, repeated: Map<string, number>, dropped?: (count: number) => void): AsyncGenerator<JsonlRecord> {
  let n = 0;
  for await (const rec of records) {
    const id = recordIdOf(rec.value);
    const last = id === undefined ? undefined : repeated.get(id);
    if (last !== undefined && last !== rec.line) {
      n++;
      continue;
    }
    yield rec;
  }
  if (n > 0) dropped?.(n);
}
