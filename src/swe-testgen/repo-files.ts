/**
 * Read-only access to a repository at a commit (a local checkout or mirror under --repos-dir):
 * file lists and file contents come from git's object store (`git ls-tree`, `git cat-file`),
 * so the checkout's working tree, index and HEAD are never touched. One reader per repo and
 * commit; files are read on demand and cached.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BatchlineError } from "../core/errors.ts";
import { findRepoDir } from "../runners/local.ts";
import { patchFiles } from "./test-specs.ts";

const run = promisify(execFile);
const MAX_BUFFER = 256 * 1024 * 1024;

/** Files of one repository at one commit. */
export interface RepoAtCommit {
  readonly dir: string;
  readonly commit: string;
  /** Every file path at the commit (sorted as git lists them). */
  files(): Promise<string[]>;
  /** The file's text at the commit, or undefined when it does not exist there. */
  read(path: string): Promise<string | undefined>;
}

/** Opens `repo` (`owner/name`) at `commit` under `reposDir`; a clear error when it is not there. */
export async function openRepoAt(reposDir: string, repo: string, commit: string): Promise<RepoAtCommit> {
  const found = findRepoDir(reposDir, repo);
  if ("tried" in found) throw new BatchlineError(`no checkout of ${repo} under --repos-dir ${reposDir} (tried ${found.tried.join(", ")})`);
  const dir = found.dir;
  const git = (args: string[]) => run("git", ["-C", dir, ...args], { maxBuffer: MAX_BUFFER, encoding: "utf8" });
  try {
    await git(["cat-file", "-e", `${commit}^{commit}`]);
  } catch {
    throw new BatchlineError(`${repo}: commit ${commit} is not in ${dir} (fetch it there first)`);
  }
  let list: Promise<string[]> | undefined;
  const cache = new Map<string, Promise<string | undefined>>();
  return {
    dir,
    commit,
    files: () => (list ??= git(["ls-tree", "-r", "--name-only", "-z", commit]).then((r) => r.stdout.split("\0").filter((p) => p !== ""))),
    read(path) {
      let text = cache.get(path);
      if (!text) {
        text = git(["cat-file", "blob", `${commit}:${path}`]).then((r) => r.stdout, () => undefined);
        cache.set(path, text);
      }
      return text;
    },
  };
}

/** True for paths that hold tests (a `test`/`tests` folder, `test_*.py`, `*_test.py`, conftest.py). */
export function isTestFile(path: string): boolean {
  const parts = path.split("/");
  const base = parts.at(-1) ?? "";
  return parts.slice(0, -1).some((p) => p === "test" || p === "tests" || p === "testing") || /^test_.*\.py$/.test(base) || /_tests?\.py$/.test(base) || base === "conftest.py";
}

/**
 * Existing test files most related to the files a patch changes: for `pkg/mod.py`, test files
 * named `test_mod.py` / `mod_test.py` / `tests.py` next to it or in a tests folder, nearest first.
 * At most `limit`.
 */
export function relatedTestFiles(all: readonly string[], changed: readonly string[], limit: number): string[] {
  const scored: { path: string; score: number }[] = [];
  const tests = all.filter((p) => p.endsWith(".py") && isTestFile(p));
  for (const path of tests) {
    let best = Number.POSITIVE_INFINITY;
    for (const source of changed) {
      const stem = (source.split("/").at(-1) ?? "").replace(/\.py$/, "");
      const base = path.split("/").at(-1) ?? "";
      if (base !== `test_${stem}.py` && base !== `${stem}_test.py` && base !== `tests_${stem}.py`) continue;
      const a = source.split("/").slice(0, -1);
      const b = path.split("/").slice(0, -1);
      let common = 0;
      while (common < a.length && common < b.length && a[common] === b[common]) common++;
      best = Math.min(best, a.length + b.length - 2 * common);
    }
    if (best !== Number.POSITIVE_INFINITY) scored.push({ path, score: best });
  }
  scored.sort((x, y) => x.score - y.score || x.path.localeCompare(y.path));
  return scored.slice(0, limit).map((s) => s.path);
}

/** Source files a gold patch changes (not tests), in patch order. */
export function goldSourceFiles(goldPatch: string): string[] {
  return patchFiles(goldPatch).filter((p) => !isTestFile(p));
}
