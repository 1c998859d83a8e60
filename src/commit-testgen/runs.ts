/**
 * `runs.jsonl` in the out dir: the last run of each commit's script, one line per commit sorted by
 * hash, with the sha256 of the script that ran (a repaired script is a different one, so an old
 * run never speaks for it). Merged on every write; written atomically.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ScriptRun } from "../../schemas/commit-testgen.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes } from "../core/custom-id.ts";
import { RecordValidationError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";

export const RUNS_FILE = "runs.jsonl";

/** Hex sha256 of a script's text. */
export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The runs recorded in `outDir`, by commit hash (empty when there is no runs.jsonl). */
export async function readRuns(outDir: string): Promise<Map<string, ScriptRun>> {
  const path = join(outDir, RUNS_FILE);
  const out = new Map<string, ScriptRun>();
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return out;
  }
  for await (const rec of readJsonl([text], { file: path })) {
    const parsed = ScriptRun.safeParse(rec.value);
    if (!parsed.success) throw new RecordValidationError({ file: path, line: rec.line }, "commit-testgen run", flattenIssues(parsed.error));
    out.set(parsed.data.commit_hash, parsed.data);
  }
  return out;
}

/** Merges `runs` into runs.jsonl (a commit's new run replaces its old one). */
export async function writeRuns(outDir: string, runs: Iterable<ScriptRun>): Promise<void> {
  const all = await readRuns(outDir);
  for (const r of runs) all.set(r.commit_hash, r);
  const sorted = [...all.values()].sort((a, b) => compareBytes(a.commit_hash, b.commit_hash));
  await writeFileAtomic(join(outDir, RUNS_FILE), sorted.map((r) => `${JSON.stringify(r)}\n`).join(""));
}
