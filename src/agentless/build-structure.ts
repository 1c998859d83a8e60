/**
 * Builds `<outDir>/<instance_id>.json`, the Agentless repo structure of a git repository at one
 * commit, without touching the user's checkout: the commit's tree is read into a temporary index
 * (`GIT_INDEX_FILE`, `git read-tree`) and written with `git checkout-index` into a temp directory,
 * which the Python helper structure_builder.py walks with Python's own `ast`; its JSON is streamed
 * into the output file (written atomically) and the temp directory is removed, whatever happens.
 *
 * Files come out as a checkout at that commit has them: `.gitattributes` eol/ident conversions
 * apply (`core.autocrlf=false` is forced, so the user's setting does not), `export-subst` and
 * `export-ignore` do not (which is why this is not `git archive`), and LFS files stay pointers.
 * Parsing depends on the interpreter's Python version (Python 2 files fail on Python 3): use the
 * same one for a whole dataset.
 *
 * The helper is a .py file that tsc does not copy: it is looked up beside this module (src/ runs)
 * and then in the package root's src/agentless/ (dist/ runs), so the package must ship it.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { openAtomic } from "../core/atomic-file.ts";
import { idFileName } from "../core/custom-id.ts";
import { BatchlineError, UsageError } from "../core/errors.ts";
import { writeChunks } from "../core/jsonl.ts";

/** What `buildStructure` needs. */
export interface BuildStructureOptions {
  /** A git repository: a checkout (any directory in it) or a bare repository. Never modified. */
  repo: string;
  /** The commit to read (a sha, tag or branch); the output names its full sha. */
  commit: string;
  /** The instance id: the output file is `<outDir>/<instanceId>.json`. */
  instanceId: string;
  /** The directory the structure file is written to (created if missing). */
  outDir: string;
  /** The clone-folder key for root files (default: the checkout directory's name; for a bare repo, its name without `.git`). */
  topFolder?: string;
  /** The file's `repo` field (default: `owner/name` from an `owner__name-123` instance id, else the top folder). */
  repoName?: string;
  /** The Python interpreter (default `python3`). */
  python?: string;
  /** Where the temp directory goes (default the OS temp dir). */
  tmpDir?: string;
  /** Environment of the git and Python processes (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** A file the helper could not read or parse: its repository path and Python's error. */
export interface UnparsedFile {
  path: string;
  error: string;
}

/** What was written. */
export interface BuildStructureResult {
  file: string;
  commit: string;
  topFolder: string;
  repoName: string;
  pythonFiles: number;
  /** Python files written with `text: ""`. */
  unparsed: UnparsedFile[];
}

/** A structure that could not be built (not a repository, no such commit, Python missing or failing). */
export class StructureBuildError extends BatchlineError {}

const SCRIPT_NAME = "structure_builder.py";
const STDERR_LIMIT = 16 * 1024;

/** The path of structure_builder.py: beside this module, else `<package root>/src/agentless/`; throws when neither exists. */
export function structureBuilderScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, SCRIPT_NAME), join(here, "..", "..", "..", "src", "agentless", SCRIPT_NAME)];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new StructureBuildError(`${SCRIPT_NAME} not found (looked in ${candidates.join(", ")}); the package must ship src/agentless/*.py`);
  return found;
}

/** `owner/name` from a SWE-bench-style instance id (`django__django-11099` -> `django/django`), else undefined. */
export function repoNameFromInstanceId(instanceId: string): string | undefined {
  const m = /^(.+?)__(.+)-\d+$/.exec(instanceId);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** True for a name usable as one path segment (an instance id or a top folder). */
function isPlainName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\\0]/.test(name);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
  });
}

