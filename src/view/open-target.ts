/**
 * What `batchline view <path>` opens: a run directory (workdir or save dir) or a bare JSONL file,
 * with problem statements from a dataset when one is given.
 */
import { stat } from "node:fs/promises";
import { BatchlineError } from "../core/errors.ts";
import { type LoadDatasetOptions, loadDataset } from "../datasets/load.ts";
import { JsonlSource } from "./jsonl-source.ts";
import { RunSource } from "./run-source.ts";
import type { ViewSource } from "./server.ts";

/** Options of `openViewTarget`: a dataset (hub id or local file) for problem statements, and how to reach the hub. */
export interface OpenViewOptions {
  dataset?: string;
  datasetOptions?: LoadDatasetOptions<never>;
}

/** Opens `path`: a directory as a run, a file as JSONL; anything else is one clear error. */
export async function openViewTarget(path: string, options: OpenViewOptions = {}): Promise<ViewSource> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new BatchlineError(`view: ${path} does not exist`);
  }
  if (info.isDirectory()) {
    const run = await RunSource.open(path);
    if (options.dataset) run.setProblems(await problemStatements(options.dataset, new Set(run.instanceIds()), options.datasetOptions ?? {}));
    return { mode: "run", run };
  }
  if (options.dataset) throw new BatchlineError("view: --dataset goes with a run directory, not a JSONL file");
  return { mode: "jsonl", jsonl: await JsonlSource.open(path) };
}

/** instance_id -> problem_statement for the ids wanted, streamed from the dataset. */
async function problemStatements(dataset: string, wanted: Set<string>, options: LoadDatasetOptions<never>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const { value } of loadDataset(dataset, { ...options, onBadRow: () => {} })) {
    if (wanted.has(value.instance_id) && typeof value.problem_statement === "string") out.set(value.instance_id, value.problem_statement);
  }
  return out;
}

/** Closes the files a source holds open. */
export async function closeViewSource(source: ViewSource): Promise<void> {
  if (source.mode === "run") await source.run.close();
  else await source.jsonl.close();
}
