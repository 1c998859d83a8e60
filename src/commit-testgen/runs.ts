/**
 * `runs.jsonl` in the out dir: the last run of each commit's script, one line per commit sorted by
 * hash, with the sha256 of the script that ran (a repaired script is a different one, so an old
 * run never speaks for it). Merged on every write; written atomically.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ScriptRun } from "../../schemas/commit-testgen.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes } from "../core/custom-id.ts";
import { readByCommit } from "./save.ts";

export const RUNS_FILE = "runs.jsonl";

/** Hex sha256 of a script's text. */
export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The runs recorded in `outDir`, by commit hash (empty when there is no runs.jsonl). */
export function readRuns(outDir: string): Promise<Map<string, ScriptRun>> {
  return readByCommit(join(outDir, RUNS_FILE), ScriptRun, "commit-testgen run");
}

/** Merges `runs` into runs.jsonl (a commit's new run replaces its old one). */
export async function writeRuns(outDir: string, runs: Iterable<ScriptRun>): Promise<void> {
  const all = await readRuns(outDir);
  for (const r of runs) all.set(r.commit_hash, r);
  const sorted = [...all.values()].sort((a, b) => compareBytes(a.commit_hash, b.commit_hash));
  await writeFileAtomic(join(outDir, RUNS_FILE), sorted.map((r) => `${JSON.stringify(r)}\n`).join(""));
}
