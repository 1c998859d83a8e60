/**
 * The library calls behind `batchline sft eval gen|run|score` (the `sft-eval` pipeline runs the
 * same parts as steps): tasks -> requests, answers -> runs.jsonl through a runner, runs -> pass@k.
 */
import { createReadStream } from "node:fs";
import { SftEvalTask } from "../../schemas/sft-eval.ts";
import { UsageError } from "../core/errors.ts";
import { readJsonl, toJsonl } from "../core/jsonl.ts";
import type { HubOptions } from "../datasets/hub.ts";
import { indexById, loadDataset } from "../datasets/load.ts";
import { type AnyRunnerOptions, RUNNERS, createRunner, isRunnerName } from "../runners/index.ts";
import type { SftEvalRun } from "../../schemas/sft-eval.ts";
import { type EvalRequestSettings, evalRequests } from "./eval-requests.ts";
import { answerModel, runAnswers, runReferences } from "./eval-run.ts";

/** Where the tasks are (a .jsonl/.json/.parquet file or a hub dataset) and how to reach the hub. */
export interface TasksSource {
  tasks: string;
  split?: string;
  hub?: HubOptions;
}

/** The tasks by task_id, each checked (a repeated task_id is refused, naming both rows). */
export async function loadEvalTasks(source: TasksSource): Promise<Map<string, SftEvalTask>> {
  const records = loadDataset(source.tasks, { ...source.hub, split: source.split ?? "test", schema: SftEvalTask, schemaName: "sft eval task", idField: "task_id" });
  const tasks = await indexById(records, { idField: "task_id" });
  if (tasks.size === 0) throw new UsageError(`${source.tasks}: no tasks`);
  return tasks;
}

/** Tasks -> request lines (JSONL text chunks), `passk` per task, in task order. */
export async function* evalRequestLines(source: TasksSource, settings: EvalRequestSettings): AsyncGenerator<string> {
  const tasks = await loadEvalTasks(source);
  yield* toJsonl((function* () {
    for (const task of tasks.values()) yield* evalRequests(task, settings);
  })());
}

/** How answers are run. */
export interface EvalRunSettings {
  runner: string;
  /** Label for answers that name no model (failed requests); default: the one model the file's answers name. */
  model?: string;
  runnerOptions?: AnyRunnerOptions;
  timeoutMs: number;
  workers?: number;
  log?: (line: string) => void;
}

/** Checks a runner name: one of RUNNERS. */
export function checkRunnerName(name: string): void {
  if (!isRunnerName(name)) throw new UsageError(`--runner ${name}: expected one of ${Object.keys(RUNNERS).join(", ")}`);
}

/** Runs the answers of a batch output file (or, with `answers` undefined, each task's reference tests); yields runs.jsonl lines. */
export async function* evalRunLines(source: TasksSource, answers: string | undefined, s: EvalRunSettings, counts?: (run: SftEvalRun) => void): AsyncGenerator<string> {
  checkRunnerName(s.runner);
  const tasks = await loadEvalTasks(source);
  const runner = await createRunner(s.runner as keyof typeof RUNNERS, { ...s.runnerOptions, ...(s.log ? { log: s.log } : {}) });
  const model = s.model ?? (answers === undefined ? undefined : await onlyModel(answers));
  const o = { tasks, runner, timeoutMs: s.timeoutMs, ...(model ? { model } : {}), ...(s.workers ? { workers: s.workers } : {}), ...(s.log ? { log: s.log } : {}) };
  try {
    const runs = answers === undefined ? runReferences(o) : runAnswers(readJsonl(createReadStream(answers), { file: answers }), answers, o);
    for await (const run of runs) {
      counts?.(run);
      yield `${JSON.stringify(run)}\n`;
    }
  } finally {
    await runner.close?.();
  }
}

/** The model every answer of a batch output file that names one names, or undefined when they name several or none. */
async function onlyModel(answers: string): Promise<string | undefined> {
  const models = new Set<string>();
  for await (const { value } of readJsonl(createReadStream(answers), { file: answers })) {
    const model = answerModel(value);
    if (model !== undefined) models.add(model);
    if (models.size > 1) return undefined;
  }
  return models.size === 1 ? [...models][0] : undefined;
}
