/**
 * `batchline pipeline commit-testgen`: the whole ISO-Bench generate_test_generators.py run, and
 * what its README lists as future work (running the scripts, repairing them), top to bottom:
 *
 *   extract   git commits -> extractions/<hash>.json           (skipped with --extractions-dir)
 *   gen       one request per commit -> requests.jsonl (+ gen_failures.jsonl: context_exceeded)
 *   submit    --backend answers them -> output.jsonl
 *   fallback  lines that failed there (HTTP errors, expired, ...) sent to --fallback, merged ->
 *             answers.jsonl; every line records the backend that answered it (`backend`)
 *   proc      scripts, index.json, failures.jsonl -> save/
 *   run       each new script in a sandbox (--runner, --run-timeout) -> save/runs.jsonl
 *   rounds    up to --rounds N: every commit still without a script that parses and runs is asked
 *             again, from submit on, with a repair (its script and the syntax or run-time error)
 *             or, with no script at all, its generation request
 */
import { readdirSync, statSync } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import { UsageError } from "../core/errors.ts";
import { type JsonlRecord, readJsonl } from "../core/jsonl.ts";
import { definePipeline, evaluate, rounds, sink, stage, submit } from "../pipeline/index.ts";
import type { EvalResult, Step, StepContext } from "../pipeline/index.ts";
import { createRunner, isRunnerName, RUNNERS } from "../runners/index.ts";
import { commitsFromCsv, extractCommits } from "./extract.ts";
import { extractionIndex, readExtractions } from "./extractions.ts";
import { submitWithFallback } from "./fallback.ts";
import { readRuns } from "./runs.ts";
import { runScripts } from "./run-scripts.ts";
import { saveProcResults } from "./save.ts";
import { resolveSettings } from "./settings.ts";
import { genStageOptions, nextRequest, readOutDir } from "./steps.ts";
import { PythonSyntaxChecker } from "./syntax-checker.ts";

const text = z.string().min(1);
const positiveNumber = z.coerce.number().positive();

export const CommitTestgenOptions = z.object({
  repo: text.optional().describe("git checkout to extract commits from (with --commits or --csv)"),
  commits: text.optional().describe("commits to extract, comma-separated"),
  csv: text.optional().describe("CSV of commits; its other columns become csv_metadata"),
  hashColumn: text.optional().describe("the CSV's commit column (default commit_hash)"),
  extractionsDir: text.optional().describe("extraction JSONs made earlier (instead of --repo)"),
  onlyHash: text.optional().describe("only extraction files whose name contains this"),
  limit: z.coerce.number().int().min(0).optional().describe("only the first n extraction files (0 = all)"),
  provider: text.optional().describe("openai or anthropic (default: LLM_PROVIDER, else by which API key is set)"),
  model: text.optional().describe("model (default: OPENAI_MODEL / ANTHROPIC_MODEL, else gpt-5-2025-08-07 / claude-sonnet-4-5)"),
  temperature: z.union([z.string(), z.number()]).optional().describe("temperature (default 0.1)"),
  maxTokens: z.union([z.string(), z.number()]).optional().describe("output tokens (default 65536; 64000 for anthropic)"),
  maxContextTokens: z.union([z.string(), z.number()]).optional().describe("the model's context: trim commits that do not fit"),
  promptTemplate: text.optional().describe("system prompt template (default: TEST_CASE_GENERATOR_PROMPT, else batchline's)"),
  python: text.optional().describe("interpreter that checks and runs the scripts (default python3)"),
  runner: text.default("local").describe(`where scripts run: ${Object.keys(RUNNERS).join(", ")} (default local)`),
  runTimeout: positiveNumber.default(60).describe("seconds per script run (default 60)"),
  fallback: text.optional().describe("backend that gets the lines that failed on --backend (HTTP errors, expired, ...)"),
  fromSubmit: text.optional().describe("replay backend: the recorded output to answer from"),
  fallbackFrom: text.optional().describe("replay as --fallback: the recorded output it answers from"),
});
export type CommitTestgenOptions = z.infer<typeof CommitTestgenOptions>;

