/**
 * The `local` runner: each job gets a fresh temp directory. A repo workspace is a `git clone
 * --shared --no-checkout` of a local checkout or mirror (the user's tree is only read), checked out
 * at the commit, patched with `git apply`. The command runs in its own process group under
 * `unshare -n` (or `unshare -rn` without root) when the kernel allows it, with a minimal
 * environment; the group is SIGKILLed at the timeout. Coverage runs the command under
 * `python -m coverage run` with an rcfile of ours, so the repo's own coverage config cannot
 * redirect or hide the data.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, normalize, relative, sep } from "node:path";
import { type ProcessResult, runProcess } from "./process.ts";
import type { CoverageData, RunJob, RunResult, Runner, RunnerFactory, RunnerOptions, SetupResult } from "./types.ts";

const RUNNER_NAME = "local";
const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024;
const GIT_TIMEOUT_MS = 10 * 60 * 1000;

export interface LocalRunnerOptions extends RunnerOptions {
  /** Python interpreter for `{python}` commands and coverage.py; default `python3`. */
  python?: string;
  /** Where `owner/name` checkouts live when a job names no `source`: `<dir>/<owner>__<name>`, `<dir>/<owner>/<name>` or `<dir>/<name>`. */
  reposDir?: string;
  /** Parent of the per-job temp directories; default the OS temp dir. */
  tmpDir?: string;
  /** Environment variables passed through from the caller's environment by name (default: PATH and locale only). */
  passEnv?: readonly string[];
  /** The caller's environment to take `passEnv` from (the CLI passes process.env). */
  baseEnv?: Readonly<Record<string, string | undefined>>;
}

/** Where `repo` (`owner/name`) lives under `reposDir`, or the paths tried when it is not there. */
export function findRepoDir(reposDir: string, repo: string): { dir: string } | { tried: string[] } {
  const [owner = "", name = repo] = repo.includes("/") ? repo.split("/", 2) : ["", repo];
  const tried = [join(reposDir, `${owner}__${name}`), join(reposDir, owner, name), join(reposDir, name)];
  for (const dir of tried) if (existsSync(join(dir, ".git")) || existsSync(join(dir, "HEAD"))) return { dir };
  return { tried };
}

let networkProbe: Promise<{ prefix: string[]; note?: string }> | undefined;

/** How to cut the network on this machine: `unshare -n`, else `unshare -rn`, else nothing (with the reason). */
export function probeNetworkCut(): Promise<{ prefix: string[]; note?: string }> {
  networkProbe ??= (async () => {
    const base = { cwd: tmpdir(), env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 10_000, maxOutputBytes: 4096 };
    for (const prefix of [["unshare", "-n"], ["unshare", "-rn"]]) {
      const r = await runProcess([...prefix, "true"], base);
      if (r.exitCode === 0) return { prefix };
    }
    return { prefix: [], note: "network not cut: unshare -n is not available here (no unshare, or no permission for network namespaces)" };
  })();
  return networkProbe;
}

const coverageProbes = new Map<string, Promise<boolean>>();

/** Whether `python` can import coverage (asked once per interpreter). */
function hasCoverage(python: string): Promise<boolean> {
  let probe = coverageProbes.get(python);
  if (!probe) {
    probe = runProcess([python, "-c", "import coverage"], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 30_000, maxOutputBytes: 4096 }).then((r) => r.exitCode === 0);
    coverageProbes.set(python, probe);
  }
  return probe;
}

const LOCALE_ENV = ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ"];

