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
 * The command table: each command's name(s) and how to register it. A command's module (and what
 * it imports: zod, the SDKs, parquet, ...) is loaded only when argv names that command, so
 * `batchline slice` does not pay for `submit`. `--help`, a bare `batchline` and an unknown
 * command load every module, so the listing shows every command with its description.
 * Two-word names (`agentless structure`) are routed into one word by routeSubcommands first.
 */
const COMMANDS: { names: readonly string[]; register: (cli: CAC) => Promise<void> }[] = [
  { names: ["validate"], register: async (cli) => (await import("./commands/validate.ts")).registerValidate(cli) },
  { names: ["slice"], register: async (cli) => (await import("./commands/slice.ts")).registerSlice(cli) },
  { names: ["demux"], register: async (cli) => (await import("./commands/demux.ts")).registerDemux(cli) },
  { names: ["merge"], register: async (cli) => (await import("./commands/merge.ts")).registerMerge(cli) },
  { names: ["retry"], register: async (cli) => (await import("./commands/retry.ts")).registerRetry(cli) },
  { names: ["schema"], register: async (cli) => (await import("./commands/schema.ts")).registerSchema(cli) },
  { names: ["plan"], register: async (cli) => (await import("./commands/plan.ts")).registerPlan(cli, process.env) },
  { names: ["cache"], register: async (cli) => (await import("./commands/cache.ts")).registerCache(cli, process.env) },
  { names: ["serve"], register: async (cli) => (await import("./commands/serve.ts")).registerServe(cli, { upstreamKey: process.env.UPSTREAM_API_KEY, serveKey: process.env.BATCHLINE_SERVE_API_KEY, dataHome: process.env.XDG_DATA_HOME }) },
  {
    names: ["submit", "batch"],
    register: async (cli) =>
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
  },
  { names: ["agentless structure"], register: async (cli) => (await import("./commands/agentless-structure.ts")).registerAgentlessStructure(cli) },
  { names: ["agentless vote"], register: async (cli) => (await import("./commands/agentless-vote.ts")).registerAgentlessVote(cli) },
  { names: ["agentless"], register: async (cli) => (await import("./commands/agentless.ts")).registerAgentless(cli, process.env) },
  {
    names: ["commit-testgen extract", "commit-testgen gen", "commit-testgen proc", "commit-testgen run"],
    register: async (cli) => (await import("./commands/commit-testgen.ts")).registerCommitTestgen(cli, process.env),
  },
  { names: ["sft kodcode", "sft testgeneval", "sft trl-config"], register: async (cli) => (await import("./commands/sft.ts")).registerSft(cli, process.env) },
  { names: ["sft eval gen", "sft eval run", "sft eval score"], register: async (cli) => (await import("./commands/sft-eval.ts")).registerSftEval(cli, process.env) },
  { names: ["pipeline"], register: async (cli) => (await import("./commands/pipeline.ts")).registerPipeline(cli, process.env) },
  { names: ["demo"], register: async (cli) => (await import("./commands/demo.ts")).registerDemo(cli) },
  { names: ["coverage"], register: async (cli) => (await import("./commands/coverage.ts")).registerCoverage(cli) },
  { names: ["view"], register: async (cli) => (await import("./commands/view.ts")).registerView(cli, process.env) },
  {
    names: stagePipelines().filter((p) => !OWN_COMMAND_PIPELINES.includes(p)),
    register: async (cli) => (await import("./commands/stage.ts")).registerStageCommands(cli, OWN_COMMAND_PIPELINES),
  },
];

/** Every command name, two-word ones included (what routeSubcommands joins). */
const COMMAND_NAMES: readonly string[] = COMMANDS.flatMap((c) => c.names);

/** The cac instance with the command `name` registered, or every command when `name` is undefined. */
async function buildCli(name?: string) {
  const cli = cac("batchline");
  for (const entry of COMMANDS) if (name === undefined || entry.names.includes(name)) await entry.register(cli);
  cli.help();
  cli.version(packageVersion());
  return cli;
}

/** The command argv names (its first word, after routing), when the table has it. */
function commandOf(argv: readonly string[]): string | undefined {
  return argv[0] !== undefined && COMMAND_NAMES.includes(argv[0]) ? argv[0] : undefined;
}

/** True when argv only asks for the version: no command word, so no command module is needed. */
function onlyVersion(argv: readonly string[]): boolean {
  return argv.length > 0 && argv.every((a) => a === "--version" || a === "-v");
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
    argv = routeSubcommands(argv, COMMAND_NAMES.filter((n) => n.includes(" ")));
    if (await printOwnHelp(argv)) return 0;
    const parse = async (name: string | undefined) => {
      const cli = await buildCli(name);
      // cac's parser reads a bare `-` as a flag; hide it and put it back after parsing.
      cli.parse(["node", "batchline", ...argv.map((a) => (a === "-" ? STDIO_TOKEN : a))], { run: false });
      cli.args = cli.args.map(restoreDash);
      return cli;
    };
    const named = commandOf(argv);
    let cli = await parse(named ?? (onlyVersion(argv) ? "" : undefined));
    // Not matched after all: load them all, so that the error (or help) is the same as with every command.
    if (named !== undefined && !cli.matchedCommand && !cli.options.help) cli = await parse(undefined);
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