type Ctx = StepContext<CommitTestgenOptions>;

/** The extraction dir this run reads: --extractions-dir, else the one extract made in the workdir. */
function extractionsDirOf(ctx: Ctx): string {
  return ctx.options.extractionsDir ?? ctx.file("extractions/");
}

function settingsOf(ctx: Ctx) {
  const { provider, model, temperature, maxTokens, maxContextTokens, promptTemplate } = ctx.options;
  const flags = Object.fromEntries(Object.entries({ provider, model, temperature, maxTokens, maxContextTokens, promptTemplate }).filter(([, v]) => v !== undefined));
  return resolveSettings(flags, ctx.env);
}

function selectionOf(ctx: Ctx): { onlyHash?: string; limit?: number } {
  return { ...(ctx.options.onlyHash ? { onlyHash: ctx.options.onlyHash } : {}), ...(ctx.options.limit ? { limit: ctx.options.limit } : {}) };
}

/** extract: a step of its own kind-less shape (a folder of JSON files); nothing to do with --extractions-dir. */
const extract: Step<CommitTestgenOptions> = {
  kind: "stage",
  name: "extract",
  in: [],
  out: ["extractions/"],
  // Extraction files made elsewhere are not this step's output: their names, sizes and times stand
  // in their place, so that a changed file re-runs everything after (gen reads them as its source).
  hashed: (ctx) => ({
    repo: ctx.options.repo ?? null,
    commits: ctx.options.commits ?? null,
    csv: ctx.options.csv ?? null,
    hashColumn: ctx.options.hashColumn ?? null,
    extractionsDir: ctx.options.extractionsDir ?? null,
    files: ctx.options.extractionsDir ? extractionFileStamps(ctx.options.extractionsDir) : null,
  }),
  async run(ctx) {
    const o = ctx.options;
    if (o.extractionsDir) return { produced: 1, summary: { extractionsDir: o.extractionsDir } };
    const commits = o.commits !== undefined ? o.commits.split(",").map((c, i) => ({ commit: c.trim(), from: `--commits item ${i + 1}` })) : await commitsFromCsv(o.csv!, o.hashColumn ?? "commit_hash");
    const paths = await extractCommits({ repo: o.repo!, commits, outDir: ctx.file("extractions/"), log: (l) => ctx.log(`extract: ${l}`) });
    return { produced: paths.length, summary: { commits: paths.length } };
  },
};

function extractionFileStamps(dir: string): [string, number, number][] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith(".json"))
      .sort()
      .map((n) => {
        const st = statSync(join(dir, n));
        return [n, st.size, Math.round(st.mtimeMs)];
      });
  } catch {
    return [];
  }
}

async function* extractionRecords(ctx: Ctx): AsyncGenerator<JsonlRecord> {
  let line = 0;
  for await (const { json, extraction } of readExtractions(extractionsDirOf(ctx), selectionOf(ctx))) yield { line: ++line, text: "", offset: 0, value: { json, extraction } };
}

/** Runs the scripts of the commits answered in this step's input; one result per commit. */
async function* runAnswered(records: AsyncIterable<JsonlRecord>, ctx: Ctx): AsyncGenerator<EvalResult> {
  const ids = new Set<string>();
  for await (const rec of records) {
    const id = (rec.value as { custom_id?: unknown }).custom_id;
    if (typeof id === "string") ids.add(id);
  }
  const outDir = ctx.file("save/");
  const runner = await createRunner(ctx.options.runner as keyof typeof RUNNERS, { ...(ctx.options.python ? { python: ctx.options.python } : {}), log: (l) => ctx.log(`run: ${l}`) });
  try {
    await runScripts({ outDir, runner, timeoutMs: ctx.options.runTimeout * 1000, commits: ids, log: (l) => ctx.log(`run: ${l}`) });
  } finally {
    await runner.close?.();
  }
  const runs = await readRuns(outDir);
  for (const id of [...ids].sort()) {
    const r = runs.get(id);
    if (!r) yield { custom_id: id, status: "error", reason: "no_script", detail: "no script that parses (see save/failures.jsonl)" };
    else if (r.status === "passed") yield { custom_id: id, status: "passed", produced_test_cases: r.produced_test_cases };
    else yield { custom_id: id, status: "failed", reason: r.status === "timeout" ? "timeout" : "runtime_error", detail: r.error ?? "" };
  }
}

