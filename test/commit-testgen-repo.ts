/**
 * Test helper for the commit-testgen suites: a real git repository, made in a temp dir, with one
 * commit of each kind extract must handle (add, modify, delete, rename, binary, merge). Dates and
 * names are fixed, so hashes are the same on every run.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface CommitRepo {
  dir: string;
  /** Commit hashes by kind. */
  commits: { root: string; add: string; modify: string; delete: string; rename: string; binary: string; side: string; merge: string };
  git(args: string[]): string;
  cleanup(): void;
}

const MATH_V1 = "def add(a, b):\n    return a + b\n";
const MATH_V2 = "def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n";
const UTIL = "import os\n\n\ndef home():\n    return os.environ.get('HOME', '/')\n";
const LEGACY = "# old module, removed later\nVALUE = 1\n";
const HELPERS = "def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n\n\ndef sign(x):\n    return (x > 0) - (x < 0)\n\n\ndef café():\n    return 'crème'\n";

/** Builds the repository; each commit gets its own fixed timestamp. */
export function createCommitRepo(): CommitRepo {
  const dir = mkdtempSync(join(tmpdir(), "batchline-commit-testgen-"));
  let tick = 1_700_000_000;
  const git = (args: string[]) =>
    execFileSync("git", args, {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, GIT_AUTHOR_DATE: `@${tick} +0000`, GIT_COMMITTER_DATE: `@${tick} +0000`, GIT_CONFIG_NOSYSTEM: "1", HOME: dir },
    }).trim();
  const write = (path: string, data: string | Buffer) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), data);
  };
  const commit = (message: string) => {
    tick += 60;
    git(["add", "-A"]);
    git(["commit", "-q", "-m", message]);
    return git(["rev-parse", "HEAD"]);
  };
  git(["init", "-q", "-b", "main"]);
  git(["config", "user.name", "Test Author"]);
  git(["config", "user.email", "author@batchline.invalid"]);
  git(["config", "core.autocrlf", "false"]);
  git(["config", "commit.gpgsign", "false"]);

  write("pkg/math_ops.py", MATH_V1);
  write("pkg/legacy.py", LEGACY);
  write("pkg/helpers_old.py", HELPERS);
  const root = commit("Initial import");
  write("pkg/util.py", UTIL);
  const add = commit("Add util module");
  write("pkg/math_ops.py", MATH_V2);
  const modify = commit("Speed up math ops\n\nAdds mul and a docstring.");
  rmSync(join(dir, "pkg/legacy.py"));
  const del = commit("Remove legacy module");
  git(["mv", "pkg/helpers_old.py", "pkg/helpers.py"]);
  write("pkg/helpers.py", HELPERS.replace("return max", "return  max"));
  const rename = commit("Rename helpers");
  write("assets/logo.bin", Buffer.from([0, 1, 2, 3, 255, 0, 10, 13, 0, 7]));
  const binary = commit("Add binary logo");
  git(["checkout", "-q", "-b", "side", modify]);
  write("pkg/side.py", "SIDE = True\n");
  const side = commit("Side branch work");
  git(["checkout", "-q", "main"]);
  tick += 60;
  git(["merge", "-q", "--no-ff", "-m", "Merge branch side", "side"]);
  const merge = git(["rev-parse", "HEAD"]);
  return { dir, commits: { root, add, modify, delete: del, rename, binary, side, merge }, git, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
