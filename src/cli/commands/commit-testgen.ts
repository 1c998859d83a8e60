/**
 * `batchline commit-testgen extract|gen|proc` (ISO-Bench's commit_analyzer.py +
 * generate_test_generators.py as separate steps): argv -> options -> one library call each.
 */
import type { CAC } from "cac";
import { UsageError } from "../../core/errors.ts";
import { commitsFromCsv, extractCommits } from "../../commit-testgen/extract.ts";
import { type SettingsEnv, type SettingsFlags, resolveSettings } from "../../commit-testgen/settings.ts";
import { genStep, procStep, repairStep } from "../../commit-testgen/steps.ts";
import { stringOption } from "../options.ts";
import { SkipLog } from "./common.ts";

export const COMMIT_TESTGEN_COMMANDS = ["commit-testgen extract", "commit-testgen gen", "commit-testgen proc"] as const;

const DEFAULT_EXTRACTIONS_DIR = "./commit_extractions";
const DEFAULT_OUT_DIR = "./generated_test_generators";

interface CommonFlags extends SettingsFlags {
  extractionsDir?: string;
  onlyHash?: string;
  limit?: string | number;
  output?: string;
  quiet?: boolean;
}

function say(quiet: boolean | undefined, line: string): void {
  if (!quiet) process.stderr.write(`${line}\n`);
}

function limitOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--limit ${String(value)}: expected a whole number (0 = all)`);
  return n;
}

function selection(flags: CommonFlags): { onlyHash?: string; limit?: number } {
  const onlyHash = stringOption(flags.onlyHash);
  const limit = limitOf(flags.limit);
  return { ...(onlyHash ? { onlyHash } : {}), ...(limit ? { limit } : {}) };
}

function settingsFlags(flags: CommonFlags): SettingsFlags {
  const out: SettingsFlags = {};
  for (const key of ["provider", "model", "temperature", "maxTokens", "maxContextTokens", "promptTemplate"] as const) {
    const v = stringOption(flags[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

async function extract(flags: { repo?: string; commits?: string; csv?: string; hashColumn?: string; output?: string; quiet?: boolean }): Promise<void> {
  const repo = stringOption(flags.repo);
  if (!repo) throw new UsageError("commit-testgen extract needs --repo <git checkout>");
  const list = stringOption(flags.commits);
  const csv = stringOption(flags.csv);
  if ((list === undefined) === (csv === undefined)) throw new UsageError("commit-testgen extract needs exactly one of --commits sha,sha and --csv <file>");
  if (flags.hashColumn !== undefined && csv === undefined) throw new UsageError("--hash-column only applies with --csv");
  const commits = list !== undefined
    ? list.split(",").map((c, i) => ({ commit: c.trim(), from: `--commits item ${i + 1}` }))
    : await commitsFromCsv(csv!, stringOption(flags.hashColumn) ?? "commit_hash");
  const outDir = stringOption(flags.output) ?? DEFAULT_EXTRACTIONS_DIR;
  if (outDir === "-") throw new UsageError("commit-testgen extract writes one JSON file per commit: -o takes a directory");
  const paths = await extractCommits({ repo, commits, outDir, ...(flags.quiet ? {} : { log: (l: string) => process.stderr.write(`extract: ${l}\n`) }) });
  say(flags.quiet, `commit-testgen extract: ${paths.length} commit(s) -> ${outDir}`);
}

async function gen(flags: CommonFlags & { failures?: string }, env: SettingsEnv): Promise<void> {
  const settings = await resolveSettings(settingsFlags(flags), env);
  const output = stringOption(flags.output) ?? "-";
  const failures = stringOption(flags.failures);
  const summary = await genStep({
    extractionsDir: stringOption(flags.extractionsDir) ?? DEFAULT_EXTRACTIONS_DIR,
    output,
    ...(failures ? { failures } : {}),
    ...selection(flags),
    settings,
    stdout: process.stdout,
  });
  say(
    flags.quiet,
    `commit-testgen gen: ${summary.requests} request(s) for ${settings.model} (${settings.provider}, template: ${settings.templateSource})` +
      `${summary.trimmed ? `, ${summary.trimmed} trimmed to the context` : ""}, ${summary.failures} failure(s)${summary.failures && summary.failuresPath ? ` -> ${summary.failuresPath}` : ""}`,
  );
}

async function proc(flags: CommonFlags & { input?: string; outDir?: string; python?: string; repair?: boolean; skipBad?: boolean }, env: SettingsEnv): Promise<void> {
  const input = stringOption(flags.input);
  const outDir = stringOption(flags.outDir) ?? DEFAULT_OUT_DIR;
  const extractionsDir = stringOption(flags.extractionsDir) ?? DEFAULT_EXTRACTIONS_DIR;
  const output = stringOption(flags.output);
  if (!input && !flags.repair) throw new UsageError("commit-testgen proc needs -i <batch output.jsonl> (or --repair alone, to write follow-ups for the out dir as it is)");
  if (input === "-") throw new UsageError("commit-testgen proc reads a file: -i takes a path, not -");
  if (flags.repair && !output) throw new UsageError("commit-testgen proc --repair needs -o <repair_requests.jsonl> (or -)");
  if (!flags.repair && output) throw new UsageError("-o only applies with --repair (scripts go to --out-dir)");
  const settings = flags.repair ? await resolveSettings(settingsFlags(flags), env) : undefined;
  if (input) {
    const skipped = new SkipLog();
    const python = stringOption(flags.python);
    const summary = await procStep({
      input,
      extractionsDir,
      outDir,
      ...(python ? { python } : {}),
      ...(flags.skipBad ? { onSkip: (at: { file: string; line?: number }, message: string) => skipped.report(at, message) } : {}),
    });
    const reasons = Object.entries(summary.byReason).map(([r, n]) => `${r} ${n}`).join(", ");
    say(flags.quiet, `commit-testgen proc: ${summary.scripts} script(s), ${summary.failures} failure(s)${reasons ? ` (${reasons})` : ""} -> ${outDir}`);
    if (summary.longerNames.length > 0) say(flags.quiet, `commit-testgen proc: ${summary.longerNames.length} script(s) named with a longer hash prefix (8 characters were taken): ${summary.longerNames.join(", ")}`);
    skipped.summary("commit-testgen proc");
  }
  if (settings) {
    const summary = await repairStep({ extractionsDir, outDir, output: output!, ...selection(flags), settings, stdout: process.stdout });
    const kinds = Object.entries(summary.byKind).map(([k, n]) => `${k} ${n}`).join(", ");
    say(flags.quiet, `commit-testgen proc --repair: ${summary.requests} follow-up request(s)${kinds ? ` (${kinds})` : ""}, ${summary.done} commit(s) done -> ${output}`);
  }
}

function settingsOptions<T extends ReturnType<CAC["command"]>>(command: T): T {
  return command
    .option("--provider <name>", "openai or anthropic (default: LLM_PROVIDER, else by which API key is set)")
    .option("--model <name>", "Model (default: OPENAI_MODEL / ANTHROPIC_MODEL, else gpt-5-2025-08-07 / claude-sonnet-4-5)")
    .option("--temperature <t>", "Temperature (default 0.1; not sent to gpt-5/o-series models)")
    .option("--max-tokens <n>", "Output tokens (default 65536; 64000 for anthropic)")
    .option("--max-context-tokens <n>", "The model's context: trim commits whose prompt + --max-tokens exceed it (old_content first, then the largest diffs)")
    .option("--prompt-template <file>", "System prompt template (default: TEST_CASE_GENERATOR_PROMPT, else batchline's); placeholders {commit_json}, {commit_hash}, {commit_message}, ...") as T;
}

export function registerCommitTestgen(cli: CAC, env: SettingsEnv): void {
  cli
    .command("commit-testgen extract", "Commits of a git checkout -> one extraction JSON per commit (<dir>/<hash>.json)")
    .option("--repo <dir>", "The git checkout")
    .option("--commits <sha,sha>", "Commits to extract (any name git resolves)")
    .option("--csv <file>", "CSV of commits; its other columns become csv_metadata")
    .option("--hash-column <name>", "The CSV's commit column (default commit_hash)")
    .option("-o, --output <dir>", `Where the JSON files go (default ${DEFAULT_EXTRACTIONS_DIR})`)
    .option("-q, --quiet", "No progress on stderr")
    .example("batchline commit-testgen extract --repo ~/src/vllm --csv vllm_classification_review.csv -o commit_extractions")
    .action(extract);

  settingsOptions(
    cli
      .command("commit-testgen gen", "Extraction JSONs -> one request per commit (custom_id = full commit hash)")
      .option("--extractions-dir <dir>", `Commit extraction JSONs (default ${DEFAULT_EXTRACTIONS_DIR})`)
      .option("--only-hash <text>", "Only extraction files whose name contains this")
      .option("--limit <n>", "Only the first n files (default 0 = all)")
      .option("-o, --output <path>", "Request file, or - (default)")
      .option("--failures <path>", "Commits that cannot fit the context (default <output>.failures.jsonl)")
      .option("-q, --quiet", "No summary on stderr"),
  )
    .example("batchline commit-testgen gen --extractions-dir commit_extractions --model gpt-4.1 -o requests.jsonl")
    .action((flags: CommonFlags & { failures?: string }) => gen(flags, env));

  settingsOptions(
    cli
      .command("commit-testgen proc", "Batch output -> <hash8>_test_case_generator.py scripts (syntax-checked by Python), index.json, failures.jsonl")
      .option("-i, --input <path>", "The batch output file")
      .option("--extractions-dir <dir>", `Commit extraction JSONs (default ${DEFAULT_EXTRACTIONS_DIR})`)
      .option("--out-dir <dir>", `Scripts, index.json, failures.jsonl (default ${DEFAULT_OUT_DIR})`)
      .option("--python <path>", "Interpreter whose parser checks the scripts (default python3)")
      .option("--repair", "Then write follow-up requests (-o) for commits without a script that parses and runs")
      .option("-o, --output <path>", "--repair: the follow-up request file, or -")
      .option("--only-hash <text>", "--repair: only extraction files whose name contains this")
      .option("--limit <n>", "--repair: only the first n extraction files")
      .option("--skip-bad", "Report and skip malformed output lines instead of failing")
      .option("-q, --quiet", "No summary on stderr"),
  )
    .example("batchline commit-testgen proc -i output.jsonl --extractions-dir commit_extractions --out-dir generated_test_generators")
    .example("batchline commit-testgen proc --repair --extractions-dir commit_extractions --out-dir generated_test_generators -o repair_requests.jsonl")
    .action((flags: CommonFlags & { input?: string; outDir?: string; python?: string; repair?: boolean; skipBad?: boolean }) => proc(flags, env));
}
