#!/usr/bin/env node
/**
 * The batchline command line. This is the only module that reads argv or the environment and
 * decides the exit code: expected failures (`BatchlineError`, bad flags) print
 * `batchline: <message>` and exit 1; anything else is a bug and prints its stack.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cac } from "cac";
import { BatchlineError } from "../core/errors.ts";
import { agentlessStageHelp, registerAgentless } from "./commands/agentless.ts";
import { AGENTLESS_STRUCTURE_COMMAND, registerAgentlessStructure } from "./commands/agentless-structure.ts";
import { AGENTLESS_VOTE_COMMAND, registerAgentlessVote } from "./commands/agentless-vote.ts";
import { COMMIT_TESTGEN_COMMANDS, registerCommitTestgen } from "./commands/commit-testgen.ts";
import { registerCost } from "./commands/cost.ts";
import { registerCoverage } from "./commands/coverage.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerDemux } from "./commands/demux.ts";
import { registerMerge } from "./commands/merge.ts";
import { registerRetry } from "./commands/retry.ts";
import { printPipelineHelp, registerPipeline } from "./commands/pipeline.ts";
import { registerPlan } from "./commands/plan.ts";
import { registerCache } from "./commands/cache.ts";
import { registerSchema } from "./commands/schema.ts";
import { registerServe } from "./commands/serve.ts";
import { registerSubmit } from "./commands/submit.ts";
import { registerSlice } from "./commands/slice.ts";
import { SFT_COMMANDS, registerSft } from "./commands/sft.ts";
import { SFT_EVAL_COMMANDS, registerSftEval } from "./commands/sft-eval.ts";
import { printStageHelp, registerStageCommands } from "./commands/stage.ts";
import { registerValidate } from "./commands/validate.ts";
import { registerView } from "./commands/view.ts";
import { knownOptions, refuseMissingValues, refuseUnknownOptions } from "./known-options.ts";
import { normalizeOptions } from "./options.ts";
import { shutdown } from "./shutdown.ts";
import { describeSystemError } from "./system-error.ts";
import { routeSubcommands } from "./subcommands.ts";

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "batchline" && pkg.version) return pkg.version;
    } catch {
      // not here; look one directory up
    }
    dir = dirname(dir);
  }
  return "0.0.0";
}

/** Pipelines whose stages run through a command of their own rather than the generic stage runner. */
const OWN_COMMAND_PIPELINES = ["agentless", "commit-testgen", "sft"];

function buildCli() {
  const cli = cac("batchline");
  registerValidate(cli);
  registerSlice(cli);
  registerDemux(cli);
  registerMerge(cli);
  registerRetry(cli);
  registerSchema(cli);
  registerPlan(cli, process.env);
  registerCache(cli, process.env);
  registerCost(cli);
  registerServe(cli, { upstreamKey: process.env.UPSTREAM_API_KEY, serveKey: process.env.BATCHLINE_SERVE_API_KEY, dataHome: process.env.XDG_DATA_HOME });
  registerSubmit(cli, {
    OPENAI_API_KEY: process.env.OPENAI_API_KEY,
    OPENAI_BASE_URL: process.env.OPENAI_BASE_URL,
    GEMINI_API_KEY: process.env.GEMINI_API_KEY,
    GOOGLE_API_KEY: process.env.GOOGLE_API_KEY,
    GEMINI_BASE_URL: process.env.GEMINI_BASE_URL,
    ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY,
    ANTHROPIC_BASE_URL: process.env.ANTHROPIC_BASE_URL,
    ANTHROPIC_VERSION: process.env.ANTHROPIC_VERSION,
    BATCHLINE_CACHE: process.env.BATCHLINE_CACHE,
    XDG_CACHE_HOME: process.env.XDG_CACHE_HOME,
    HOME: process.env.HOME,
  });
  registerAgentlessStructure(cli);
  registerAgentlessVote(cli);
  registerAgentless(cli, process.env);
  registerCommitTestgen(cli, process.env);
  registerSft(cli, process.env);
  registerSftEval(cli, process.env);
  registerPipeline(cli, process.env);
  registerDemo(cli);
  registerCoverage(cli);
  registerView(cli, process.env);
  registerStageCommands(cli, OWN_COMMAND_PIPELINES);
  cli.help();
  cli.version(packageVersion(), "-V, --version"); // -v is --verbose on submit and pipeline
  return cli;
}

const STDIO_TOKEN = "\u0000-";

function restoreDash<T>(value: T): T {
  if (value === STDIO_TOKEN) return "-" as T;
  if (Array.isArray(value)) return value.map(restoreDash) as T;
  return value;
}

function isCacError(err: unknown): err is Error {
  return err instanceof Error && err.name === "CACError";
}

/** Runs the CLI on `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    argv = routeSubcommands(argv, [AGENTLESS_STRUCTURE_COMMAND, AGENTLESS_VOTE_COMMAND, ...COMMIT_TESTGEN_COMMANDS, ...SFT_COMMANDS, ...SFT_EVAL_COMMANDS]);
    if (argv.includes("--help") || argv.includes("-h")) {
      const agentless = agentlessStageHelp(argv);
      if (agentless !== undefined) {
        process.stdout.write(agentless);
        return 0;
      }
      if (await printStageHelp(argv, OWN_COMMAND_PIPELINES)) return 0;
    }
    if (await printPipelineHelp(argv)) return 0;
    const cli = buildCli();
    // cac's parser reads a bare `-` as a flag; hide it and put it back after parsing.
    cli.parse(["node", "batchline", ...argv.map((a) => (a === "-" ? STDIO_TOKEN : a))], { run: false });
    cli.args = cli.args.map(restoreDash);
    if (cli.options.help || cli.options.version) return 0;
    if (!cli.matchedCommand) {
      if (cli.args.length > 0) throw new BatchlineError(`unknown command ${cli.args[0]} (see batchline --help)`);
      cli.outputHelp();
      return 0;
    }
    refuseUnknownOptions(argv, await knownOptions(cli.matchedCommand, cli.globalCommand, cli.args, normalizeOptions(cli.options, argv)));
    refuseMissingValues(argv, cli.matchedCommand);
    // Checked above under every spelling; cac's own check knows only its spelling (`step1-file`).
    cli.matchedCommand.config.allowUnknownOptions = true;
    cli.options = Object.fromEntries(Object.entries(normalizeOptions(cli.options, argv)).map(([k, v]) => [k, restoreDash(v)])) as typeof cli.options;
    await cli.runMatchedCommand();
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EPIPE") return 0; // the reader went away (`| head`)
    if (err instanceof BatchlineError || isCacError(err)) {
      process.stderr.write(`batchline: ${(err as Error).message}\n`);
      return 1;
    }
    const system = describeSystemError(err);
    if (system !== undefined) {
      process.stderr.write(`batchline: ${system}\n`);
      return 1;
    }
    throw err;
  }
}

const commandName = process.argv.slice(2).find((a) => !a.startsWith("-")) ?? "batchline";
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void shutdown(signal, commandName));
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
});

process.exitCode = await main(process.argv.slice(2));
