/**
 * The `docker` runner: each job runs in a fresh container of the SWE-bench instance image
 * (`swebench/sweb.eval.x86_64.<id>:latest`, `__` written `_1776_` as Docker Hub requires; the
 * template is an option), whose /testbed holds the repository at base_commit with its
 * environment (conda env `testbed`) installed. Driven through the `docker` CLI, so DOCKER_HOST
 * (and DOCKER_CONTEXT, TLS settings) in the caller's environment send every job to a remote
 * engine, or a fleet behind one endpoint: batchline schedules nothing itself.
 *
 * Per job: `docker run -d --network none <image> tail -f /dev/null`, `docker cp` the patches, the
 * files and a run script into the container, `git apply` each patch, `docker exec` the script
 * with the wall-clock limit (at the limit `docker kill` stops everything in the container),
 * `docker cp` coverage and outputs back, `docker rm -f`. A `files` job uses `filesImage`.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { randomId } from "../internal/ids.ts";
import { parseCoverageJson } from "./local.ts";
import { type ProcessResult, runProcess } from "./process.ts";
import type { RunJob, RunResult, Runner, RunnerFactory, RunnerOptions, SetupResult } from "./types.ts";

const RUNNER_NAME = "docker";
/** SWE-bench's instance images on Docker Hub. */
export const DEFAULT_IMAGE_TEMPLATE = "swebench/sweb.eval.x86_64.{docker_id}:latest";
export const DEFAULT_FILES_IMAGE = "python:3.11-slim";
const TESTBED = "/testbed";
const FILES_WORKDIR = "/work";
const BL_DIR = "/tmp/batchline";
const DOCKER_ENV = ["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"];

export interface DockerRunnerOptions extends RunnerOptions {
  /** The docker CLI (default `docker` on PATH). */
  dockerPath?: string;
  /** Image name for repo jobs: `{instance_id}` and `{docker_id}` (lowercase, `__` as `_1776_`) are filled in. */
  imageTemplate?: string;
  /** Image for `files` jobs (no repository). */
  filesImage?: string;
  /** The caller's environment: DOCKER_HOST and friends are taken from it for the CLI (never passed into containers). */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /** Seconds allowed for each docker CLI call other than the job's command (pull, create, cp); default 900. */
  dockerTimeoutSeconds?: number;
}

/** The image of a SWE-bench instance under `template`. */
export function instanceImage(instanceId: string, template = DEFAULT_IMAGE_TEMPLATE): string {
  const dockerId = instanceId.toLowerCase().replaceAll("__", "_1776_");
  return template.replaceAll("{instance_id}", instanceId).replaceAll("{docker_id}", dockerId);
}

