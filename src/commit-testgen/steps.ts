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
import { join } from "node:path";
import type { Writable } from "node:stream";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { CommitExtraction } from "../../schemas/commit-extraction.ts";
import type { CommitGenOutput, CommitProcOutput, CommitTestgenFailure } from "../../schemas/commit-testgen.ts";
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
  const { model, temperature, maxTokens, maxContextTokens } = options.settings;
  const stageOptions = { model, temperature, maxTokens, ...(maxContextTokens !== undefined ? { maxContextTokens } : {}) };
  // One stage run per file, so that an error names the extraction file it is about.
  async function* outputs(): AsyncGenerator<CommitGenOutput> {
    for await (const { path, json, extraction } of readExtractions(options.extractionsDir, options)) {
      const record: JsonlRecord = { line: 1, text: "", offset: 0, value: { json, extraction } };
      yield* runStage(stage, (async function* () { yield record; })(), { file: path, options: stageOptions, side: { template: options.settings.template } }) as AsyncIterable<CommitGenOutput>;
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

/**
 * Follow-up requests for every selected commit that has no script that parses and ran:
 * a syntax error or a failed run gives the model its script and the error; a commit with no
 * script at all (no answer, no code, truncated, never asked) gets its generation request again.
 */
export async function repairStep(options: RepairStepOptions): Promise<RepairSummary> {
  const extractions = await extractionIndex(options.extractionsDir, options);
  const index = new Map((await readIndex(options.outDir)).map((e) => [e.commit_hash, e]));
  const failures = await readFailures(options.outDir);
  const runs = await readRuns(options.outDir);
  const byKind: Record<string, number> = {};
  const requests: BatchRequest[] = [];
  let done = 0;
  const add = (kind: string, request: BatchRequest | undefined) => {
    if (!request) return;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    requests.push(request);
  };
  for (const hash of [...extractions.keys()].sort(compareBytes)) {
    const { json, extraction } = await readExtraction(extractions.get(hash)!.path);
    const failure: CommitTestgenFailure | undefined = failures.get(hash);
    if (failure?.reason === "syntax_error" && failure.code !== undefined) {
      add("syntax_error", buildRepairRequest(extraction, options.settings, "syntax", failure.code, failure.detail));
      continue;
    }
    const entry = index.get(hash);
    if (entry) {
      const script = await scriptText(options.outDir, entry.script_path);
      const run = runs.get(hash);
      if (script !== undefined && run && run.script_sha256 === sha256(script) && run.status !== "passed") {
        add(run.status === "timeout" ? "timeout" : "runtime_error", buildRepairRequest(extraction, options.settings, "runtime", script, runError(run)));
        continue;
      }
      if (script !== undefined) {
        done++; // parses; not run yet or ran fine
        continue;
      }
    }
    add("regenerate", regenerate(extraction, json, options.settings));
  }
  await writeTo(options.output, joinLines(requests.map((r) => JSON.stringify(r))), options.stdout);
  return { byKind, requests: requests.length, done };
}

function regenerate(extraction: CommitExtraction, json: string, settings: RequestSettings): BatchRequest | undefined {
  const result = buildGenRequest(extraction, settings, json);
  return result.kind === "request" ? result.request : undefined;
}

function runError(run: { status: string; error: string | null; stderr_tail: string; exit_code: number | null }): string {
  if (run.status === "timeout") return `it did not finish within the time limit and was stopped.\n\nLast output on stderr:\n${run.stderr_tail}`;
  return `exit code ${run.exit_code}; ${run.error ?? "no error line"}\n\nLast output on stderr:\n${run.stderr_tail}`;
}

async function scriptText(outDir: string, scriptPath: string): Promise<string | undefined> {
  const name = scriptPath.slice(scriptPath.lastIndexOf("/") + 1);
  return readFile(join(outDir, name), "utf8").catch(() => undefined);
}
