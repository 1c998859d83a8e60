/**
 * `batchline agentless vote --save_dir <dir> [-o <dir>/all_preds.jsonl] [--model-name NAME] [--json-report FILE]`:
 * per instance, a majority vote over the bugfixer patches of every `output_<pass>_processed.jsonl`
 * in the save dir (src/agentless/vote.ts), written as SWE-bench harness predictions.
 * cac matches a command by the first argv word only, so the command is registered under the name
 * `agentless vote` and `routeAgentlessVote` joins the two words before parsing.
 */
import type { CAC } from "cac";
import { routeSubcommands } from "../subcommands.ts";
import { join } from "node:path";
import { writeFileAtomic } from "../../core/atomic-file.ts";
import { type BatchlineError, type Location, UsageError } from "../../core/errors.ts";
import { SkipLog } from "./common.ts";
import { type VoteSummary, voteSaveDir } from "../../agentless/vote.ts";
import { writeOutput } from "../io.ts";
import { stringOption } from "../options.ts";

/** The command's name as cac sees it (one argv word). */
export const AGENTLESS_VOTE_COMMAND = "agentless vote";

/** argv with a leading `agentless vote` joined into the one word cac matches; any other argv unchanged. */
export function routeAgentlessVote(argv: readonly string[]): string[] {
  return routeSubcommands(argv, [AGENTLESS_VOTE_COMMAND]);
}

interface VoteCliOptions {
  saveDir?: unknown;
  output?: unknown;
  modelName?: unknown;
  jsonReport?: unknown;
  quiet?: boolean;
  skipBad?: boolean;
}

function summaryLine(s: VoteSummary, output: string): string {
  return (
    `batchline: agentless vote: ${s.instances} instance(s) over pass(es) ${s.passes.join(", ")}: ` +
    `${s.unanimous} unanimous, ${s.majority} majority, ${s.tie} tie, ${s.no_patch} with no patch; ` +
    `${s.predictions} prediction(s) in ${output === "-" ? "stdout" : output}\n`
  );
}

async function agentlessVote(options: VoteCliOptions): Promise<void> {
  const saveDir = stringOption(options.saveDir);
  if (saveDir === undefined || saveDir === "") throw new UsageError("agentless vote: missing --save_dir <dir> (the proc_step2 save dir)");
  const output = stringOption(options.output) ?? join(saveDir, "all_preds.jsonl");
  const modelName = stringOption(options.modelName);
  const jsonReport = stringOption(options.jsonReport);
  const skipped = new SkipLog();
  const onBadLine = options.skipBad ? (err: BatchlineError & { at?: Location }) => skipped.report(err.at ?? { file: saveDir }, err.message) : undefined;
  const { summary, votes } = await voteSaveDir({ saveDir, output, write: writeOutput, ...(modelName !== undefined ? { modelName } : {}), ...(onBadLine ? { onBadLine } : {}) });
  skipped.summary("agentless vote");
  if (jsonReport !== undefined) {
    const report = { save_dir: saveDir, output, summary, instances: votes };
    await writeFileAtomic(jsonReport, JSON.stringify(report, null, 2) + "\n");
  }
  if (options.quiet !== true) process.stderr.write(summaryLine(summary, output));
}

/** Registers `agentless vote` (run argv through `routeAgentlessVote` first). */
export function registerAgentlessVote(cli: CAC): void {
  cli
    .command(AGENTLESS_VOTE_COMMAND, "Majority vote over the bugfixer patches of every pass in a save dir -> all_preds.jsonl")
    .option("--save-dir <dir>", "The proc_step2 save dir holding output_<pass>_processed.jsonl")
    .option("-o, --output <file>", "Predictions to write, or - (default <save_dir>/all_preds.jsonl)")
    .option("--model-name <name>", "model_name_or_path of every prediction (default: the winning line's)")
    .option("--json-report <file>", "Write each instance's groups, their passes and sizes, and the winning pass as JSON")
    .option("--skip-bad", "Report and leave out lines of the pass files that are not bugfixer output lines instead of failing")
    .option("-q, --quiet", "No summary on stderr")
    .example("batchline agentless vote --save_dir results/dsv3-bugfixer   # results/dsv3-bugfixer/all_preds.jsonl")
    .action((options: VoteCliOptions) => agentlessVote(options));
}
