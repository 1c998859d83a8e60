/**
 * The three agentless steps for both roles, as stage transforms. Side inputs come from the runner:
 * the dataset by instance id, the structure loader, an optional prompt template, the step-1 files
 * (testwriter proc_step2) and a `build` function (a worker pool or inline `buildSample`).
 * Every instance/pass either yields its record or a failure with a reason; nothing is dropped.
 */
import type { AgentlessFailure, AgentlessOptions, GenOutput, Step2Output } from "../../schemas/agentless.ts";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { BatchOutput } from "../../schemas/openai-batch-output.ts";
import type { SweBenchRow } from "../../schemas/swe-bench-row.ts";
import { formatCustomId, idFileName, parseCustomId } from "../core/custom-id.ts";
import { answerOf } from "./answers.ts";
import { type SampleJob, type SampleResult, candidateKeys } from "./build-sample.ts";
import { chooseTestFile, localize } from "./localize.ts";
import type { Step1Choice } from "./step1-choices.ts";
import { LOCALIZE_BUGFIX, LOCALIZE_TESTWRITE, REPAIR, REPRODUCE, type PlaceholderValue, agentlessFiles, fillTemplate, renderFiles } from "./prompts.ts";
import { type RepoStructure, type RepoStructureLoader, StructureError, isTestPath } from "./repo-structure.ts";
import { parseSearchReplace, searchReplaceText } from "./search-replace.ts";
import { goldResults } from "./gold-results.ts";
import { mapOrdered } from "../internal/worker-pool.ts";
import { EncodedJson } from "../core/raw-json.ts";

export type Role = "bugfixer" | "testwriter";

/** What the runner hands the agentless stages. */
export interface AgentlessSide {
  dataset: Map<string, SweBenchRow>;
  structures: RepoStructureLoader;
  /** The user's prompt templates (prompts.ts), replacing batchline's for step 1 and step 2. */
  prompts?: { step1?: string; step2?: string };
  /** Testwriter proc_step2: custom_id -> the test file step 1 chose, or why it chose none (from --step1_file). */
  step1Choices?: Map<string, Step1Choice>;
  build: (job: SampleJob) => Promise<SampleResult>;
}

const STAGE_NAMES = { gen: "gen_step1", step2: "proc_step1_gen_step2", proc: "proc_step2" } as const;

function failure(customId: string, instanceId: string, stage: string, reason: string, detail: string): AgentlessFailure {
  return { custom_id: customId, instance_id: instanceId, stage, reason, detail };
}

function problemStatement(row: SweBenchRow, options: AgentlessOptions): string {
  const text = row.problem_statement;
  return options.convertCrlf ? text.replace(/\r\n/g, "\n") : text;
}

/**
 * The request body both roles send. The testwriter samples `__pass0` greedily (temperature 0) and
 * every other pass, and a bare id (passk 1), at --temp; the pass is read from the custom_id, so
 * proc_step1_gen_step2 needs no --passk to get it right.
 */
function requestBody(role: Role, content: string, customId: string, options: AgentlessOptions): BatchRequest["body"] {
  const id = parseCustomId(customId);
  const temperature = role === "testwriter" && id.hasPass && id.pass === 0 ? 0 : options.temp;
  return {
    model: options.modelName,
    messages: [{ role: "user", content }],
    max_tokens: options.maxTokens,
    temperature,
    ...(role === "bugfixer" ? { top_p: 0.95 } : {}),
    ...(options.enableThinking ? { enable_thinking: true, thinking_budget: options.thinkingBudget } : {}),
  };
}

function request(customId: string, body: BatchRequest["body"]): GenOutput {
  return { kind: "request", request: { custom_id: customId, method: "POST", url: "/v1/chat/completions", body } };
}

async function loadStructure(side: AgentlessSide, instanceId: string): Promise<{ ok: true; structure: RepoStructure } | { ok: false; reason: string; detail: string }> {
  try {
    return { ok: true, structure: await side.structures.load(instanceId) };
  } catch (err) {
    if (err instanceof StructureError) return { ok: false, reason: err.reason, detail: err.message };
    throw err;
  }
}

/** The step-1 placeholders' values (prompts.ts STEP1_PLACEHOLDERS); step 2 has them too. */
function step1Values(role: Role, row: SweBenchRow, structure: RepoStructure, options: AgentlessOptions): Record<string, PlaceholderValue> {
  const includeTests = role === "testwriter";
  return {
    problem_statement: problemStatement(row, options),
    structure: () => structure.tree({ includeTests }),
    agentless_structure: () => structure.agentlessTree({ includeTests }),
    instance_id: row.instance_id,
    repo: row.repo,
  };
}

