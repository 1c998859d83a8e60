/**
 * `commit-testgen extract`: commits of a git checkout -> one extraction JSON per commit
 * (`<dir>/<commit_hash>.json`, 2-space indent, non-ASCII kept, as ISO-Bench's commit_analyzer.py
 * writes them). Everything comes from git itself: the first parent is the base (merge commits
 * diff against it; a root commit against the empty tree), renames are detected (`old_path`),
 * binary files carry no content (`binary: true`). Every commit is resolved before anything is
 * written, so a missing one fails the run with its name and nothing half-done; each file is
 * written atomically, and a re-run writes the same bytes.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import type { ChangedFile, CommitExtraction } from "../../schemas/commit-extraction.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { BatchlineError, UsageError } from "../core/errors.ts";

/** A commit asked for, with the CSV row it came from (if any). */
export interface CommitRequest {
  commit: string;
  /** The CSV's other columns, as text. */
  csvMetadata?: Record<string, string>;
  /** Where the commit was named, for error messages (`commits.csv:3`). */
  from?: string;
}

export interface ExtractOptions {
  repo: string;
  commits: CommitRequest[];
  outDir: string;
  log?: (line: string) => void;
}

/** A failure of git or a commit that is not in the repository. */
export class GitError extends BatchlineError {}

/** The commits a CSV names, by `hashColumn` (default `commit_hash`); every other column becomes csv_metadata. */
export async function commitsFromCsv(path: string, hashColumn = "commit_hash"): Promise<CommitRequest[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new UsageError(`--csv ${path}: cannot read it`);
  }
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(text.replace(/^\uFEFF/, ""), { columns: true, skip_empty_lines: true, relax_column_count: false }) as Record<string, string>[];
  } catch (err) {
    throw new UsageError(`--csv ${path}: not a valid CSV (${(err as Error).message})`);
  }
  if (rows.length > 0 && !(hashColumn in rows[0]!)) throw new UsageError(`--csv ${path}: no column ${hashColumn} (columns: ${Object.keys(rows[0]!).join(", ")}); name it with --hash-column`);
  return rows.map((row, i) => {
    const commit = (row[hashColumn] ?? "").trim();
    const csvMetadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(row)) if (k !== hashColumn) csvMetadata[k] = v.trim();
    // Line numbers count the header as line 1; a quoted newline inside a row would shift them, so say "row".
    return { commit, csvMetadata, from: `${path} row ${i + 1}` };
  });
}

