/**
 * `batchline sft traces`: failure->fix pairs for the plan's stage C, from runs where a later
 * attempt passed, as SFT rows (or as the pairs themselves):
 * - `sft eval` runs.jsonl files (with the tasks they ran): per task, in the order given (files,
 *   then lines), every failed sample that has a test file is paired with the next sample of the
 *   same task that passed; its pytest failure log is the one the fix answers.
 * - swe-testgen preds.json files: per instance, its `stage[]` in order; an attempt whose gold
 *   evaluation failed (`evaluation_info.pass_gold_patch_status` not "success") is paired with the
 *   next attempt that passed. The patch an evaluation ran is the last non-empty
 *   `model_test_patch` up to its stage (a fix that gave nothing keeps the patch before it); the
 *   code is the instance's gold `patch`, the log its `error_info`.
 * Pairs whose failed and fixed test are the same text are dropped, and so are repeats.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { SftEvalRun } from "../../schemas/sft-eval.ts";
import type { SftEvalTask } from "../../schemas/sft-eval.ts";
import { RecordError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { readPreds } from "../swe-testgen/preds-store.ts";
import { PYTEST_CONSTRAINT } from "./prompt.ts";

/** One failure->fix pair. */
export interface TracePair {
  /** Where it came from: `<file>:<task or instance>`. */
  source: string;
  id: string;
  code: string;
  code_file: string;
  failed_test: string;
  failure_log: string;
  fixed_test: string;
}

/** Pairs from sft eval runs: failed samples with a test file, each paired with the next passing sample of its task. */
export async function* evalRunPairs(files: readonly string[], tasks: ReadonlyMap<string, SftEvalTask>): AsyncGenerator<TracePair> {
  const pending = new Map<string, Array<{ run: SftEvalRun; file: string }>>();
  for (const file of files) {
    for await (const { line, value } of readJsonl(createReadStream(file), { file })) {
      const parsed = SftEvalRun.safeParse(value);
      const customId = (value as { custom_id?: unknown } | null)?.custom_id;
      const at = { file, line, ...(typeof customId === "string" ? { customId } : {}) };
      if (!parsed.success) throw new RecordError(at, `not a runs.jsonl line (${flattenIssues(parsed.error).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")})`);
      const run = parsed.data;
      const task = tasks.get(run.task_id);
      if (!task) throw new RecordError(at, `no task ${run.task_id} in the tasks file`);
      if (run.status === "passed") {
        for (const failed of pending.get(run.task_id) ?? []) {
          yield { source: `${failed.file}:${run.task_id}`, id: `${failed.run.custom_id}->${run.custom_id}`, code: task.code, code_file: task.code_file, failed_test: failed.run.test_file, failure_log: failed.run.failure_log, fixed_test: run.test_file };
        }
        pending.delete(run.task_id);
      } else if (run.test_file.trim() !== "" && run.status === "failed") {
        const list = pending.get(run.task_id) ?? [];
        list.push({ run, file });
        pending.set(run.task_id, list);
      }
    }
  }
}

/** Pairs from swe-testgen preds.json files: a failed gold evaluation and the next passing one of the same instance. */
export async function* predsPairs(files: readonly string[]): AsyncGenerator<TracePair> {
  for (const file of files) {
    for await (const { id, value } of readPreds(file)) {
      const stages = Array.isArray(value.stage) ? value.stage : [];
      const code = typeof value["patch"] === "string" ? value["patch"] : "";
      let patch = "";
      let failed: { patch: string; log: string; iteration: string } | undefined;
      for (const [n, stage] of stages.entries()) {
        if (typeof stage.model_test_patch === "string" && stage.model_test_patch.trim() !== "") patch = stage.model_test_patch;
        const info = stage.evaluation_info as { pass_gold_patch_status?: unknown; error_info?: unknown } | undefined;
        if (!info || patch === "") continue;
        if (info.pass_gold_patch_status === "success") {
          if (failed && code !== "") yield { source: `${file}:${id}`, id: `${id}#${failed.iteration}->${n}`, code, code_file: "the gold patch", failed_test: failed.patch, failure_log: failed.log, fixed_test: patch };
          failed = undefined;
        } else {
          failed = { patch, log: typeof info.error_info === "string" ? info.error_info : String(info.pass_gold_patch_status ?? "failed"), iteration: String(n) };
        }
      }
    }
  }
}

