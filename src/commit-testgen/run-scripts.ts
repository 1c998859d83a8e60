/**
 * `commit-testgen run`: each script in the out dir's index.json run through a runner (src/runners:
 * a fresh empty workspace holding only the script, a timeout, the network cut where the platform
 * allows, never the user's tree), one line per commit in `runs.jsonl`. A small Python wrapper
 * beside the script runs it with the same interpreter and lists the files it wrote, so "produced
 * test cases" means files written or a JSON line printed. A script already run in this exact
 * version (same sha256) is not run again unless `force`.
 *
 * `failures.jsonl` follows the runs: a script that failed or timed out gets a `runtime_error` /
 * `timeout` record (the traceback's last line as detail); one that passed loses its run failure.
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { CommitTestgenFailure, ScriptRun } from "../../schemas/commit-testgen.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes } from "../core/custom-id.ts";
import type { Runner } from "../runners/types.ts";
import { readRuns, sha256, writeRuns } from "./runs.ts";
import { FAILURES_FILE, readFailures, readIndex } from "./save.ts";

const WRAPPER_NAME = "_batchline_run.py";
const MANIFEST_NAME = ".batchline_files.json";
const TAIL_CHARS = 2000;

/** Runs the script named in argv[1] with this interpreter, then lists the files it created or changed. */
const WRAPPER = String.raw`
import json, os, subprocess, sys

SKIP = {${JSON.stringify(WRAPPER_NAME)}, ${JSON.stringify(MANIFEST_NAME)}}

def snapshot():
    seen = {}
    for root, dirs, files in os.walk("."):
        for name in files:
            path = os.path.relpath(os.path.join(root, name), ".")
            try:
                st = os.stat(path)
            except OSError:
                continue
            seen[path.replace(os.sep, "/")] = (st.st_mtime_ns, st.st_size)
    return seen

script = sys.argv[1]
before = snapshot()
code = subprocess.call([sys.executable, script])
after = snapshot()
written = sorted(p for p, s in after.items() if p not in SKIP and p != script and before.get(p) != s)
with open(${JSON.stringify(MANIFEST_NAME)}, "w") as f:
    json.dump(written, f)
sys.exit(code if code >= 0 else 128 - code)
`;

export interface RunScriptsOptions {
  outDir: string;
  runner: Runner;
  timeoutMs: number;
  /** Only these commits (default: every commit in index.json). */
  commits?: ReadonlySet<string>;
  /** Run scripts again even when this version already ran. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface RunScriptsSummary {
  ran: number;
  skipped: number;
  passed: number;
  failed: number;
  timeout: number;
  /** Commits in the index whose script file is missing. */
  missing: string[];
}

/** The last non-empty line of a traceback (`ValueError: boom`), or null. */
export function lastErrorLine(stderr: string): string | null {
  const lines = stderr.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  return lines.length > 0 ? lines[lines.length - 1]!.trim() : null;
}

/** True when some stdout line is a JSON object or array. */
function printsJson(stdout: string): boolean {
  for (const line of stdout.split("\n")) {
    const t = line.trim();
    if (!(t.startsWith("{") || t.startsWith("["))) continue;
    try {
      JSON.parse(t);
      return true;
    } catch {
      // not JSON; keep looking
    }
  }
  return false;
}

/** The last TAIL_CHARS of output, with the runner's temp workspace path taken out (so a re-run reads the same). */
const tail = (s: string) => {
  const cleaned = s.replace(/(?:[A-Za-z]:)?[^\s"']*batchline-run-[^/\\\s"']+[/\\]ws[/\\]/g, "");
  return cleaned.length > TAIL_CHARS ? cleaned.slice(-TAIL_CHARS) : cleaned;
};

/** Runs the indexed scripts (see the header) and merges runs.jsonl and failures.jsonl. */
export async function runScripts(options: RunScriptsOptions): Promise<RunScriptsSummary> {
  const index = (await readIndex(options.outDir)).filter((e) => !options.commits || options.commits.has(e.commit_hash));
  const previous = await readRuns(options.outDir);
  const summary: RunScriptsSummary = { ran: 0, skipped: 0, passed: 0, failed: 0, timeout: 0, missing: [] };
  const runs: ScriptRun[] = [];
  for (const entry of index) {
    const name = basename(entry.script_path);
    const code = await readFile(join(options.outDir, name), "utf8").catch(() => undefined);
    if (code === undefined) {
      summary.missing.push(entry.commit_hash);
      continue;
    }
    const digest = sha256(code);
    if (!options.force && previous.get(entry.commit_hash)?.script_sha256 === digest) {
      summary.skipped++;
      continue;
    }
    const r = await options.runner.run({
      id: entry.commit_hash.slice(0, 12),
      workspace: { kind: "files", files: { [name]: code, [WRAPPER_NAME]: WRAPPER } },
      command: { python: [WRAPPER_NAME, name] },
      timeoutMs: options.timeoutMs,
      outputs: [MANIFEST_NAME],
    });
    let written: string[] = [];
    try {
      written = JSON.parse(r.outputs[MANIFEST_NAME] ?? "[]") as string[];
    } catch {
      written = [];
    }
    const printed = printsJson(r.stdout);
    const status: ScriptRun["status"] = r.timedOut ? "timeout" : r.setup.ok && r.exitCode === 0 ? "passed" : "failed";
    const error = status === "passed" ? null : !r.setup.ok ? r.setup.detail : status === "timeout" ? `timed out after ${options.timeoutMs} ms` : (lastErrorLine(r.stderr) ?? `exit code ${r.exitCode ?? r.signal}`);
    runs.push({
      commit_hash: entry.commit_hash,
      script_path: entry.script_path,
      script_sha256: digest,
      status,
      exit_code: r.exitCode,
      duration_ms: Math.round(r.durationMs),
      stdout_tail: tail(r.stdout),
      stderr_tail: tail(r.stderr),
      produced_test_cases: written.length > 0 || printed,
      files_written: written,
      printed_json: printed,
      error,
    });
    summary.ran++;
    summary[status]++;
    options.log?.(`${entry.commit_hash.slice(0, 8)}: ${status}${error ? ` (${error})` : ""}`);
  }
  await writeRuns(options.outDir, runs);
  await recordRunFailures(options.outDir, runs);
  return summary;
}

/** Run failures into failures.jsonl; a passing run clears the commit's run failure. */
async function recordRunFailures(outDir: string, runs: readonly ScriptRun[]): Promise<void> {
  const failures = await readFailures(outDir);
  for (const run of runs) {
    const old = failures.get(run.commit_hash);
    if (run.status === "passed") {
      if (old?.stage === "run") failures.delete(run.commit_hash);
      continue;
    }
    if (old && old.stage !== "run") continue; // a newer proc failure (a repair that did not parse) speaks for the commit
    const failure: CommitTestgenFailure = {
      custom_id: run.commit_hash,
      commit_hash: run.commit_hash,
      stage: "run",
      reason: run.status === "timeout" ? "timeout" : "runtime_error",
      detail: run.error ?? "",
    };
    failures.set(run.commit_hash, failure);
  }
  const sorted = [...failures.values()].sort((a, b) => compareBytes(a.commit_hash, b.commit_hash));
  await writeFileAtomic(join(outDir, FAILURES_FILE), sorted.map((f) => `${JSON.stringify(f)}\n`).join(""));
}