/** gen_step1: one localization request per instance and pass. */
export function genStep1(role: Role) {
  return async function* (rows: AsyncIterable<SweBenchRow>, ctx: { options: AgentlessOptions; side: AgentlessSide }): AsyncGenerator<GenOutput> {
    const { options, side } = ctx;
    for await (const row of rows) {
      const loaded = await loadStructure(side, row.instance_id);
      for (let pass = 0; pass < options.passk; pass++) {
        const customId = formatCustomId(row.instance_id, pass, options.passk);
        if (!loaded.ok) {
          yield { kind: "failure", failure: failure(customId, row.instance_id, STAGE_NAMES.gen, loaded.reason, loaded.detail) };
          continue;
        }
        const template = side.prompts?.step1 ?? (role === "bugfixer" ? LOCALIZE_BUGFIX : LOCALIZE_TESTWRITE);
        const content = fillTemplate(template, step1Values(role, row, loaded.structure, options));
        yield request(customId, requestBody(role, content, customId, options));
      }
    }
  };
}

/** Reads the common parts of a step output line: ids, dataset row, answer, structure. */
async function prepare(line: BatchOutput, side: AgentlessSide, stage: string): Promise<{ ok: true; customId: string; instanceId: string; pass: number; row: SweBenchRow; answer: string; raw: string; structure: RepoStructure } | { ok: false; failure: AgentlessFailure; pass: number; answer: string | null }> {
  const { instanceId, pass } = parseCustomId(line.custom_id);
  const fail = (reason: string, detail: string, answer: string | null = null) => ({ ok: false as const, pass, answer, failure: failure(line.custom_id, instanceId, stage, reason, detail) });
  const row = side.dataset.get(instanceId);
  if (!row) return fail("instance_not_in_dataset", `${instanceId} is not in the dataset`);
  const answer = answerOf(line);
  if (!answer.ok) return fail(answer.reason, answer.detail);
  const loaded = await loadStructure(side, instanceId);
  if (!loaded.ok) return fail(loaded.reason, loaded.detail, answer.raw);
  return { ok: true, customId: line.custom_id, instanceId, pass, row, answer: answer.text, raw: answer.raw, structure: loaded.structure };
}

/** proc_step1_gen_step2: the files step 1 found -> a repair (bugfixer) or reproduction-test (testwriter) request. */
export function procStep1GenStep2(role: Role) {
  return async function* (lines: AsyncIterable<BatchOutput>, ctx: { options: AgentlessOptions; side: AgentlessSide }): AsyncGenerator<GenOutput> {
    const { options, side } = ctx;
    const stage = STAGE_NAMES.step2;
    for await (const line of lines) {
      const p = await prepare(line, side, stage);
      if (!p.ok) {
        yield { kind: "failure", failure: p.failure };
        continue;
      }
      const { files: found, ambiguous } = localize(p.answer, p.structure);
      if (found.length === 0) {
        const why = ambiguous.length > 0 ? `; ambiguous: ${ambiguous.map((a) => `${a.path} (${a.candidates.join(" or ")})`).join(", ")}` : "";
        yield { kind: "failure", failure: failure(p.customId, p.instanceId, stage, "no_file_found", `no path in the answer is a Python file of the repository${why}: ${JSON.stringify(p.answer.slice(0, 300))}`) };
        continue;
      }
      const usable = found.map((path) => ({ path, text: p.structure.get(path) })).filter((f): f is { path: string; text: string } => typeof f.text === "string");
      let shown = usable;
      let file = "";
      if (role === "testwriter") {
        const test = chooseTestFile(found, p.structure);
        if (!test) {
          yield { kind: "failure", failure: failure(p.customId, p.instanceId, stage, "no_test_file", `none of the files found is a usable test file: ${found.join(", ")}`) };
          continue;
        }
        file = test;
        shown = [usable.find((f) => f.path === test)!, ...usable.filter((f) => f.path !== test)];
      }
      if (shown.length === 0) {
        yield { kind: "failure", failure: failure(p.customId, p.instanceId, stage, "no_usable_file", `every file found failed to parse when the structure was built: ${found.join(", ")}`) };
        continue;
      }
      const template = side.prompts?.step2 ?? (role === "bugfixer" ? REPAIR : REPRODUCE);
      const values = {
        ...step1Values(role, p.row, p.structure, options),
        content: () => renderFiles(shown),
        agentless_content: () => agentlessFiles(role === "testwriter" ? shown.slice(0, 1) : shown),
        file,
      };
      const content = fillTemplate(template, values);
      yield request(p.customId, requestBody(role, content, p.customId, options));
    }
  };
}

/**
 * proc_step2: SEARCH/REPLACE answers -> patches (bugfixer) or reproduce_bug.py diffs (testwriter), in
 * input order, `window` built at once (default 8 per worker: two batches of the pool's messages, so
 * a worker has the next batch waiting while the main thread writes the last one's results).
 */