/** Drops pairs whose failed and fixed test are the same, and repeats of an earlier pair; counts both. */
export async function* distinctPairs(pairs: AsyncIterable<TracePair>, counts: { unchanged: number; duplicate: number }): AsyncGenerator<TracePair> {
  const seen = new Set<string>();
  for await (const p of pairs) {
    if (p.failed_test.trim() === p.fixed_test.trim()) {
      counts.unchanged++;
      continue;
    }
    const key = createHash("sha256").update(p.code).update("\u0000").update(p.failed_test).update("\u0000").update(p.fixed_test).digest("base64");
    if (seen.has(key)) {
      counts.duplicate++;
      continue;
    }
    seen.add(key);
    yield p;
  }
}

/** The repair prompt of a pair: the code, the test that failed, pytest's output, and the rule. */
export function tracePrompt(p: TracePair): string {
  return `The pytest test file below fails. Fix it so that it passes against the code and still tests it.

Rules: ${PYTEST_CONSTRAINT}. Answer with the corrected test file only, with no explanation around it.

The code is in ${p.code_file}:
${p.code.trimEnd()}

The test file:
${p.failed_test.trimEnd()}

What pytest reported:
${p.failure_log.trimEnd()}
`;
}

/** Output shapes: TRL prompt-completion, TRL conversational, or the pairs as they are. */
export const TRACE_FORMATS = ["prompt-completion", "messages", "pairs"] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

/** A pair as an output line. */
export function traceRow(p: TracePair, format: TraceFormat): unknown {
  if (format === "pairs") return p;
  const prompt = tracePrompt(p);
  const completion = p.fixed_test.endsWith("\n") ? p.fixed_test : `${p.fixed_test}\n`;
  if (format === "messages") return { messages: [{ role: "user", content: prompt }, { role: "assistant", content: completion }] };
  return { prompt, completion };
}

/** Where the pairs come from. */
export interface TraceSources {
  evalRuns?: readonly string[];
  tasks?: ReadonlyMap<string, SftEvalTask>;
  preds?: readonly string[];
}

/** What a traces run wrote: pairs by source kind, and what was dropped. */
export interface TraceSummary {
  eval: number;
  swe_testgen: number;
  unchanged: number;
  duplicate: number;
}

/** All pairs of the sources (eval runs first), distinct, as JSONL lines in `format`; `summary` is complete when the lines are. */
export function traceLines(sources: TraceSources, format: TraceFormat): { lines: AsyncGenerator<string>; summary: TraceSummary } {
  const summary: TraceSummary = { eval: 0, swe_testgen: 0, unchanged: 0, duplicate: 0 };
  async function* all(): AsyncGenerator<TracePair & { kind: "eval" | "swe_testgen" }> {
    if (sources.evalRuns?.length) for await (const p of evalRunPairs(sources.evalRuns, sources.tasks ?? new Map())) yield { ...p, kind: "eval" };
    if (sources.preds?.length) for await (const p of predsPairs(sources.preds)) yield { ...p, kind: "swe_testgen" };
  }
  async function* lines(): AsyncGenerator<string> {
    for await (const p of distinctPairs(all(), summary)) {
      const { kind, ...pair } = p as TracePair & { kind: "eval" | "swe_testgen" };
      summary[kind]++;
      yield `${JSON.stringify(traceRow(pair, format))}\n`;
    }
  }
  return { lines: lines(), summary };
}
