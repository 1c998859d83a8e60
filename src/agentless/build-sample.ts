/**
 * The CPU-heavy part of proc_step2, as a pure function of plain data so it can run on a worker
 * thread: parse SEARCH/REPLACE edits, apply them to the files they name, and build the git diff
 * (bugfixer) or the reproduce_bug.py new-file diff (testwriter). Whole-file texts in the result
 * come as UTF-8 JSON bytes (src/core/raw-json.ts), so that on a worker thread the encoding happens
 * there and the main thread, which writes the records, only splices the bytes in.
 */
import { encodeJson } from "../core/raw-json.ts";
import { TextCache } from "../internal/text-cache.ts";
import { applyEdits, normalizeEditPath } from "./apply-edits.ts";
import { buildGitDiff } from "./git-diff.ts";
import { isTestPath } from "./repo-structure.ts";
import { makeReproductionTest } from "./reproduction-test.ts";
import { candidatePaths } from "./resolve-path.ts";
import { parseSearchReplace } from "./search-replace.ts";

/** One job: the answer, the files its edits may touch (structure key -> text, null when unusable) and their repository paths. */
export interface SampleJob {
  role: "bugfixer" | "testwriter";
  /** Where `files` and `allRepoPaths` come from (the instance id): a worker is sent each file of a source once. */
  source?: string;
  answer: string;
  files: Record<string, string | null>;
  repoPaths: Record<string, string>;
  topFolder?: string;
  /** First-level folders of the structure, tried as path prefixes after the clone folder. */
  folders?: string[];
  /** Every Python file's repository path (testwriter: to resolve imports). */
  allRepoPaths?: string[];
  /** Testwriter: the test file (structure key) step 1 chose, when known. */
  testFile?: string;
}

/** A string as UTF-8 JSON bytes: `encodeJson(s)`. */
export type JsonBytes = Uint8Array;

/**
 * The result: patch data, or a failure reason with detail; `notes` list edits not applied. Whole
 * files are JSON text: the bugfixer's old and new file contents; the testwriter's new-file patch,
 * its script in a ```python fence (`raw_test_patch`), and the test file before and after.
 */
export type SampleResult =
  | { ok: true; role: "bugfixer"; patch: string; files: { path: string; oldJson: JsonBytes; newJson: JsonBytes }[]; notes: string[] }
  | { ok: true; role: "testwriter"; patchJson: JsonBytes; fencedScriptJson: JsonBytes; testFuncName: string | null; testKey: string; originalJson: JsonBytes; editedJson: JsonBytes; notes: string[] }
  | { ok: false; reason: string; detail: string; notes: string[] };

/** The structure keys an edit path may resolve to (as apply-edits tries them, resolve-path.ts). */
export function candidateKeys(path: string, topFolder: string | undefined, folders: readonly string[] = []): string[] {
  const norm = normalizeEditPath(path);
  return norm.ok ? candidatePaths(norm.path, { topFolder, folders }) : [];
}

// Every pass of an instance edits the same files: their old texts are encoded once (by text) and
// shared by the results (read-only; `resultBuffers` copies them for a transfer).
const originals = new TextCache<Uint8Array>(1024 * 1024);
const encodeOriginal = (text: string) => originals.get(text, encodeJson);

export function buildSample(job: SampleJob): SampleResult {
  const parsed = parseSearchReplace(job.answer);
  const notes = parsed.problems.map((p) => `block ${p.index}: ${p.kind}: ${p.message}`);
  if (parsed.edits.length === 0) return { ok: false, reason: "no_edits", detail: notes.join("; ") || "the answer has no SEARCH/REPLACE block", notes };
  const source = { has: (k: string) => Object.hasOwn(job.files, k), get: (k: string) => (Object.hasOwn(job.files, k) ? job.files[k] : undefined) };
  const result = applyEdits(parsed.edits, source, {
    ...(job.topFolder ? { rootFolder: job.topFolder } : {}),
    ...(job.folders ? { folders: job.folders } : {}),
    allowNewFiles: job.role === "testwriter",
    repoPathOf: (key) => job.repoPaths[key] ?? key,
  });
  for (const f of result.failures) notes.push(`block ${f.index} (${f.path}): ${f.kind}: ${f.reason}`);
  if (result.files.length === 0) {
    return { ok: false, reason: "no_edit_applied", detail: result.failures.map((f) => `${f.path}: ${f.reason}`).join("; ") || "no edit changed a file", notes };
  }
  const changed = result.files.filter((f) => f.oldText !== f.newText);
  if (changed.length === 0) return { ok: false, reason: "empty_patch", detail: "the edits leave every file as it was", notes };

  if (job.role === "bugfixer") {
    const patch = buildGitDiff(changed.map((f) => ({ path: f.path, oldText: f.oldText, newText: f.newText })));
    return { ok: true, role: "bugfixer", patch, files: changed.map((f) => ({ path: f.path, oldJson: encodeOriginal(f.oldText ?? ""), newJson: encodeJson(f.newText) })), notes };
  }
  // The test file step 1 chose, else an edited test file; a non-test source file never becomes the test.
  const test = (job.testFile ? changed.find((f) => f.key === job.testFile) : undefined) ?? changed.find((f) => isTestPath(f.path));
  if (!test) return { ok: false, reason: "no_test_edit", detail: `no edit changed a test file (edited: ${changed.map((f) => f.path).join(", ")})`, notes };
  for (const f of changed) if (f !== test) notes.push(`${f.path}: edited too, but only the test file becomes reproduce_bug.py`);
  const known = new Set(job.allRepoPaths ?? []);
  const repro = makeReproductionTest({ content: test.newText, path: test.path, oldContent: test.oldText, hasFile: (p) => known.has(p) });
  notes.push(...repro.warnings);
  return {
    ok: true,
    role: "testwriter",
    patchJson: encodeJson(repro.patch),
    fencedScriptJson: encodeJson(fencedPython(repro.script)),
    testFuncName: repro.testFuncName,
    testKey: test.key,
    originalJson: encodeOriginal(test.oldText ?? ""),
    editedJson: encodeJson(test.newText),
    notes,
  };
}

/**
 * The buffers of a result's encoded texts, to transfer instead of copy. The old texts' bytes are
 * shared with the cache: the result gets copies of them first, so the transfer takes only its own.
 */
export function resultBuffers(result: SampleResult): ArrayBuffer[] {
  if (!result.ok) return [];
  if (result.role === "bugfixer") {
    for (const f of result.files) f.oldJson = new Uint8Array(f.oldJson);
    return result.files.flatMap((f) => [f.oldJson.buffer as ArrayBuffer, f.newJson.buffer as ArrayBuffer]);
  }
  result.originalJson = new Uint8Array(result.originalJson);
  return [result.patchJson, result.fencedScriptJson, result.originalJson, result.editedJson].map((a) => a.buffer as ArrayBuffer);
}

/** Code in a ```python fence, as Agentless's reproduction-test scripts read `raw_test_patch`. */
function fencedPython(code: string): string {
  return `\`\`\`python\n${code}${code.endsWith("\n") || code === "" ? "" : "\n"}\`\`\``;
}