export function procStep2(role: Role, window: (options: AgentlessOptions) => number = (o) => Math.max(1, o.numWorkers) * 8) {
  return async function* (lines: AsyncIterable<BatchOutput>, ctx: { options: AgentlessOptions; side: AgentlessSide }): AsyncGenerator<Step2Output> {
    const { options, side } = ctx;
    // The id is checked here, synchronously, so a refusal names this line (not one read ahead).
    yield* mapOrdered(lines, window(options), (line) => (idFileName(line.custom_id), processOne(role, line, options, side)));
  };
}

/** The model that wrote an answer: the response body's `model`, else --model_name. */
function answeringModel(line: BatchOutput, options: AgentlessOptions): string {
  const model = (line.response?.body as { model?: unknown } | null | undefined)?.model;
  return typeof model === "string" && model !== "" ? model : options.modelName;
}

async function processOne(role: Role, line: BatchOutput, options: AgentlessOptions, side: AgentlessSide): Promise<Step2Output> {
  const stage = STAGE_NAMES.proc;
  const model = answeringModel(line, options);
  const p = await prepare(line, side, stage);
  const fail = (f: AgentlessFailure, raw: string | null): Step2Output => ({ kind: "failure", pass: p.pass, failure: f, raw_output: raw, model_name_or_path: model });
  if (!p.ok) return fail(p.failure, p.answer);
  // Only the files the edits name travel to the worker, not the whole structure.
  const files: Record<string, string | null> = {};
  const repoPaths: Record<string, string> = {};
  const folders = p.structure.folders();
  for (const edit of parseSearchReplace(p.answer).edits) {
    for (const key of candidateKeys(edit.path, p.structure.topFolder, folders)) {
      if (!p.structure.has(key) || Object.hasOwn(files, key)) continue;
      files[key] = p.structure.get(key) ?? null;
      repoPaths[key] = p.structure.repoPath(key);
    }
  }
  const job: SampleJob = { role, source: p.instanceId, answer: p.answer, files, repoPaths, folders, ...(p.structure.topFolder ? { topFolder: p.structure.topFolder } : {}) };
  const { customId, instanceId, pass } = p;
  let modelFoundFiles: string[] = [];
  if (role === "testwriter") {
    // With the step-1 output at hand, its decision stands: no test file there, no reproduction test here.
    if (side.step1Choices) {
      const chosen = side.step1Choices.get(customId);
      if (!chosen) return fail(failure(customId, instanceId, stage, "not_in_step1", `${customId} is not in the step-1 output (--step1_file)`), p.raw);
      if (!chosen.ok) return fail(failure(customId, instanceId, stage, chosen.reason, chosen.detail), p.raw);
      job.testFile = chosen.testFile;
      modelFoundFiles = chosen.modelFoundFiles;
    }
    job.allRepoPaths = p.structure.pythonFiles().map((k) => p.structure.repoPath(k));
  }
  const r = await side.build(job);
  if (!r.ok) return fail(failure(customId, instanceId, stage, r.reason, r.detail), p.raw);
  const srText = searchReplaceText(p.answer);
  if (r.role === "bugfixer") {
    const sample = { model_name_or_path: model, instance_id: instanceId, model_patch: r.patch, raw_model_patch: srText, original_file_content: r.files.map((f) => new EncodedJson(f.oldJson)), edited_files: r.files.map((f) => f.path), new_file_content: r.files.map((f) => new EncodedJson(f.newJson)) };
    const gold = p.row.patch;
    const record = {
      custom_id: customId,
      instance_id: instanceId,
      model_patch: r.patch,
      search_replace_text: srText,
      raw_output: p.raw,
      ...(typeof gold === "string" ? { gt_results: goldResults(instanceId, gold, p.structure) } : {}),
      model_name_or_path: model,
      raw_model_patch: srText,
      edited_files: sample.edited_files,
      original_file_content: sample.original_file_content,
      new_file_content: sample.new_file_content,
      notes: r.notes,
    };
    return { kind: "sample", custom_id: customId, pass, role, sample, record };
  }
  const original = new EncodedJson(r.originalJson);
  const sample = { model_name_or_path: model, instance_id: instanceId, test_patch: new EncodedJson(r.patchJson), raw_test_patch: new EncodedJson(r.fencedScriptJson), test_func_name: r.testFuncName, original_file_content: original };
  const record = {
    custom_id: customId,
    raw_answer: p.raw,
    search_replace_text: srText,
    model_found_files: modelFoundFiles,
    found_files: [r.testKey],
    file_contentes_dict: { [r.testKey]: { old_content: original, new_content: new EncodedJson(r.editedJson) } },
    ...sample, // instance_id among them
    notes: r.notes,
  };
  return { kind: "sample", custom_id: customId, pass, role, sample, record };
}