function coverageRc(ws: string, meta: string, include: readonly string[] | undefined): string {
  const lines = ["[run]", `data_file = ${join(meta, ".coverage")}`, "relative_files = True"];
  if (include && include.length > 0) {
    lines.push("include =");
    for (const p of include) lines.push(`    ${join(ws, p)}`, `    ${join(ws, p, "*")}`);
  } else {
    lines.push(`source = ${ws}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Reads coverage.py's JSON report into workspace-relative paths. */
export function parseCoverageJson(text: string, ws: string): CoverageData {
  const report = JSON.parse(text) as { files?: Record<string, { executed_lines?: number[]; missing_lines?: number[]; excluded_lines?: number[] }> };
  const data: CoverageData = {};
  for (const [name, f] of Object.entries(report.files ?? {})) {
    let rel = isAbsolute(name) ? relative(ws, name) : normalize(name);
    rel = rel.split(sep).join("/");
    data[rel] = { executed: f.executed_lines ?? [], missing: f.missing_lines ?? [], excluded: f.excluded_lines ?? [] };
  }
  return data;
}

function safeRelative(root: string, path: string): string | undefined {
  const full = join(root, path);
  const rel = relative(root, full);
  return rel.startsWith("..") || isAbsolute(rel) ? undefined : full;
}

const local: RunnerFactory<LocalRunnerOptions> = (options) => {
  const python = options.python ?? "python3";
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const baseEnv = options.baseEnv ?? {};
  const passEnv = [...LOCALE_ENV, ...(options.passEnv ?? [])];

  function envFor(job: RunJob, home: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { HOME: home, TMPDIR: home, PYTHONDONTWRITEBYTECODE: "1" };
    for (const name of passEnv) if (baseEnv[name] !== undefined) env[name] = baseEnv[name];
    env.PATH ??= "/usr/local/bin:/usr/bin:/bin";
    return { ...env, ...job.env };
  }

  async function git(args: string[], cwd: string, input?: string): Promise<ProcessResult> {
    return runProcess(["git", ...args], { cwd, env: { PATH: baseEnv.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: cwd, GIT_CONFIG_NOSYSTEM: "1" }, timeoutMs: GIT_TIMEOUT_MS, maxOutputBytes: 64 * 1024, input });
  }

  async function buildWorkspace(job: RunJob, ws: string): Promise<SetupResult> {
    const w = job.workspace;
    if (w.kind === "repo") {
      let source = w.source;
      if (source === undefined) {
        if (options.reposDir === undefined) return { ok: false, reason: "checkout_failed", detail: `no checkout of ${w.repo}: give --repos-dir` };
        const found = findRepoDir(options.reposDir, w.repo);
        if ("tried" in found) return { ok: false, reason: "checkout_failed", detail: `no checkout of ${w.repo} under ${options.reposDir} (tried ${found.tried.join(", ")})` };
        source = found.dir;
      }
      const clone = await git(["clone", "--quiet", "--shared", "--no-checkout", source, ws], dirname(ws));
      if (clone.exitCode !== 0) return { ok: false, reason: "checkout_failed", detail: `git clone ${source}: ${(clone.spawnError ?? clone.stderr).trim()}` };
      const checkout = await git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", w.commit], ws);
      if (checkout.exitCode !== 0) return { ok: false, reason: "checkout_failed", detail: `git checkout ${w.commit}: ${checkout.stderr.trim()}` };
      for (const patch of w.patches ?? []) {
        if (patch.diff.trim() === "") continue;
        const applied = await git(["apply", "--verbose", "--whitespace=nowarn", "-"], ws, patch.diff);
        if (applied.exitCode !== 0) return { ok: false, reason: "patch_does_not_apply", patch: patch.name, detail: applied.stderr.trim() };
      }
    } else {
      await mkdir(ws, { recursive: true });
    }
    for (const [path, text] of Object.entries(w.files ?? {})) {
      const full = safeRelative(ws, path);
      if (full === undefined) return { ok: false, reason: "workspace_failed", detail: `file path outside the workspace: ${path}` };
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, text);
    }
    return { ok: true };
  }

  return {
    name: RUNNER_NAME,
    async run(job, runOptions = {}) {
      const notes: string[] = [];
      const note = (line: string) => {
        notes.push(line);
        options.log?.(`[local] ${job.id}: ${line}`);
      };
      const root = await mkdtemp(join(options.tmpDir ?? tmpdir(), "batchline-run-"));
      const ws = join(root, "ws");
      const meta = join(root, "meta");
      const home = join(root, "home");
      const empty = { exitCode: null, signal: null, timedOut: false, stdout: "", stderr: "", truncated: false, durationMs: 0, notes, outputs: {} };
      try {
        await mkdir(meta);
        await mkdir(home);
        const setup = await buildWorkspace(job, ws);
        if (!setup.ok) return { ...empty, setup };

        let argv: string[];
        const cmd = job.command;
        const rc = join(meta, "coveragerc");
        const coverage = job.coverage !== undefined && (await hasCoverage(python));
        if (job.coverage && !coverage) note(`no coverage: coverage.py is not installed for ${python} (pip install coverage, or give a --python that has it)`);
        if (job.coverage && coverage) {
          if (!("python" in cmd)) throw new TypeError("coverage needs a {python} command");
          await writeFile(rc, coverageRc(ws, meta, job.coverage.include));
          argv = [python, "-m", "coverage", "run", `--rcfile=${rc}`, ...cmd.python];
        } else {
          argv = "python" in cmd ? [python, ...cmd.python] : [...cmd.argv];
        }
        if (!job.network) {
          const cut = await probeNetworkCut();
          if (cut.note) note(cut.note);
          argv = [...cut.prefix, ...argv];
        }
        const r = await runProcess(argv, { cwd: ws, env: envFor(job, home), timeoutMs: job.timeoutMs, maxOutputBytes, signal: runOptions.signal });
        if (r.spawnError) note(`could not start ${argv[0]}: ${r.spawnError}`);
        if (r.timedOut) note(`timed out after ${job.timeoutMs} ms; process group killed`);
        const result: RunResult = { setup, exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr, truncated: r.truncated, durationMs: r.durationMs, notes, outputs: {} };

        if (coverage) {
          const json = join(meta, "coverage.json");
          const report = await runProcess([python, "-m", "coverage", "json", `--rcfile=${rc}`, "-o", json], { cwd: ws, env: envFor(job, home), timeoutMs: 120_000, maxOutputBytes: 64 * 1024 });
          if (report.exitCode === 0) result.coverage = parseCoverageJson(await readFile(json, "utf8"), ws);
          else note(`no coverage report: ${(report.spawnError ?? (report.stdout + report.stderr)).trim().split("\n").pop()}`);
        }
        for (const path of job.outputs ?? []) {
          const full = safeRelative(ws, path);
          result.outputs[path] = full === undefined ? null : await readFile(full, "utf8").catch(() => null);
        }
        return result;
      } finally {
        await rm(root, { recursive: true, force: true, maxRetries: 3 });
      }
    },
  };
};

export default local;
