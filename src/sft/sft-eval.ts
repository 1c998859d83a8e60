/**
 * `batchline pipeline sft-eval`: pass@k of a test-writing model on a set of tasks, top to bottom:
 *
 *   gen      tasks -> --passk requests per task (custom_id <task_id>__pass<N>) -> requests.jsonl
 *   submit   --backend answers them (any backend: a vLLM server for the fine-tuned model through
 *            openai-compatible, a batch API for a baseline) -> output.jsonl
 *   run      each answer's test file run with pytest against its task's code in a sandbox
 *            (--runner, --run-timeout) -> runs.jsonl (+ runs.jsonl.failures.jsonl)
 *   score    pass@1, pass@3 (and --k) per model -> score.json, and the table in the log
 *
 * Two runs (before and after fine-tuning) are compared with `batchline sft eval score A --compare B`.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { SftEvalTask } from "../../schemas/sft-eval.ts";
import { UsageError } from "../core/errors.ts";
import type { JsonlRecord } from "../core/jsonl.ts";
import { loadDataset } from "../datasets/load.ts";
import { hubOptionsFromEnv } from "../datasets/hub.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { definePipeline, evaluate, stage, submit } from "../pipeline/index.ts";
import type { EvalResult, Step, StepContext } from "../pipeline/index.ts";
import { RUNNERS, createRunner } from "../runners/index.ts";
import { checkRunnerName, loadEvalTasks } from "./eval.ts";
import { runAnswers } from "./eval-run.ts";
import { formatScores, scoreRunFiles, scoredKs } from "./pass-at-k.ts";
import { checkPromptTemplate } from "./prompt.ts";
import { homedir } from "node:os";

const text = z.string().min(1);

export const SftEvalOptions = z.object({
  tasks: text.describe("tasks: {task_id, code, code_file, reference_tests} rows (.jsonl/.json/.parquet or a hub dataset)"),
  split: text.default("test").describe("hub split of --tasks (default test)"),
  model: text.describe("the model that writes the tests"),
  passk: z.coerce.number().int().min(1).default(3).describe("samples per task (default 3)"),
  temperature: z.coerce.number().min(0).max(2).default(0.8).describe("sampling temperature (default 0.8)"),
  maxTokens: z.coerce.number().int().positive().default(2048).describe("max_tokens per answer (default 2048)"),
  promptTemplate: text.optional().describe("prompt template file (default batchline's, the one the SFT rows use)"),
  runner: text.default("local").describe(`where tests run: ${Object.keys(RUNNERS).join(", ")} (default local)`),
  python: text.optional().describe("interpreter with pytest (default python3)"),
  runTimeout: z.coerce.number().positive().default(60).describe("seconds per test file (default 60)"),
  workers: z.coerce.number().int().min(1).default(2).describe("test files run at once (default 2)"),
  k: z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()]))]).optional().describe("another k to score besides 1 and 3 (comma-separated)"),
  fromSubmit: text.optional().describe("replay backend: the recorded output to answer from"),
});
export type SftEvalOptions = z.infer<typeof SftEvalOptions>;

type Ctx = StepContext<SftEvalOptions>;

function ksOf(o: SftEvalOptions): number[] {
  const raw = o.k === undefined ? [] : (Array.isArray(o.k) ? o.k : [o.k]).flatMap((v) => String(v).split(","));
  return scoredKs(
    raw.map((v) => {
      const n = Number(v.trim());
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--k ${v}: expected a whole number >= 1`);
      return n;
    }),
  );
}

function templateOf(o: SftEvalOptions): string | undefined {
  return o.promptTemplate === undefined ? undefined : checkPromptTemplate(readFileSync(o.promptTemplate, "utf8"), o.promptTemplate);
}

function tasksSourceOf(ctx: { options: SftEvalOptions; env: Record<string, string | undefined> }) {
  return { tasks: ctx.options.tasks, split: ctx.options.split, hub: hubOptionsFromEnv(ctx.env, homedir()) };
}

async function* taskRecords(ctx: Ctx): AsyncGenerator<JsonlRecord> {
  const source = tasksSourceOf(ctx);
  for await (const rec of loadDataset(source.tasks, { ...source.hub, split: source.split, schema: SftEvalTask, schemaName: "sft eval task", idField: "task_id" })) {
    yield { line: rec.at.line ?? rec.at.row ?? 0, text: "", offset: 0, value: rec.value };
  }
}

async function* runStep(records: AsyncIterable<JsonlRecord>, ctx: Ctx): AsyncGenerator<EvalResult> {
  const tasks = await loadEvalTasks(tasksSourceOf(ctx));
  const log = (l: string) => ctx.log(`run: ${l}`);
  const runner = await createRunner(ctx.options.runner as keyof typeof RUNNERS, { ...(ctx.options.python ? { python: ctx.options.python } : {}), log });
  try {
    yield* runAnswers(records, ctx.file("output.jsonl"), { tasks, runner, timeoutMs: ctx.options.runTimeout * 1000, workers: ctx.options.workers, model: ctx.options.model, log });
  } finally {
    await runner.close?.();
  }
}

/** score: runs.jsonl -> score.json (pass@k per model), the table in the log. */
const score: Step<SftEvalOptions> = {
  kind: "stage",
  name: "score",
  in: ["runs.jsonl"],
  out: ["score.json"],
  hashed: (ctx) => ({ ks: ksOf(ctx.options) }),
  async run(ctx) {
    const ks = ksOf(ctx.options);
    const scores = await scoreRunFiles([ctx.file("runs.jsonl")], ks);
    await writeFileAtomic(ctx.file("score.json"), `${JSON.stringify({ ks, models: scores }, null, 2)}\n`);
    for (const line of formatScores(scores, ks).trimEnd().split("\n")) ctx.log(`score: ${line}`);
    const summary: Record<string, unknown> = {};
    for (const s of scores) summary[s.model] = Object.fromEntries(ks.map((k) => [`pass@${k}`, s.passAt[k]]));
    return { produced: scores.length, summary };
  },
};

export default definePipeline({
  name: "sft-eval",
  description: "pass@k of a pytest-writing model: k samples per task through any backend, each test file run with pytest in a sandbox, unbiased pass@1/pass@3",
  options: SftEvalOptions,
  volatile: ["workers"],
  async preflight({ options }) {
    checkRunnerName(options.runner);
    if (options.promptTemplate !== undefined) {
      try {
        templateOf(options);
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`--prompt-template ${options.promptTemplate}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    ksOf(options);
  },
  steps: [
    stage<SftEvalOptions>("gen", "sft/eval-gen", {
      source: (ctx) => ({ label: ctx.options.tasks, records: taskRecords(ctx) }),
      out: "requests.jsonl",
      count: "requests",
      options: (ctx) => {
        const { model, passk, temperature, maxTokens } = ctx.options;
        const template = templateOf(ctx.options);
        return { model, passk, temperature, maxTokens, ...(template !== undefined ? { template } : {}) };
      },
    }),
    submit("submit", { in: "requests.jsonl", out: "output.jsonl", replay: "fromSubmit" }),
    evaluate<SftEvalOptions>("run", { in: "output.jsonl", out: "runs.jsonl", evaluate: runStep, hashed: (ctx) => ({ runner: ctx.options.runner, timeout: ctx.options.runTimeout, python: ctx.options.python ?? null, tasks: ctx.options.tasks }) }),
    score,
  ],
  example: "batchline pipeline sft-eval --workdir runs/stage_b --tasks tasks.jsonl --model my-org/testwriter-stage-b --backend openai-compatible --base-url http://127.0.0.1:8000/v1 --passk 3",
});