interface GitRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Git with the user's diff settings neutralized, so output depends only on the repository. */
function gitRaw(gitDir: string | undefined, args: string[], cwd?: string): Promise<GitRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_LFS_SKIP_SMUDGE: "1", LC_ALL: "C" };
  for (const k of ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_EXTERNAL_DIFF", "GIT_CONFIG_PARAMETERS"]) delete env[k];
  const fixed = ["-c", "core.quotepath=off", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false", "-c", "color.ui=never", "-c", "diff.renames=true"];
  return new Promise((done, fail) => {
    const where = gitDir === undefined ? [] : ["--git-dir", gitDir];
    const child = spawn("git", [...where, ...fixed, "--no-pager", ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e: NodeJS.ErrnoException) => fail(new GitError(`cannot run git (${e.code ?? e.message}): is it installed?`)));
    child.on("close", (code) => done({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8").trim() }));
  });
}

async function git(gitDir: string, args: string[], what: string): Promise<Buffer> {
  const r = await gitRaw(gitDir, args);
  if (r.code !== 0) throw new GitError(r.stderr ? `${what}: ${r.stderr}` : what);
  return r.stdout;
}

/** The full hash of `name` in the repository, or undefined when it names no commit there. */
async function resolveCommit(gitDir: string, name: string): Promise<string | undefined> {
  if (name === "" || name.startsWith("-")) return undefined;
  const r = await gitRaw(gitDir, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${name}^{commit}`]);
  return r.code === 0 ? r.stdout.toString("utf8").trim() : undefined;
}

interface NameStatus {
  status: string;
  path: string;
  oldPath?: string;
}

/** `git diff --name-status -z` records: `M\0path\0`, `R100\0old\0new\0`. */
function parseNameStatus(raw: Buffer): NameStatus[] {
  const parts = raw.toString("utf8").split("\0");
  const out: NameStatus[] = [];
  for (let i = 0; i + 1 < parts.length; ) {
    const status = parts[i++]!;
    if (status === "") break;
    if (status.startsWith("R") || status.startsWith("C")) {
      const oldPath = parts[i++]!;
      const path = parts[i++]!;
      out.push({ status, path, oldPath });
    } else out.push({ status, path: parts[i++]! });
  }
  return out;
}

/** Binary paths from `git diff --numstat -z` (`-\t-\t` marks a binary file; renames put both paths after). */
function parseBinaryPaths(raw: Buffer): Set<string> {
  const parts = raw.toString("utf8").split("\0");
  const binary = new Set<string>();
  for (let i = 0; i < parts.length; ) {
    const head = parts[i++]!;
    if (head === "") continue;
    const [added, removed, path] = head.split("\t");
    let newPath = path;
    if (path === "") {
      i++; // old path
      newPath = parts[i++];
    }
    if (added === "-" && removed === "-" && newPath !== undefined) binary.add(newPath);
  }
  return binary;
}

const CHANGE_TYPES: Record<string, string> = { A: "added", D: "deleted", M: "modified", T: "modified", R: "renamed", C: "added" };

/** Lines added and removed in a unified diff (file headers not counted). */
function countLines(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  let inHunk = false;
  for (const line of diff.split("\n")) {
    if (line.startsWith("@@")) inHunk = true;
    else if (line.startsWith("diff --git")) inHunk = false;
    else if (inHunk && line.startsWith("+")) added++;
    else if (inHunk && line.startsWith("-")) removed++;
  }
  return { added, removed };
}

/** The extraction of one resolved commit. */
async function extractCommit(gitDir: string, hash: string, csvMetadata: Record<string, string> | undefined): Promise<CommitExtraction> {
  const meta = (await git(gitDir, ["show", "-s", "--format=%P%x00%an <%ae>%x00%ci%x00%B", hash], `cannot read commit ${hash}`)).toString("utf8");
  const [parents = "", author = "", date = "", ...body] = meta.split("\0");
  const parentHash = parents.trim().split(" ")[0] || null; // first parent: a merge is diffed against the branch it was merged into
  // diff-tree against the first parent; a root commit against nothing (--root).
  const sides = parentHash ? [parentHash, hash] : ["--root", hash];
  const tree = ["diff-tree", "-r", "-M", "--no-commit-id", "--no-ext-diff", "--no-textconv"];
  const entries = parseNameStatus(await git(gitDir, [...tree, "--name-status", "-z", ...sides], `cannot diff ${hash}`));
  const binary = parseBinaryPaths(await git(gitDir, [...tree, "--numstat", "-z", ...sides], `cannot diff ${hash}`));
  const files: ChangedFile[] = [];
  for (const e of entries) {
    const changeType = CHANGE_TYPES[e.status[0]!] ?? "modified";
    const isBinary = binary.has(e.path);
    const oldSide = changeType === "renamed" ? (e.oldPath ?? e.path) : e.path;
    const renamed = changeType === "renamed" && e.oldPath !== undefined;
    const pathspec = renamed ? [e.oldPath!, e.path] : [e.path];
    const diff = (await git(gitDir, [...tree, "-p", ...sides, "--", ...pathspec], `cannot diff ${e.path} in ${hash}`)).toString("utf8");
    let oldContent = "";
    if (!isBinary && changeType !== "added" && parentHash) {
      oldContent = (await git(gitDir, ["cat-file", "blob", `${parentHash}:${oldSide}`], `cannot read ${oldSide} at ${parentHash}`)).toString("utf8");
    }
    const { added, removed } = countLines(diff);
    const file: ChangedFile = { file_path: e.path, old_content: oldContent, diff, change_type: changeType, lines_added: added, lines_removed: removed };
    if (renamed) file.old_path = e.oldPath!;
    if (isBinary) file.binary = true;
    files.push(file);
  }
  const count = (t: string) => files.filter((f) => f.change_type === t).length;
  return {
    commit_hash: hash,
    parent_hash: parentHash,
    message: body.join("\0").replace(/\n+$/, ""),
    author,
    date,
    files_changed: files,
    summary: { total_files: files.length, files_added: count("added"), files_deleted: count("deleted"), files_modified: count("modified"), files_renamed: count("renamed") },
    csv_metadata: csvMetadata ?? {},
  };
}

/** The extraction JSON as written: 2-space indent, non-ASCII kept (Python's `json.dump(indent=2, ensure_ascii=False)`). */
export function formatExtraction(extraction: CommitExtraction): string {
  return JSON.stringify(extraction, null, 2);
}

/** Writes `<outDir>/<hash>.json` for every commit; resolves to the paths, in the order asked. */
export async function extractCommits(options: ExtractOptions): Promise<string[]> {
  const repo = resolve(options.repo);
  if (!existsSync(repo)) throw new UsageError(`--repo ${options.repo}: no such directory`);
  const probe = await gitRaw(undefined, ["rev-parse", "--absolute-git-dir"], repo);
  if (probe.code !== 0) throw new UsageError(`--repo ${options.repo}: not a git repository`);
  const gitDir = probe.stdout.toString("utf8").trim();
  if (options.commits.length === 0) throw new UsageError("extract: no commits given (--commits sha,sha or --csv file)");

  const resolved: { hash: string; request: CommitRequest }[] = [];
  const missing: string[] = [];
  for (const request of options.commits) {
    const hash = await resolveCommit(gitDir, request.commit);
    if (hash === undefined) missing.push(`${request.commit || "(empty)"}${request.from ? ` (${request.from})` : ""}`);
    else resolved.push({ hash, request });
  }
  if (missing.length > 0) throw new GitError(`commit ${missing.join(", ")} is not in ${options.repo}; nothing was written`);

  const paths: string[] = [];
  const seen = new Set<string>();
  for (const { hash, request } of resolved) {
    const path = join(options.outDir, `${hash}.json`);
    if (seen.has(hash)) continue; // named twice: one file
    seen.add(hash);
    await writeFileAtomic(path, formatExtraction(await extractCommit(gitDir, hash, request.csvMetadata)));
    options.log?.(`${hash.slice(0, 8)} -> ${path}`);
    paths.push(path);
  }
  return paths;
}
