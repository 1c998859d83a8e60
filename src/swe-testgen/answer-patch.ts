/**
 * A model's answer -> `model_test_patch`, a git diff against base_commit that touches test files
 * only. The answer is either SEARCH/REPLACE edits (parsed and applied with the agentless edit
 * code, diffed with its git-diff builder) or a unified diff. Edits apply to the test files as the
 * current test patch left them (fix phases), and the result is always a diff from base_commit.
 * The current patch is applied to the base files with real `git apply` in a scratch directory.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { applyEdits } from "../agentless/apply-edits.ts";
import { buildGitDiff, type FileChange } from "../agentless/git-diff.ts";
import { parseSearchReplace } from "../agentless/search-replace.ts";
import { isTestFile, type RepoAtCommit } from "./repo-files.ts";
import { patchFiles } from "./test-specs.ts";

const run = promisify(execFile);

export type TestPatchResult = { ok: true; patch: string; files: string[] } | { ok: false; reason: string; detail: string };

/** Base files (null: absent at the commit) with `patch` applied by `git apply`; throws with git's message when it does not apply. */
export async function applyPatchToFiles(base: ReadonlyMap<string, string | null>, patch: string): Promise<Map<string, string | null>> {
  const dir = await mkdtemp(join(tmpdir(), "batchline-apply-"));
  try {
    for (const [path, text] of base) {
      if (text === null) continue;
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    await new Promise<void>((resolve, reject) => {
      const child = execFile("git", ["apply", "--whitespace=nowarn", "-"], { cwd: dir }, (err, _out, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve()));
      child.stdin?.end(patch);
    });
    const out = new Map<string, string | null>();
    for (const path of new Set([...base.keys(), ...patchFiles(patch)])) out.set(path, await readFile(join(dir, path), "utf8").catch(() => null));
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The test files as `currentPatch` leaves them at the commit (path -> text; null when deleted). */
export async function currentTestFiles(repo: RepoAtCommit, currentPatch: string): Promise<Map<string, string | null>> {
  const base = new Map<string, string | null>();
  for (const path of patchFiles(currentPatch)) base.set(path, (await repo.read(path)) ?? null);
  return currentPatch.trim() === "" ? base : applyPatchToFiles(base, currentPatch);
}

function extractDiff(answer: string): string | undefined {
  const fenced = [...answer.matchAll(/```(?:diff|patch)?[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => /^(diff --git |--- a\/)/m.test(b));
  const text = fenced ?? (/^diff --git /m.test(answer) ? answer.slice(answer.search(/^diff --git /m)) : undefined);
  if (text === undefined) return undefined;
  return text.endsWith("\n") ? text : `${text}\n`;
}

/**
 * Turns `answer` into a test patch against `repo`'s commit. `currentPatch` is the test patch the
 * edits build on ("" for test_gen). Failures: `no_edits`, `non_test_file`, `edit_failed`,
 * `patch_does_not_apply` (a diff answer that git refuses), `empty_patch`.
 */
export async function answerToTestPatch(answer: string, repo: RepoAtCommit, currentPatch: string): Promise<TestPatchResult> {
  const diff = extractDiff(answer);
  const parsed = parseSearchReplace(answer);
  if (parsed.edits.length === 0 && diff !== undefined) {
    const files = patchFiles(diff);
    const outside = files.filter((f) => !isTestFile(f));
    if (files.length === 0) return { ok: false, reason: "no_edits", detail: "the diff names no file" };
    if (outside.length > 0) return { ok: false, reason: "non_test_file", detail: `the diff changes files that are not tests: ${outside.join(", ")}` };
    // A diff answer replaces the current patch: check it applies at the commit.
    const base = new Map<string, string | null>();
    for (const path of files) base.set(path, (await repo.read(path)) ?? null);
    try {
      await applyPatchToFiles(base, diff);
    } catch (err) {
      return { ok: false, reason: "patch_does_not_apply", detail: (err as Error).message };
    }
    return { ok: true, patch: diff, files };
  }
  if (parsed.edits.length === 0) return { ok: false, reason: "no_edits", detail: parsed.problems[0]?.message ?? "the answer has no SEARCH/REPLACE block and no diff" };

  const outside = parsed.edits.filter((e) => !isTestFile(e.path.replace(/^\.\//, "")));
  if (outside.length > 0) return { ok: false, reason: "non_test_file", detail: `edits to files that are not tests: ${[...new Set(outside.map((e) => e.path))].join(", ")}` };

  const current = await currentTestFiles(repo, currentPatch);
  const contents = new Map<string, string | null>(current);
  for (const edit of parsed.edits) {
    const path = edit.path.trim().replace(/^\.\//, "");
    if (!contents.has(path)) {
      const text = await repo.read(path);
      if (text !== undefined) contents.set(path, text);
    }
  }
  const source = { has: (k: string) => contents.has(k) && contents.get(k) !== null, get: (k: string) => contents.get(k) };
  const result = applyEdits(parsed.edits, source, { allowNewFiles: true });
  if (result.files.length === 0) return { ok: false, reason: "edit_failed", detail: result.failures.map((f) => f.reason).join("; ") || "no edit applied" };
  for (const f of result.files) contents.set(f.path, f.newText);

  // The patch goes from base_commit to the new contents of every test file touched so far.
  const changes: FileChange[] = [];
  for (const [path, text] of contents) {
    const baseText = (await repo.read(path)) ?? null;
    if (text === null || text === baseText) continue;
    changes.push({ path, oldText: baseText, newText: text });
  }
  if (changes.length === 0) return { ok: false, reason: "empty_patch", detail: "the edits leave every test file as it is at the base commit" };
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ok: true, patch: buildGitDiff(changes), files: changes.map((c) => c.path) };
}
