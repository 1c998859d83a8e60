/**
 * What a pipeline keeps per instance outside its JSONL lines, for the viewer: swe-testgen's
 * preds.json (the dataset row's problem statement, the generated test patch, and its evaluation
 * in `meta`), commit-testgen's save dir (index.json: the script of each commit; runs.jsonl: how
 * its last run went). Read once at open; scripts are read from disk when a page shows them.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { readIndex } from "../commit-testgen/save.ts";
import { readRuns } from "../commit-testgen/runs.ts";
import { readPreds } from "../swe-testgen/preds-store.ts";

/** The run of an instance's generated test or script: a status word and the fields that tell how it went. */
export interface RunResult {
  source: string;
  status: string;
  fields: Record<string, unknown>;
}

/** What a pipeline adds to one instance. */
export interface InstanceExtra {
  problem_statement?: string;
  /** A generated test as a patch (swe-testgen's model_test_patch). */
  test_patch?: string;
  /** A generated script (commit-testgen), relative to the run directory. */
  script?: string;
  run?: RunResult;
  /** swe-testgen's stage[] entries (phase, exit status, iteration). */
  stages?: unknown[];
}

/** meta fields of preds.json worth showing, in this order. */
const META_FIELDS = ["pass_gold_patch_status", "fail_reason", "fail_detail", "FAIL_TO_PASS", "PASS_TO_PASS", "coverage_rate", "uncovered_lines"];

/** Reads the extras of a run directory; `saveDir` is where commit-testgen's index.json would be. */
export async function readExtras(root: string, saveDir: string): Promise<Map<string, InstanceExtra>> {
  const out = new Map<string, InstanceExtra>();
  const get = (id: string) => {
    let e = out.get(id);
    if (!e) out.set(id, (e = {}));
    return e;
  };
  for await (const { id, value } of readPreds(join(root, "preds.json"))) {
    const e = get(id);
    if (typeof value.problem_statement === "string") e.problem_statement = value.problem_statement;
    if (typeof value.model_test_patch === "string" && value.model_test_patch.trim() !== "") e.test_patch = value.model_test_patch;
    if (Array.isArray(value.stage)) e.stages = value.stage;
    const meta = value.meta ?? {};
    const fields: Record<string, unknown> = {};
    for (const k of META_FIELDS) if (meta[k] !== undefined) fields[k] = meta[k];
    e.run = { source: "preds.json meta", status: typeof meta.pass_gold_patch_status === "string" ? meta.pass_gold_patch_status : "not evaluated", fields };
  }
  for (const entry of await readIndex(saveDir)) {
    const path = isAbsolute(entry.script_path) ? entry.script_path : join(saveDir, entry.script_path);
    const rel = relative(root, path);
    if (!rel.startsWith("..") && !isAbsolute(rel)) get(entry.commit_hash).script = rel;
  }
  for (const [hash, run] of await readRuns(saveDir)) {
    const { commit_hash: _h, script_path: _p, status, ...fields } = run;
    get(hash).run = { source: "runs.jsonl", status, fields };
  }
  return out;
}

/** A script's text, when `rel` (from readExtras) still lies inside `root`. */
export async function readScript(root: string, rel: string): Promise<string | null> {
  const path = resolve(root, rel);
  if (relative(root, path).startsWith("..")) return null;
  return readFile(path, "utf8").catch(() => null);
}
