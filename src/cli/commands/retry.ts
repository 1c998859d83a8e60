/**
 * `batchline retry <requests> <output>`: argv -> options -> `selectRetries` (src/submitters/retry-requests.ts),
 * the chosen request lines written byte for byte, the counts of every class on stderr.
 */
import type { CAC } from "cac";
import { join } from "node:path";
import { type RecordValidationError, UsageError } from "../../core/errors.ts";
import { joinRawLines } from "../../core/jsonl.ts";
import { DEFAULT_WHY, RETRY_CLASSES, SELECTABLE, parseWhy, readNoPatch, selectRetries } from "../../submitters/retry-requests.ts";
import { openInput, writeOutput } from "../io.ts";
import { stringOption } from "../options.ts";
import { SkipLog } from "./common.ts";

interface RetryOptions {
  input?: unknown;
  answers?: unknown;
  output?: string;
  skipBad?: boolean;
  why?: unknown;
  saveDir?: unknown;
  quiet?: boolean;
}

async function retry(requestsPath: string, outputPath: string, options: RetryOptions): Promise<void> {
  if (requestsPath === "-" && outputPath === "-") throw new UsageError("retry reads a request file and an output file: only one of them can be - (stdin)");
  const saveDir = stringOption(options.saveDir);
  const why = parseWhy(options.why, saveDir !== undefined);
  let noPatch: Set<string> | undefined;
  if (saveDir !== undefined) {
    const failures = await openInput(join(saveDir, "failures.jsonl"), { label: "retry: reading failures", quiet: options.quiet });
    noPatch = await readNoPatch(failures.file, failures.chunks);
    failures.progress.done();
  }
  const outputs = await openInput(outputPath, { label: "retry: indexing outputs", quiet: options.quiet });
  const requests = await openInput(requestsPath, { label: "retry: reading requests", quiet: options.quiet });
  const skipped = new SkipLog();
  const onBadLine = options.skipBad ? (err: RecordValidationError) => skipped.report(err.at, err.message) : undefined;
  const { lines, tally } = selectRetries({ requests, outputs, why, noPatch, onIndexed: () => outputs.progress.done(), ...(onBadLine ? { onBadLine } : {}) });
  const dest = options.output ?? "-";
  await writeOutput(dest, joinRawLines(lines));
  requests.progress.done();
  skipped.summary("retry");
  if (!options.quiet) {
    const classes = RETRY_CLASSES.filter((c) => c !== "no-patch" || noPatch !== undefined);
    const total = classes.reduce((n, c) => n + tally.counts[c], 0);
    process.stderr.write(`retry: ${total} requests: ${classes.map((c) => `${tally.counts[c]} ${c}`).join(", ")}${tally.stray > 0 ? `; ${tally.stray} output lines answer no request` : ""}\n`);
    process.stderr.write(`retry: wrote ${tally.written} lines (${[...why].join(", ")}) to ${dest === "-" ? "stdout" : dest}\n`);
  }
}

/** The two inputs, from the positionals and/or -i (the request file) and --answers (the output file). */
function retryInputs(positionals: (string | undefined)[], options: RetryOptions): { requests: string; answers: string } {
  const given = positionals.filter((p): p is string => p !== undefined);
  const input = stringOption(options.input);
  const answersFlag = stringOption(options.answers);
  const requests = input ?? given.shift();
  const answers = answersFlag ?? given.shift();
  if (given.length > 0) throw new UsageError(`retry: ${given.join(" ")}: one input too many (the request file is ${requests}, the output file ${answers})`);
  if (requests === undefined || answers === undefined) {
    throw new UsageError("retry needs the request file and the output file it was answered in: batchline retry <requests> <output> (or -i <requests> --answers <output>)");
  }
  return { requests, answers };
}

/** Registers `batchline retry <requests> <output>`. */
export function registerRetry(cli: CAC): void {
  cli
    .command("retry [requests] [output]", "Request lines to send again: missing from the output, or failed, truncated, empty (or without a patch)")
    .option("-i, --input <requests>", "The request file, or - for stdin (instead of the first argument)")
    .option("--answers <output>", "The batch output file answering it (instead of the second argument)")
    .option("-o, --output <path>", "Where the request lines go, or - for stdout", { default: "-" })
    .option("--why <classes>", `Classes to retry, comma-separated: ${SELECTABLE.join(", ")} (missing always)`, { default: DEFAULT_WHY.join(",") })
    .option("--save-dir <dir>", "An agentless --save_dir: requests with a proc_step2 failure in its failures.jsonl are no-patch")
    .option("--skip-bad", "Report and skip request lines that are not valid requests instead of failing")
    .option("-q, --quiet", "No progress or summary on stderr")
    .example("batchline retry batch_requests_step1.jsonl batch_output_step1.jsonl -o retry_step1.jsonl")
    .example("batchline retry batch_requests_step2.jsonl batch_output_step2.jsonl --why failed,no-patch --save-dir results/run1")
    .example("batchline retry -i batch_requests_step1.jsonl --answers batch_output_step1.jsonl -o retry_step1.jsonl")
    .action((first: string | undefined, second: string | undefined, options: RetryOptions) => {
      const { requests, answers } = retryInputs([first, second], options);
      return retry(requests, answers, options);
    });
}