async function git(args: string[], env: NodeJS.ProcessEnv, what: string): Promise<string> {
  let r: Run;
  try {
    r = await run("git", args, env);
  } catch (err) {
    throw new StructureBuildError(`cannot run git (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): is it installed?`, { cause: err });
  }
  if (r.code !== 0) throw new StructureBuildError(r.stderr.trim() === "" ? what : `${what}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Builds and writes the structure file of `instanceId` (see the file header); resolves once it is in place. */
export async function buildStructure(options: BuildStructureOptions): Promise<BuildStructureResult> {
  const { instanceId } = options;
  if (!isPlainName(instanceId)) throw new UsageError(`instance id ${JSON.stringify(instanceId)} cannot be a file name`);
  if (options.commit === "" || options.commit.startsWith("-")) throw new UsageError(`commit ${JSON.stringify(options.commit)} is not a commit name`);
  if (options.topFolder !== undefined && (!isPlainName(options.topFolder) || options.topFolder === ".git")) {
    throw new UsageError(`top folder ${JSON.stringify(options.topFolder)} must be one directory name`);
  }
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env), GIT_LFS_SKIP_SMUDGE: "1" };
  delete env.GIT_DIR;
  delete env.GIT_WORK_TREE;
  delete env.GIT_INDEX_FILE;
  const repo = resolve(options.repo);
  if (!existsSync(repo)) throw new UsageError(`${options.repo}: no such directory`);
  const gitDir = await git(["-C", repo, "rev-parse", "--absolute-git-dir"], env, `${options.repo}: not a git repository`);
  const commit = await git(["--git-dir", gitDir, "rev-parse", "--verify", "--quiet", `${options.commit}^{commit}`], env, `${options.repo}: no commit ${options.commit}`);
  let topFolder = options.topFolder;
  if (topFolder === undefined) {
    const top = await run("git", ["-C", repo, "rev-parse", "--show-toplevel"], env).catch(() => undefined);
    topFolder = top?.code === 0 && top.stdout.trim() !== "" ? basename(top.stdout.trim()) : basename(gitDir).replace(/\.git$/, "");
    if (!isPlainName(topFolder) || topFolder === ".git") throw new UsageError(`cannot name the top folder from ${options.repo}; pass --top-folder`);
  }
  const repoName = options.repoName ?? repoNameFromInstanceId(instanceId) ?? topFolder;
  const script = structureBuilderScript();

  const tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), "batchline-structure-"));
  try {
    const tree = join(tmp, "tree");
    const summaryPath = join(tmp, "summary.json");
    await mkdir(tree);
    const indexEnv = { ...env, GIT_INDEX_FILE: join(tmp, "index") };
    await git(["--git-dir", gitDir, "read-tree", commit], indexEnv, `reading the tree of ${commit}`);
    await git(["--git-dir", gitDir, "--work-tree", tree, "-c", "core.autocrlf=false", "-c", "core.eol=lf", "-c", "core.symlinks=true", "checkout-index", "--all", "--force"], indexEnv, `writing the files of ${commit}`);

    const args = [script, "--root", tree, "--top-folder", topFolder, "--repo", repoName, "--base-commit", commit, "--instance-id", instanceId, "--summary", summaryPath];
    const python = options.python ?? "python3";
    const file = join(options.outDir, idFileName(instanceId, ".json"));
    await runHelper(python, args, env, file);
    const summary = JSON.parse(await readFile(summaryPath, "utf8")) as { python_files: number; unparsed: UnparsedFile[] };
    return { file, commit, topFolder, repoName, pythonFiles: summary.python_files, unparsed: summary.unparsed };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Runs the helper with its stdout streamed into `file` (atomically); the file appears only if it exits 0. */
async function runHelper(python: string, args: string[], env: NodeJS.ProcessEnv, file: string): Promise<void> {
  const child = spawn(python, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    if (stderr.length < STDERR_LIMIT) stderr += d.toString("utf8");
  });
  const exited = new Promise<number | null>((resolvePromise, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolvePromise(code));
  });
  exited.catch(() => {}); // awaited below; this only keeps an early spawn error from counting as unhandled
  const out = await openAtomic(file);
  try {
    await writeChunks(out.stream, child.stdout);
    let code: number | null;
    try {
      code = await exited;
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : (err as Error).message;
      throw new StructureBuildError(`cannot run the Python interpreter ${JSON.stringify(python)} (${why}); pass --python <path>`, { cause: err });
    }
    if (code !== 0) throw new StructureBuildError(`${SCRIPT_NAME} failed (exit ${code}) with ${JSON.stringify(python)}: ${stderr.trim().split("\n").slice(-5).join(" | ")}`);
    await out.commit();
  } catch (err) {
    child.kill();
    await out.abort();
    throw err;
  }
}
