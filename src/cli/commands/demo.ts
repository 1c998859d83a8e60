/**
 * `batchline demo [--workdir DIR]`: the agentless bugfixer pipeline end to end on the bundled
 * fixtures, offline, through `runPipeline` like any run: two local `batchline serve --replay`
 * servers (one per step's recording) answer the openai-batch submitter over HTTP through the real
 * `openai` SDK. The answers are recorded fixtures, not a live model; the printed command runs the
 * same pipeline on a real endpoint.
 */
import type { CAC } from "cac";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchlineError } from "../../core/errors.ts";
import { ReplayIndex } from "../../internal/replay-index.ts";
import { formatPipelineReport, loadPipeline, runPipeline } from "../../pipeline/index.ts";
import { startBatchServer } from "../../server/batch-server.ts";
import { replayExecutor } from "../../server/executors.ts";
import { stringOption } from "../options.ts";

/** The package's fixtures/agentless, found from this module in src/ or dist/src/. */
function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "fixtures", "agentless");
    if (existsSync(join(candidate, "dataset.jsonl"))) return candidate;
    dir = dirname(dir);
  }
  throw new BatchlineError("cannot find the bundled fixtures/agentless (is this a full checkout or package?)");
}

async function demo(options: { workdir?: string; quiet?: boolean }): Promise<void> {
  const F = fixturesDir();
  const workdir = stringOption(options.workdir) ?? "batchline-demo";
  const indexes = [await ReplayIndex.open(join(F, "bugfixer-step1-output.jsonl")), await ReplayIndex.open(join(F, "bugfixer-step2-output.jsonl"))];
  const servers = await Promise.all(indexes.map((index) => startBatchServer({ executor: replayExecutor(index) })));
  const log = options.quiet ? () => {} : (line: string) => process.stderr.write(`demo: ${line}\n`);
  try {
    log(`recorded answers served as an OpenAI Batch API at ${servers[0]!.baseURL} (step 1) and ${servers[1]!.baseURL} (step 2)`);
    const definition = await loadPipeline("agentless-bugfixer");
    const options = { workdir, backend: "openai-batch", dataset: join(F, "dataset.jsonl"), repostructureDir: join(F, "repostructures"), passk: 2, modelName: "deepseek-ai/DeepSeek-V3.2", numWorkers: 2, rounds: 1, pollInterval: 0.05, maxPollInterval: 0.2 };
    const report = await runPipeline(definition, options, {
      env: { OPENAI_API_KEY: "demo" },
      log,
      // Each step's recording has its own server; inside retry rounds too.
      stepOptions: { submit_step1: { baseUrl: servers[0]!.baseURL }, submit_step2: { baseUrl: servers[1]!.baseURL } },
    });
    process.stderr.write(formatPipelineReport(report).join("\n") + "\n");
    process.stderr.write(
      [
        `demo: patches in ${join(workdir, "save")}/preds_<pass>.jsonl and output_<pass>_processed.jsonl; failures in failures.jsonl; report in ${join(workdir, "report.json")}`,
        "demo: these answers are recorded fixtures. To run the same pipeline against a real endpoint:",
        `  OPENAI_API_KEY=sk-... npx batchline pipeline agentless-bugfixer --backend openai-batch --dataset ${join(F, "dataset.jsonl")} --repostructure_dir ${join(F, "repostructures")} --model_name gpt-4.1-mini --passk 2 --workdir my-run`,
        "",
      ].join("\n"),
    );
    if (report.error) throw new BatchlineError(report.error);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(indexes.map((i) => i.close()));
  }
}

export function registerDemo(cli: CAC): void {
  cli
    .command("demo", "Run the agentless bugfixer pipeline offline on the bundled fixtures (recorded answers via a local Batch API)")
    .option("--workdir <dir>", "Where the run's files go (default ./batchline-demo)")
    .option("-q, --quiet", "Only the report")
    .action((options: { workdir?: string; quiet?: boolean }) => demo(options));
}
