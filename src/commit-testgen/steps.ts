/**
 * The commit-testgen steps as library calls (the CLI and the pipeline definition both call these):
 *   gen     extraction dir -> request file (+ failures file for commits that cannot fit)
 *   proc    batch output -> scripts, index.json, failures.jsonl in the out dir
 *   repair  out dir (+ runs.jsonl) -> follow-up requests for every selected commit still without a
 *           script that parses and runs
 * Request settings (model, template, ...) are resolved by the caller; see settings.ts.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Writable } from "node:stream";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { CommitGenOutput, CommitProcOutput, CommitTestgenFailure, ScriptIndexEntry, ScriptRun } from "../../schemas/commit-testgen.ts";
import { loadStage } from "../../stages/index.ts";
import type { CommitProcSide } from "../../stages/commit-testgen/proc.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes } from "../core/custom-id.ts";
import { type JsonlRecord, joinLines, readJsonl, writeChunks } from "../core/jsonl.ts";
import { runStage } from "../core/stage.ts";
import { extractionIndex, readExtraction, readExtractions, type ExtractionSelection } from "./extractions.ts";
import { type RequestSettings, buildGenRequest, buildRepairRequest } from "./requests.ts";
import { readRuns, sha256 } from "./runs.ts";
import { type SaveSummary, readFailures, readIndex, saveProcResults } from "./save.ts";
import { PythonSyntaxChecker } from "./syntax-checker.ts";

/** Where a step writes: a path (atomically), or `-` for `stdout`. */
async function writeTo(dest: string, chunks: AsyncIterable<string>, stdout?: Writable): Promise<void> {
  if (dest === "-") {
    if (!stdout) throw new Error("writing to - needs a stdout stream");
    await writeChunks(stdout, chunks);
  } else await writeFileAtomic(dest, chunks);
}

/** The gen stage's options for these settings. */
export function genStageOptions(settings: RequestSettings): Record<string, unknown> {
  const { model, temperature, maxTokens, maxContextTokens, template } = settings;
  return { model, temperature, maxTokens, template, ...(maxContextTokens !== undefined ? { maxContextTokens } : {}) };
}

export interface GenStepOptions extends ExtractionSelection {
  extractionsDir: string;
  output: string;
  /** Failure records (default `<output>.failures.jsonl`; none when output is `-` and this is unset). */
  failures?: string;
  settings: RequestSettings;
  stdout?: Writable;
}

export interface GenSummary {
  requests: number;
  failures: number;
  trimmed: number;
  failuresPath?: string;
}

/** Extraction dir -> request file (one line per commit, in file-name order). */
export async function genStep(options: GenStepOptions): Promise<GenSummary> {
  const stage = (await loadStage("commit-testgen/gen"))!;
  const failures: string[] = [];
  let requests = 0;
  let trimmed = 0;
  const stageOptions = genStageOptions(options.settings);
  // One stage run per file, so that an error names the extraction file it is about.
  async function* outputs(): AsyncGenerator<CommitGenOutput> {
    for await (const { path, json, extraction } of readExtractions(options.extractionsDir, options)) {
      const record: JsonlRecord = { line: 1, text: "", offset: 0, value: { json, extraction } };
      yield* runStage(stage, (async function* () { yield record; })(), { file: path, options: stageOptions }) as AsyncIterable<CommitGenOutput>;
    }
  }
  async function* lines(): AsyncGenerator<string> {
    for await (const out of outputs()) {
      if (out.kind === "request") {
        requests++;
        if (out.trimmed) trimmed++;
        yield JSON.stringify(out.request);
      } else failures.push(JSON.stringify(out.failure));
    }
  }
  await writeTo(options.output, joinLines(lines()), options.stdout);
  const failuresPath = options.failures ?? (options.output === "-" ? undefined : `${options.output}.failures.jsonl`);
  if (failuresPath) await writeFileAtomic(failuresPath, joinLines(failures));
  return { requests, failures: failures.length, trimmed, ...(failuresPath ? { failuresPath } : {}) };
}

export interface ProcStepOptions extends ExtractionSelection {
  input: string;
  extractionsDir: string;
  outDir: string;
  /** The interpreter whose parser checks the scripts (default python3). */
  python?: string;
  /** Report and skip lines that are not valid output lines instead of failing. */
  onSkip?: (at: { file: string; line?: number }, message: string) => void;
}

