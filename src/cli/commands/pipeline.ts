/**
 * `batchline pipeline <name> [options]`: argv -> options -> `runPipeline` (src/pipeline). The
 * options, their help and their checks come from the pipeline's definition; `--list` names the
 * pipelines. The report goes to stderr; a step that produced nothing exits 1 unless --allow-empty.
 */
import type { CAC } from "cac";
import { BatchlineError, UsageError } from "../../core/errors.ts";
import { formatPipelineReport, loadPipeline, pipelineHelp, pipelineList, pipelineNames, pipelineSchema, runPipeline } from "../../pipeline/index.ts";
import { acceptOptions } from "../known-options.ts";
import { createPipelineRenderer } from "../pipeline-board.ts";
import { progressIntervalMs } from "../status-board.ts";

/** Options of the command itself, not of the pipeline. */
const OWN = new Set(["quiet", "q", "list", "help", "h", "verbose", "v", "progressInterval"]);

/** Prints `pipeline --list` or `pipeline <name> --help` when argv asks for it; false otherwise. */
export async function printPipelineHelp(argv: readonly string[]): Promise<boolean> {
  if (argv[0] !== "pipeline") return false;
  const name = argv.slice(1).find((a) => !a.startsWith("-"));
  if (argv.includes("--list") || (name === undefined && (argv.includes("--help") || argv.includes("-h")))) {
    const definitions = await Promise.all(pipelineNames().map((n) => loadPipeline(n)));
    process.stdout.write((argv.includes("--list") ? "" : "batchline pipeline <name> [options] (batchline pipeline <name> --help)\n\nPipelines:\n") + pipelineList(definitions));
    return true;
  }
  if (name !== undefined && (argv.includes("--help") || argv.includes("-h"))) {
    process.stdout.write(pipelineHelp(await loadPipeline(name)));
    return true;
  }
  return false;
}

/** The options pipeline `name` takes (its definition's and the engine's); an unknown name is refused first, naming the pipelines. */
async function optionsOf(name: string | undefined): Promise<string[]> {
  if (name === undefined) return [];
  const keys = Object.keys(pipelineSchema(await loadPipeline(name)).shape);
  // --no-cache (the request cache off) arrives as cache: false
  return keys.includes("cache") ? [...keys, "noCache"] : keys;
}

export function registerPipeline(cli: CAC, env: NodeJS.ProcessEnv): void {
  const command = cli
    .command("pipeline [name]", `Run a whole pipeline with checkpoints, resume and retry rounds (${pipelineNames().join(", ")}; --list, <name> --help)`)
    .option("--list", "List the pipelines")
    .option("-q, --quiet", "Only the report at the end")
    .option("-v, --verbose", "Submit steps: per-batch lines and every routine message")
    .option("--progress-interval <s>", "When stderr is not a terminal: seconds between status lines of a running step (default 30; also on each state change)");
  acceptOptions(command, (args) => optionsOf(args[0]))
    .action(async (name: string | undefined, options: Record<string, unknown>) => {
      if (!name) throw new UsageError(`pipeline needs a name: ${pipelineNames().join(", ")} (batchline pipeline --list)`);
      const definition = await loadPipeline(name);
      // A flag given twice counts once, the last time (as for every command).
      const raw = Object.fromEntries(Object.entries(options).filter(([k]) => !OWN.has(k)).map(([k, v]) => [k, Array.isArray(v) ? v[v.length - 1] : v]));
      const quiet = options.quiet === true;
      const intervalMs = progressIntervalMs(options.progressInterval);
      const renderer = quiet ? undefined : await createPipelineRenderer({ verbose: options.verbose === true, intervalMs });
      let report;
      try {
        report = await runPipeline(definition, raw, { env, ...(renderer ? { onEvent: renderer.onEvent } : {}) });
      } finally {
        renderer?.close();
      }
      process.stderr.write(formatPipelineReport(report).join("\n") + "\n");
      if (report.error) throw new BatchlineError(report.error);
    });
}
