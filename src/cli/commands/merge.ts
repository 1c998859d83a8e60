/**
 * `batchline merge`: several output files into one, each custom_id exactly once. A success beats
 * any failure; between two successes (or two failures) the later file (then the later line) wins.
 * The first pass over the inputs picks a winner per id (memory per id, not per byte) and, into a
 * file, copies each line through byte for byte (CRLF endings too) while no id has repeated: with
 * no repeats that copy is the output. Otherwise (or to stdout) a second pass copies the winning
 * lines, in input order. Ids and successes are read by a byte scan (core/line-ids.ts); failures
 * are parsed and validated.
 */
import type { CAC } from "cac";
import { UsageError } from "../../core/errors.ts";
import { joinRawLines, locationOf, readRawLines } from "../../core/jsonl.ts";
import { parseRawLine, readLineIds, scanSuccessfulOutput } from "../../core/line-ids.ts";
import { flattenIssues } from "../../core/stage.ts";
import { RecordValidationError } from "../../core/errors.ts";
import { openInput, writeOutput } from "../io.ts";
import { type CommonOptions, SkipLog, spoolStdin } from "./common.ts";

interface MergeOptions extends CommonOptions {
  output?: string;
}

interface Winner {
  file: number;
  line: number;
  ok: boolean;
}

async function merge(paths: string[], options: MergeOptions): Promise<void> {
  if (paths.length === 0) throw new UsageError("merge needs at least one output file");
  if (paths.filter((p) => p === "-").length > 1) throw new UsageError("merge: stdin (-) can be only one of the inputs");
  if (!paths.includes("-")) return mergeFiles(paths, options);
  // merge reads its inputs twice: stdin is kept in a temp file
  const stdin = await spoolStdin();
  try {
    await mergeFiles(paths.map((p) => (p === "-" ? stdin.path : p)), options);
  } finally {
    await stdin.cleanup();
  }
}

let outputSchema: typeof import("../../../schemas/openai-batch-output.ts") | undefined;

/** Thrown at the end of the first pass when it could not be the output: a custom_id repeated. */
class SecondPassNeeded extends Error {}

async function mergeFiles(paths: string[], options: MergeOptions): Promise<void> {
  const skipped = new SkipLog();
  const winners = new Map<string, Winner>();
  const stats = { lines: 0 };
  const dest = options.output ?? "-";
  // Until a custom_id repeats, every line read is a winner: the first pass writes them as it goes,
  // and when no id repeats at all (the usual case) that is the output, in one read of the inputs.
  let copying = dest !== "-";

  async function* firstPass(): AsyncGenerator<Buffer> {
    for (const [fileIndex, path] of paths.entries()) {
      const input = await openInput(path, { label: `merge: reading ${path}`, quiet: options.quiet });
      const onBadLine = options.skipBad ? (err: { at: { file: string; line?: number }; message: string }) => skipped.report(err.at, err.message) : undefined;
      for await (const raw of readRawLines(input.chunks)) {
        // A success is known from a byte scan; anything else is parsed and validated in full.
        let id = scanSuccessfulOutput(raw.bytes);
        let ok = true;
        if (id === undefined) {
          const rec = parseRawLine(raw, { file: input.file, ...(onBadLine ? { onBadLine } : {}) });
          if (!rec.ok) continue;
          // zod is loaded only when a line is not a certain success (start-up of a merge of successes).
          const { BatchOutput, isSuccess } = (outputSchema ??= await import("../../../schemas/openai-batch-output.ts"));
          const parsed = BatchOutput.safeParse(rec.value);
          if (!parsed.success) {
            const at = locationOf(input.file, { line: raw.line, value: rec.value });
            const err = new RecordValidationError(at, "batch output line", flattenIssues(parsed.error));
            if (!options.skipBad) throw err;
            skipped.report(at, err.message);
            continue;
          }
          id = parsed.data.custom_id;
          ok = isSuccess(parsed.data);
        }
        stats.lines++;
        const candidate: Winner = { file: fileIndex, line: raw.line, ok };
        const current = winners.get(id);
        if (current) copying = false;
        if (current && current.ok && !candidate.ok) continue; // never trade a success for a failure
        winners.set(id, candidate);
        if (copying) yield raw.bytes;
      }
      input.progress.done();
    }
    if (dest !== "-" && !copying) throw new SecondPassNeeded(); // the partial copy is dropped
  }

  async function* kept(): AsyncGenerator<Buffer> {
    for (const [fileIndex, path] of paths.entries()) {
      const input = await openInput(path, { label: `merge: writing from ${path}`, quiet: options.quiet });
      for await (const rec of readLineIds(input.chunks, { file: input.file, onBadLine: () => {} })) {
        if (rec.customId === undefined) continue;
        const w = winners.get(rec.customId);
        if (w && w.file === fileIndex && w.line === rec.line) yield rec.bytes;
      }
      input.progress.done();
    }
  }

  if (copying) {
    try {
      await writeOutput(dest, joinRawLines(firstPass()));
    } catch (err) {
      if (!(err instanceof SecondPassNeeded)) throw err;
    }
  } else {
    for await (const _ of firstPass()); // stdout: nothing is written before every id is known
  }
  // Still copying after the first pass: its copy is the output. Otherwise the winners, read again.
  if (!copying) await writeOutput(dest, joinRawLines(kept()));
  skipped.summary("merge");
  if (!options.quiet) {
    let ok = 0;
    for (const w of winners.values()) if (w.ok) ok++;
    process.stderr.write(`merge: ${winners.size} custom_ids (${ok} succeeded, ${winners.size - ok} failed) from ${stats.lines} lines in ${paths.length} files\n`);
  }
}

export function registerMerge(cli: CAC): void {
  cli
    .command("merge [...files]", "Merge output files by custom_id: one line per id, a later success wins over an earlier failure")
    .option("-o, --output <path>", "Output file, or - for stdout", { default: "-" })
    .option("--skip-bad", "Report and skip bad lines instead of failing")
    .option("-q, --quiet", "No progress or summary on stderr")
    .example("batchline merge out_round1.jsonl out_retry.jsonl -o out.jsonl")
    .option("-i, --input <path>", "Input file, or - for stdin (repeatable; with or instead of the arguments)")
    .action((files: string[], options: MergeOptions & { input?: string | string[] }) => merge([...files, ...([] as string[]).concat(options.input ?? []).map(String)], options));
}
