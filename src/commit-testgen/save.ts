/**
 * The proc sink: lays out `--out-dir` as generate_test_generators.py does, and merges with what is
 * already there:
 * - `<hash8>_test_case_generator.py` per commit with a script. A commit keeps the name the index
 *   gives it; a new commit whose 8-character prefix another commit already holds gets a longer
 *   prefix (12, 16, ... 40 characters), never another commit's file. New names are handed out in
 *   hash order, so the same inputs give the same names whatever the line order.
 * - `index.json`: `[{commit_hash, script_path, category, message}]`, sorted by hash; entries of
 *   commits not in this run are kept, this run's scripts replace theirs.
 * - `failures.jsonl`: one line per commit still without a script, sorted by hash; a commit that
 *   now has a script leaves it.
 * Every file is written atomically.
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { z } from "zod";
import { type CommitProcOutput, CommitTestgenFailure, ScriptIndexEntry } from "../../schemas/commit-testgen.ts";
import type { CommitSummary } from "./extractions.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes } from "../core/custom-id.ts";
import { RecordValidationError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";

export const INDEX_FILE = "index.json";
export const FAILURES_FILE = "failures.jsonl";
export const SCRIPT_SUFFIX = "_test_case_generator.py";

/** What a proc run did to the out dir. */
export interface SaveSummary {
  scripts: number;
  failures: number;
  byReason: Record<string, number>;
  /** Commits whose script got a prefix longer than 8 characters. */
  longerNames: string[];
}

/** `index.json` of `outDir`, or [] when there is none; a malformed one is an error naming it. */
export async function readIndex(outDir: string): Promise<ScriptIndexEntry[]> {
  const path = join(outDir, INDEX_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RecordValidationError({ file: path }, "index.json", [{ path: "", message: "not valid JSON" }]);
  }
  const parsed = z.array(ScriptIndexEntry).safeParse(value);
  if (!parsed.success) throw new RecordValidationError({ file: path }, "index.json", flattenIssues(parsed.error));
  return parsed.data;
}

/** The records of JSONL file `path` by `commit_hash` (a later line wins), or empty when there is no file; a bad line is a file:line error naming `what`. */
export async function readByCommit<T extends { commit_hash: string }>(path: string, schema: z.ZodType<T>, what: string): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return out;
  }
  for await (const rec of readJsonl([text], { file: path })) {
    const parsed = schema.safeParse(rec.value);
    if (!parsed.success) throw new RecordValidationError({ file: path, line: rec.line }, what, flattenIssues(parsed.error));
    out.set(parsed.data.commit_hash, parsed.data);
  }
  return out;
}

/** `failures.jsonl` of `outDir` by commit hash, or empty when there is none. */
export function readFailures(outDir: string): Promise<Map<string, CommitTestgenFailure>> {
  return readByCommit(join(outDir, FAILURES_FILE), CommitTestgenFailure, "commit-testgen failure");
}

/** The script path as the index records it: `--out-dir` as given, then the file name (`./dir/abcd1234_...py`). */
export function scriptPathFor(outDir: string, name: string): string {
  return `${outDir.replace(/\/+$/, "") || "."}/${name}`;
}

/** The shortest name, from 8 characters of the hash up in steps of 4, that no other commit holds. */
export function scriptNameFor(hash: string, holders: ReadonlyMap<string, string>): string {
  for (let n = 8; n < hash.length; n += 4) {
    const name = `${hash.slice(0, n)}${SCRIPT_SUFFIX}`;
    const holder = holders.get(name);
    if (holder === undefined || holder === hash) return name;
  }
  return `${hash}${SCRIPT_SUFFIX}`;
}

/** Writes the scripts, index.json and failures.jsonl of one proc run (see the header). */
export async function saveProcResults(outDir: string, results: AsyncIterable<CommitProcOutput>, extractions: ReadonlyMap<string, CommitSummary>): Promise<SaveSummary> {
  const index = new Map((await readIndex(outDir)).map((e) => [e.commit_hash, e]));
  const failures = await readFailures(outDir);
  const scripts = new Map<string, string>();
  const newFailures = new Map<string, CommitTestgenFailure>();
  for await (const r of results) {
    if (r.kind === "script") {
      scripts.set(r.commit_hash, r.code);
      newFailures.delete(r.commit_hash);
    } else {
      newFailures.set(r.failure.commit_hash, r.failure);
      scripts.delete(r.failure.commit_hash);
    }
  }

  const holders = new Map<string, string>();
  for (const e of index.values()) holders.set(basename(e.script_path), e.commit_hash);
  const longerNames: string[] = [];
  for (const hash of [...scripts.keys()].sort(compareBytes)) {
    const existing = index.get(hash);
    const name = existing ? basename(existing.script_path) : scriptNameFor(hash, holders);
    holders.set(name, hash);
    if (name.length > 8 + SCRIPT_SUFFIX.length) longerNames.push(hash);
    await writeFileAtomic(join(outDir, name), scripts.get(hash)!);
    const commit = extractions.get(hash);
    index.set(hash, { commit_hash: hash, script_path: existing?.script_path ?? scriptPathFor(outDir, name), category: commit?.category ?? null, message: commit?.message ?? null });
    failures.delete(hash);
  }
  for (const [hash, f] of newFailures) failures.set(hash, f);

  const sortedIndex = [...index.values()].sort((a, b) => compareBytes(a.commit_hash, b.commit_hash));
  await writeFileAtomic(join(outDir, INDEX_FILE), `${JSON.stringify(sortedIndex, null, 2)}\n`);
  const sortedFailures = [...failures.values()].sort((a, b) => compareBytes(a.commit_hash, b.commit_hash));
  await writeFileAtomic(join(outDir, FAILURES_FILE), sortedFailures.map((f) => `${JSON.stringify(f)}\n`).join(""));
  const byReason: Record<string, number> = {};
  for (const f of newFailures.values()) byReason[f.reason] = (byReason[f.reason] ?? 0) + 1;
  return { scripts: scripts.size, failures: newFailures.size, byReason, longerNames };
}