/** A retry round's request for one commit: a repair of its script, or its generation request again. */
async function repairOf(request: unknown, ctx: { workdir: string }): Promise<unknown> {
  const state = await readOutDir(join(ctx.workdir, "save"));
  const next = await nextRequest(state, request as BatchRequest);
  return next?.request;
}

export default definePipeline({
  name: "commit-testgen",
  description: "git commits -> test-generator scripts (ISO-Bench generate_test_generators.py): syntax-checked, run in a sandbox, repaired in rounds, indexed",
  options: CommitTestgenOptions,
  async preflight({ options, env }) {
    const fromRepo = options.repo !== undefined;
    if (fromRepo === (options.extractionsDir !== undefined)) throw new UsageError("pipeline commit-testgen: give --repo (with --commits or --csv) or --extractions-dir");
    if (fromRepo && (options.commits === undefined) === (options.csv === undefined)) throw new UsageError("pipeline commit-testgen: --repo needs exactly one of --commits and --csv");
    if (!isRunnerName(options.runner)) throw new UsageError(`--runner ${options.runner}: expected one of ${Object.keys(RUNNERS).join(", ")}`);
    if (options.extractionsDir && !(await stat(options.extractionsDir).then((s) => s.isDirectory(), () => false))) {
      throw new UsageError(`--extractions-dir ${options.extractionsDir}: no such directory`);
    }
    const { provider, model, temperature, maxTokens, maxContextTokens, promptTemplate } = options;
    resolveSettings(Object.fromEntries(Object.entries({ provider, model, temperature, maxTokens, maxContextTokens, promptTemplate }).filter(([, v]) => v !== undefined)), env);
  },
  steps: [
    extract,
    stage<CommitTestgenOptions, { kind: string; request?: unknown; failure?: { custom_id: string; reason: string } }>("gen", "commit-testgen/gen", {
      source: (ctx) => ({ label: extractionsDirOf(ctx), records: extractionRecords(ctx) }),
      out: "requests.jsonl",
      failures: "gen_failures.jsonl",
      count: "requests",
      options: (ctx) => genStageOptions(settingsOf(ctx)),
      split: (r) => (r.kind === "request" ? { line: r.request } : { failure: r.failure! }),
    }),
    submit("submit", { in: "requests.jsonl", out: "output.jsonl", replay: "fromSubmit" }),
    submitWithFallback("fallback", { requests: "requests.jsonl", primary: "output.jsonl", out: "answers.jsonl" }),
    sink<CommitTestgenOptions>("proc", {
      in: ["answers.jsonl"],
      stage: "commit-testgen/proc",
      out: "save/",
      failures: "save/failures.jsonl",
      options: () => ({}),
      side: async (ctx) => {
        const checker = new PythonSyntaxChecker(ctx.options.python ? { python: ctx.options.python } : {});
        const extractions = await extractionIndex(extractionsDirOf(ctx));
        return { side: { extractions, check: (code: string) => checker.check(code) }, close: () => checker.close() };
      },
      async write(records, dir, ctx) {
        const summary = await saveProcResults(dir, records as AsyncIterable<never>, await extractionIndex(extractionsDirOf(ctx)));
        return { produced: summary.scripts, summary: { scripts: summary.scripts, failures: summary.byReason } };
      },
    }),
    evaluate<CommitTestgenOptions>("run", { in: "answers.jsonl", out: "run_results.jsonl", evaluate: runAnswered, hashed: (ctx) => ({ runner: ctx.options.runner, timeout: ctx.options.runTimeout, python: ctx.options.python ?? null }) }),
    rounds({ retry: [{ from: "submit", failures: "save/failures.jsonl", rewrite: repairOf }] }),
  ],
  example: "batchline pipeline commit-testgen --workdir runs/vllm --repo ~/src/vllm --csv commits.csv --backend openai-batch --model gpt-4.1 --rounds 2",
});
