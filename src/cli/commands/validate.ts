/** `batchline validate`: check a request, output or error file line by line and as a whole. */
import type { CAC } from "cac";
import { BatchlineError, UsageError, formatLocation } from "../../core/errors.ts";
import { readJsonlLines } from "../../core/jsonl.ts";
import { readAnswerLines, readRequestIds } from "../../core/line-ids.ts";
import { type FileKind, checkAnswered, formatReport, validateBatchFile } from "../../core/validate.ts";
import { openInput, INPUT_OPTION, inputPath } from "../io.ts";
import { stringOption } from "../options.ts";

interface ValidateCliOptions {
  kind?: string;
  json?: boolean;
  maxProblems?: string | number;
  quiet?: boolean;
  requests?: string;
  skipBad?: boolean;
}

const KINDS: FileKind[] = ["request", "output", "error"];

async function validate(path: string, options: ValidateCliOptions): Promise<void> {
  const kindText = stringOption(options.kind);
  if (kindText !== undefined && !KINDS.includes(kindText as FileKind)) throw new UsageError(`--kind ${kindText}: expected one of ${KINDS.join(", ")}`);
  const maxProblems = options.maxProblems === undefined ? 20 : Number(options.maxProblems);
  if (!Number.isInteger(maxProblems) || maxProblems < 0) throw new UsageError(`--max-problems ${options.maxProblems}: expected a whole number`);
  const input = await openInput(path, { label: "validate", quiet: options.quiet });
  const report = await validateBatchFile(readJsonlLines(input.chunks), {
    file: input.file,
    maxProblems,
    ...(options.skipBad ? { skipBad: true } : {}),
    ...(kindText ? { kind: kindText as FileKind } : {}),
  });
  input.progress.done();
  const requestsPath = stringOption(options.requests);
  if (requestsPath !== undefined) {
    if (report.kind === "request") throw new UsageError("--requests checks an output file against its requests; this is a request file");
    if (path === "-") throw new UsageError("--requests reads the output file a second time, so it must be a file, not -");
    const requests = await openInput(requestsPath, { label: "validate: requests", quiet: options.quiet });
    const outputs = await openInput(path, { label: "validate: answers", quiet: options.quiet });
    await checkAnswered(
      { file: requests.file, records: readRequestIds(requests.chunks, requests.file) },
      { file: outputs.file, records: readAnswerLines(outputs.chunks, outputs.file) },
      report,
      maxProblems,
    );
  }
  if (options.json) process.stdout.write(JSON.stringify(report) + "\n");
  else process.stdout.write(formatReport(report).join("\n") + "\n");
  if (report.problemCount > 0) {
    const first = report.problems[0]!;
    throw new BatchlineError(`${report.problemCount} problem(s) in ${input.file}; first: ${formatLocation(first.at)}: ${first.message}`);
  }
}

export function registerValidate(cli: CAC): void {
  cli
    .command("validate [file]", "Check a batch request/output/error file: schema per line, unique ids, one model, Batch url, chunk counts")
    .option("--kind <kind>", "request, output or error (default: guessed from the first line)")
    .option("--requests <file>", "Output files: also check every request in <file> is answered exactly once (joined by custom_id)")
    .option("--json", "Print the report as one JSON object")
    .option("--max-problems <n>", "Problems listed in full (all are counted)", { default: 20 })
    .option("--skip-bad", "List lines with a problem of their own as skipped (as submit --skip-bad leaves them out) and check the rest")
    .option("-q, --quiet", "No progress on stderr")
    .example("batchline validate batch_requests_step1.jsonl --kind request")
    .example("batchline validate batch_output_step1.jsonl --requests batch_requests_step1.jsonl")
    .option(...INPUT_OPTION)
    .action((file: string | undefined, options: ValidateCliOptions & { input?: string }) => validate(inputPath(file, options, "validate"), options));
}
