#!/usr/bin/env node
/**
 * The batchline command line. This is the only module that reads argv or the environment and
 * decides the exit code: expected failures (`BatchlineError`, bad flags) print
 * `batchline: <message>` and exit 1; anything else is a bug and prints its stack.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CAC, cac } from "cac";
import { BatchlineError } from "../core/errors.ts";
import { stagePipelines } from "../../stages/index.ts";
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

/**
 * The command table: the first word(s) of argv each module's commands start with, and how to
 * register them. A command's module (and what it imports: zod, the SDKs, parquet, ...) is loaded
 * only when argv starts with its word, so `batchline slice` does not pay for `submit`. `--help`,
 * a bare `batchline` and an unknown word load every module, so the listing shows every command
 * with its description. `register` returns the module's names of two or three words
 * (`agentless structure`, `sft eval run`), which routeSubcommands joins into one.
 */
const NONE: readonly string[] = [];
const COMMANDS: { words: readonly string[]; register: (cli: CAC) => Promise<readonly string[]> }[] = [
  { words: ["validate"], register: async (cli) => ((await import("./commands/validate.ts")).registerValidate(cli), NONE) },
  { words: ["slice"], register: async (cli) => ((await import("./commands/slice.ts")).registerSlice(cli), NONE) },
  { words: ["demux"], register: async (cli) => ((await import("./commands/demux.ts")).registerDemux(cli), NONE) },
  { words: ["merge"], register: async (cli) => ((await import("./commands/merge.ts")).registerMerge(cli), NONE) },
  { words: ["retry"], register: async (cli) => ((await import("./commands/retry.ts")).registerRetry(cli), NONE) },
  { words: ["schema"], register: async (cli) => ((await import("./commands/schema.ts")).registerSchema(cli), NONE) },
  { words: ["plan"], register: async (cli) => ((await import("./commands/plan.ts")).registerPlan(cli, process.env), NONE) },
  { words: ["cost"], register: async (cli) => ((await import("./commands/cost.ts")).registerCost(cli), NONE) },
  { words: ["cache"], register: async (cli) => ((await import("./commands/cache.ts")).registerCache(cli, process.env), NONE) },
  { words: ["serve"], register: async (cli) => ((await import("./commands/serve.ts")).registerServe(cli, { upstreamKey: process.env.UPSTREAM_API_KEY, serveKey: process.env.BATCHLINE_SERVE_API_KEY, dataHome: process.env.XDG_DATA_HOME }), NONE) },
  {
    words: ["submit", "batch"],
    register: async (cli) => (
      (await import("./commands/submit.ts")).registerSubmit(cli, {
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
      }),
      NONE
    ),
  },
  {
    words: ["agentless"],
    register: async (cli) => {
      const m = await import("./commands/agentless-structure.ts");
      m.registerAgentlessStructure(cli);
      return [m.AGENTLESS_STRUCTURE_COMMAND];
    },
  },
  {
    words: ["agentless"],
    register: async (cli) => {
      const m = await import("./commands/agentless-vote.ts");
      m.registerAgentlessVote(cli);
      return [m.AGENTLESS_VOTE_COMMAND];
    },
  },
  { words: ["agentless"], register: async (cli) => ((await import("./commands/agentless.ts")).registerAgentless(cli, process.env), NONE) },
  {
    words: ["commit-testgen"],
    register: async (cli) => {
      const m = await import("./commands/commit-testgen.ts");
      m.registerCommitTestgen(cli, process.env);
      return m.COMMIT_TESTGEN_COMMANDS;
    },
  },
  {
    words: ["sft"],
    register: async (cli) => {
      const m = await import("./commands/sft.ts");
      m.registerSft(cli, process.env);
      return m.SFT_COMMANDS;
    },
  },
  {
    words: ["sft"],
    register: async (cli) => {
      const m = await import("./commands/sft-eval.ts");
      m.registerSftEval(cli, process.env);
      return m.SFT_EVAL_COMMANDS;
    },
  },
  { words: ["pipeline"], register: async (cli) => ((await import("./commands/pipeline.ts")).registerPipeline(cli, process.env), NONE) },
  { words: ["demo"], register: async (cli) => ((await import("./commands/demo.ts")).registerDemo(cli), NONE) },
  { words: ["coverage"], register: async (cli) => ((await import("./commands/coverage.ts")).registerCoverage(cli), NONE) },
  { words: ["view"], register: async (cli) => ((await import("./commands/view.ts")).registerView(cli, process.env), NONE) },
  {
    words: stagePipelines().filter((p) => !OWN_COMMAND_PIPELINES.includes(p)),
    register: async (cli) => ((await import("./commands/stage.ts")).registerStageCommands(cli, OWN_COMMAND_PIPELINES), NONE),
  },
];

/**
 * The cac instance with the commands whose word argv starts with (every command when `word` is
 * undefined, none when it is ""), and the multi-word names they have.
 */
async function buildCli(word?: string): Promise<{ cli: CAC; routes: string[] }> {
  const cli = cac("batchline");
  const routes: string[] = [];
  for (const entry of COMMANDS) if (word === undefined || entry.words.includes(word)) routes.push(...(await entry.register(cli)));
  cli.help();
  cli.version(packageVersion(), "-V, --version"); // -v is --verbose on submit and pipeline
  return { cli, routes };
}

/** The first word of argv when the table has it. */
function commandWord(argv: readonly string[]): string | undefined {
  return argv[0] !== undefined && COMMANDS.some((c) => c.words.includes(argv[0]!)) ? argv[0] : undefined;
}

/** True when argv only asks for the version: no command word, so no command module is needed. */
function onlyVersion(argv: readonly string[]): boolean {
  return argv.length > 0 && argv.every((a) => a === "--version" || a === "-V");
}

/** Help that a command prints before cac parses argv (stages, agentless stages, pipelines); true when printed. */
async function printOwnHelp(argv: string[]): Promise<boolean> {
  const help = argv.includes("--help") || argv.includes("-h");
  if (help && argv[0] === "agentless") {
    const text = (await import("./commands/agentless.ts")).agentlessStageHelp(argv);
    if (text !== undefined) {
      process.stdout.write(text);
      return true;
    }
  }
  if (help && argv[0] !== undefined && stagePipelines().includes(argv[0]) && !OWN_COMMAND_PIPELINES.includes(argv[0])) {
    if (await (await import("./commands/stage.ts")).printStageHelp(argv, OWN_COMMAND_PIPELINES)) return true;
  }
  if (argv[0] === "pipeline") return (await import("./commands/pipeline.ts")).printPipelineHelp(argv);
  return false;
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
    const parse = async (word: string | undefined) => {
      const { cli, routes } = await buildCli(word);
      argv = routeSubcommands(argv, routes);
      return cli;
    };
    const run = (cli: CAC) => {
      // cac's parser reads a bare `-` as a flag; hide it and put it back after parsing.
      cli.parse(["node", "batchline", ...argv.map((a) => (a === "-" ? STDIO_TOKEN : a))], { run: false });
      cli.args = cli.args.map(restoreDash);
      return cli;
    };
    const word = commandWord(argv);
    let cli = await parse(word ?? (onlyVersion(argv) ? "" : undefined));
    if (await printOwnHelp(argv)) return 0;
    run(cli);
    // Not matched after all: load them all, so that the error (or help) is the same as with every command.
    if (word !== undefined && !cli.matchedCommand && !cli.options.help) cli = run(await parse(undefined));
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