/** Single-quotes a word for bash. */
function sh(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function runScript(job: RunJob, workdir: string): string {
  const cmd = job.command;
  const activate = "if [ -f /opt/miniconda3/bin/activate ]; then . /opt/miniconda3/bin/activate && conda activate testbed; fi";
  const env = Object.entries(job.env ?? {}).map(([k, v]) => `export ${k}=${sh(v)}`);
  let line: string;
  if (job.coverage) {
    if (!("python" in cmd)) throw new TypeError("coverage needs a {python} command");
    const args = cmd.python.map(sh).join(" ");
    // SWE-bench images do not all carry coverage.py: then the tests run without it (and the report says so)
    line = `if python -c 'import coverage' 2>/dev/null; then python -m coverage run --rcfile="$BATCHLINE_DIR/coveragerc" ${args}; else echo 'batchline: coverage.py is not installed in this image' >&2; python ${args}; fi`;
  } else {
    line = "python" in cmd ? `python ${cmd.python.map(sh).join(" ")}` : cmd.argv.map(sh).join(" ");
  }
  return ["#!/bin/bash", activate, ...env, `cd ${sh(workdir)}`, line, ""].join("\n");
}

function coverageRc(workdir: string, include: readonly string[] | undefined): string {
  const lines = ["[run]", `data_file = ${BL_DIR}/.coverage`, "relative_files = True"];
  if (include && include.length > 0) {
    lines.push("include =");
    for (const p of include) lines.push(`    ${workdir}/${p}`, `    ${workdir}/${p}/*`);
  } else {
    lines.push(`source = ${workdir}`);
  }
  return `${lines.join("\n")}\n`;
}

const docker: RunnerFactory<DockerRunnerOptions> = (options) => {
  const bin = options.dockerPath ?? "docker";
  const maxOutputBytes = options.maxOutputBytes ?? 4 * 1024 * 1024;
  const cliEnv: NodeJS.ProcessEnv = {};
  for (const k of DOCKER_ENV) if (options.baseEnv?.[k] !== undefined) cliEnv[k] = options.baseEnv[k];
  cliEnv.PATH ??= "/usr/local/bin:/usr/bin:/bin";
  const cliTimeout = (options.dockerTimeoutSeconds ?? 900) * 1000;

  const cli = (args: string[], timeoutMs = cliTimeout, extra: { signal?: AbortSignal; onTimeout?: () => void } = {}): Promise<ProcessResult> =>
    runProcess([bin, ...args], { cwd: tmpdir(), env: cliEnv, timeoutMs, maxOutputBytes, ...extra });
  const said = (r: ProcessResult) => (r.spawnError ?? r.stderr.trim()) || `exit ${r.exitCode}`;

  return {
    name: RUNNER_NAME,
    async run(job, runOptions = {}): Promise<RunResult> {
      const notes: string[] = [];
      const note = (line: string) => {
        notes.push(line);
        options.log?.(`[docker] ${job.id}: ${line}`);
      };
      const w = job.workspace;
      const workdir = w.kind === "repo" ? TESTBED : FILES_WORKDIR;
      const empty = { exitCode: null, signal: null, timedOut: false, stdout: "", stderr: "", truncated: false, durationMs: 0, notes, outputs: {} };
      let image: string;
      if (w.kind === "repo") {
        if (w.instanceId === undefined) return { ...empty, setup: { ok: false, reason: "checkout_failed", detail: "the docker runner needs the instance id to pick the image" } };
        image = instanceImage(w.instanceId, options.imageTemplate);
      } else {
        image = options.filesImage ?? DEFAULT_FILES_IMAGE;
      }
      const name = `batchline-${job.id.toLowerCase().replace(/[^a-z0-9_.-]+/g, "-").slice(0, 60)}-${randomId("", 4)}`;
      const host = await mkdtemp(join(tmpdir(), "batchline-docker-"));
      let created = false;
      try {
        const create = await cli(["run", "-d", "--name", name, "--label", "batchline=1", ...(job.network ? [] : ["--network", "none"]), "-w", workdir, image, "tail", "-f", "/dev/null"]);
        if (create.exitCode !== 0) return { ...empty, setup: { ok: false, reason: "workspace_failed", detail: `docker run ${image}: ${said(create)}` } };
        created = true;

        // Everything the job brings goes in with one `docker cp` of a prepared folder.
        const stage = join(host, "in");
        await mkdir(stage);
        const patches = w.kind === "repo" ? (w.patches ?? []).filter((p) => p.diff.trim() !== "") : [];
        for (const [i, p] of patches.entries()) await writeFile(join(stage, `patch_${i}.diff`), p.diff);
        await writeFile(join(stage, "run.sh"), runScript(job, workdir));
        if (job.coverage) await writeFile(join(stage, "coveragerc"), coverageRc(workdir, job.coverage.include));
        const copied = await cli(["cp", `${stage}/.`, `${name}:${BL_DIR}`]);
        if (copied.exitCode !== 0) return { ...empty, setup: { ok: false, reason: "workspace_failed", detail: `docker cp: ${said(copied)}` } };
        if (w.kind === "repo") {
          // instance images hold base_commit already; this makes sure of the commit asked for
          const checkout = await cli(["exec", "-w", workdir, name, "git", "-c", "advice.detachedHead=false", "checkout", "-q", w.commit]);
          if (checkout.exitCode !== 0) return { ...empty, setup: { ok: false, reason: "checkout_failed", detail: `git checkout ${w.commit} in ${image}: ${said(checkout)}` } };
        }
        for (const [i, p] of patches.entries()) {
          const applied = await cli(["exec", "-w", workdir, name, "git", "apply", "--verbose", "--whitespace=nowarn", `${BL_DIR}/patch_${i}.diff`]);
          if (applied.exitCode !== 0) return { ...empty, setup: { ok: false, reason: "patch_does_not_apply", patch: p.name, detail: (applied.stderr || applied.stdout).trim() } };
        }
        const files = Object.entries(w.files ?? {});
        if (files.length > 0) {
          const filesDir = join(host, "files");
          for (const [path, text] of files) {
            if (path.startsWith("/") || path.split("/").includes("..")) return { ...empty, setup: { ok: false, reason: "workspace_failed", detail: `file path outside the workspace: ${path}` } };
            await mkdir(dirname(join(filesDir, path)), { recursive: true });
            await writeFile(join(filesDir, path), text);
          }
          const put = await cli(["cp", `${filesDir}/.`, `${name}:${workdir}`]);
          if (put.exitCode !== 0) return { ...empty, setup: { ok: false, reason: "workspace_failed", detail: `docker cp: ${said(put)}` } };
        }
        const setup: SetupResult = { ok: true };
        if (!job.network) note("network cut: container started with --network none");

        const r = await cli(["exec", "-w", workdir, "-e", `BATCHLINE_DIR=${BL_DIR}`, name, "bash", `${BL_DIR}/run.sh`], job.timeoutMs, {
          ...(runOptions.signal ? { signal: runOptions.signal } : {}),
          onTimeout: () => void cli(["kill", name], 60_000),
        });
        if (r.timedOut) note(`timed out after ${job.timeoutMs} ms; container killed`);
        const result: RunResult = { setup, exitCode: r.timedOut || r.aborted ? null : r.exitCode, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr, truncated: r.truncated, durationMs: r.durationMs, notes, outputs: {} };
        if (r.timedOut || r.aborted) return result;

        if (job.coverage) {
          const report = await cli(["exec", "-w", workdir, name, "bash", "-c", `if [ -f /opt/miniconda3/bin/activate ]; then . /opt/miniconda3/bin/activate && conda activate testbed; fi; python -m coverage json --rcfile=${BL_DIR}/coveragerc -o ${BL_DIR}/coverage.json`]);
          const local = join(host, "coverage.json");
          const back = report.exitCode === 0 ? await cli(["cp", `${name}:${BL_DIR}/coverage.json`, local]) : report;
          if (back.exitCode === 0) result.coverage = parseCoverageJson(await readFile(local, "utf8"), workdir);
          else note(`no coverage report: ${said(back).split("\n").pop()}`);
        }
        for (const [i, path] of (job.outputs ?? []).entries()) {
          if (path.startsWith("/") || path.split("/").includes("..")) {
            result.outputs[path] = null;
            continue;
          }
          const local = join(host, `out_${i}`);
          const back = await cli(["cp", `${name}:${workdir}/${path}`, local]);
          result.outputs[path] = back.exitCode === 0 ? await readFile(local, "utf8").catch(() => null) : null;
        }
        return result;
      } finally {
        if (created) await cli(["rm", "-f", name], 120_000);
        await rm(host, { recursive: true, force: true });
      }
    },
  };
};

export default docker;