/** Batch output -> scripts + index.json + failures.jsonl in the out dir. */
export async function procStep(options: ProcStepOptions): Promise<SaveSummary> {
  const stage = (await loadStage("commit-testgen/proc"))!;
  const extractions = await extractionIndex(options.extractionsDir);
  const checker = new PythonSyntaxChecker(options.python ? { python: options.python } : {});
  try {
    const side: CommitProcSide = { extractions, check: (code) => checker.check(code) };
    const onSkip = options.onSkip;
    const records = readJsonl(createReadStream(options.input), { file: options.input, ...(onSkip ? { onBadLine: (err) => onSkip(err.at, err.message) } : {}) });
    const outputs = runStage(stage, records, { file: options.input, side, ...(onSkip ? { onSkip: (s) => onSkip(s.at, s.error.message) } : {}) }) as AsyncIterable<CommitProcOutput>;
    return await saveProcResults(options.outDir, outputs, extractions);
  } finally {
    await checker.close();
  }
}

export interface RepairStepOptions extends ExtractionSelection {
  extractionsDir: string;
  outDir: string;
  output: string;
  settings: RequestSettings;
  stdout?: Writable;
}

export interface RepairSummary {
  /** Requests by why they were made: syntax_error, runtime_error, timeout, regenerate. */
  byKind: Record<string, number>;
  requests: number;
  /** Selected commits that already have a script that parses and runs. */
  done: number;
}

/** The out dir's state that decides what each commit needs next. */
export interface OutDirState {
  outDir: string;
  index: Map<string, ScriptIndexEntry>;
  failures: Map<string, CommitTestgenFailure>;
  runs: Map<string, ScriptRun>;
}

/** Reads index.json, failures.jsonl and runs.jsonl of `outDir`. */
export async function readOutDir(outDir: string): Promise<OutDirState> {
  return { outDir, index: new Map((await readIndex(outDir)).map((e) => [e.commit_hash, e])), failures: await readFailures(outDir), runs: await readRuns(outDir) };
}

/**
 * What one commit needs next, given its generation request `base`: undefined when it has a script
 * that parses (and, if it ran, ran fine); a repair of its script with the syntax error or the
 * run's error; else (no script at all: no answer, no code, truncated) `base` again.
 */
export async function nextRequest(state: OutDirState, base: BatchRequest): Promise<{ kind: string; request: BatchRequest } | undefined> {
  const hash = base.custom_id;
  const failure = state.failures.get(hash);
  if (failure?.reason === "syntax_error" && failure.code !== undefined) return { kind: "syntax_error", request: buildRepairRequest(base, "syntax", failure.code, failure.detail) };
  const entry = state.index.get(hash);
  const script = entry ? await scriptText(state.outDir, entry.script_path) : undefined;
  if (script !== undefined) {
    const run = state.runs.get(hash);
    if (run && run.script_sha256 === sha256(script) && run.status !== "passed") {
      return { kind: run.status === "timeout" ? "timeout" : "runtime_error", request: buildRepairRequest(base, "runtime", script, runError(run)) };
    }
    return undefined;
  }
  return { kind: "regenerate", request: base };
}

/**
 * Follow-up requests for every selected commit that has no script that parses and ran (see
 * nextRequest); each is based on the commit's generation request as gen would write it now.
 */
export async function repairStep(options: RepairStepOptions): Promise<RepairSummary> {
  const extractions = await extractionIndex(options.extractionsDir, options);
  const state = await readOutDir(options.outDir);
  const byKind: Record<string, number> = {};
  const requests: BatchRequest[] = [];
  let done = 0;
  for (const hash of [...extractions.keys()].sort(compareBytes)) {
    const { json, extraction } = await readExtraction(extractions.get(hash)!.path);
    const base = buildGenRequest(extraction, options.settings, json);
    if (base.kind !== "request") continue; // cannot fit the context: gen reported it
    const next = await nextRequest(state, base.request);
    if (!next) {
      done++;
      continue;
    }
    byKind[next.kind] = (byKind[next.kind] ?? 0) + 1;
    requests.push(next.request);
  }
  await writeTo(options.output, joinLines(requests.map((r) => JSON.stringify(r))), options.stdout);
  return { byKind, requests: requests.length, done };
}

function runError(run: ScriptRun): string {
  if (run.status === "timeout") return `it did not finish within the time limit and was stopped.\n\nLast output on stderr:\n${run.stderr_tail}`;
  return `exit code ${run.exit_code}; ${run.error ?? "no error line"}\n\nLast output on stderr:\n${run.stderr_tail}`;
}

async function scriptText(outDir: string, scriptPath: string): Promise<string | undefined> {
  return readFile(join(outDir, basename(scriptPath)), "utf8").catch(() => undefined);
}
