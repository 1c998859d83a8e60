/**
 * `batchline demux`: split an output (or any custom_id-keyed) file by pass into
 * `<dir>/<name>_<pass>.jsonl`. Lines pass through byte for byte (ids read by a byte scan) unless
 * `--strip-pass` rewrites custom_id to the bare instance id. All files appear together at the end, or none do.
 */
import type { CAC } from "cac";
import { basename, join } from "node:path";
import { type AtomicFile, openAtomic } from "../../core/atomic-file.ts";
import { parseCustomId } from "../../core/custom-id.ts";
import { type JsonlParseError, UsageError } from "../../core/errors.ts";
import { joinRawLines, writeChunks } from "../../core/jsonl.ts";
import { idOf, parseRawLine, readLineIds } from "../../core/line-ids.ts";
import { openInput, INPUT_OPTION, inputPath } from "../io.ts";
import { stringOption } from "../options.ts";
import { type CommonOptions, SkipLog, requireId } from "./common.ts";

interface DemuxOptions extends CommonOptions {
  outDir?: string;
  name?: string;
  stripPass?: boolean;
}

/** `out_step2.jsonl` -> `out_step2`. */
function defaultName(path: string): string {
  return basename(path).replace(/\.jsonl?$/i, "");
}

const BATCH_BYTES = 1 << 20;

async function demux(path: string, options: DemuxOptions): Promise<void> {
  const name = stringOption(options.name) ?? (path === "-" ? undefined : defaultName(path));
  if (!name) throw new UsageError("demux from stdin needs --name <prefix> for the output files");
  const dir = stringOption(options.outDir) ?? ".";
  const input = await openInput(path, { label: "demux", quiet: options.quiet });
  const files = new Map<number, AtomicFile>();
  const counts = new Map<number, number>();
  const skipped = new SkipLog();
  // Lines wait per pass file and go out in batches: one write per line would cost a promise each.
  const pending = new Map<number, { lines: Buffer[]; bytes: number }>();
  const flush = async (pass: number) => {
    const batch = pending.get(pass);
    if (!batch || batch.lines.length === 0) return;
    await writeChunks(files.get(pass)!.stream, joinRawLines(batch.lines));
    pending.set(pass, { lines: [], bytes: 0 });
  };
  try {
    const onBadLine = options.skipBad ? (err: JsonlParseError) => skipped.report(err.at, err.message) : undefined;
    const records = readLineIds(input.chunks, { file: input.file, onBadLine });
    for await (const rec of records) {
      const id = options.skipBad ? idOf(rec) : requireId(rec, input.file);
      if (id === undefined) {
        skipped.report({ file: input.file, line: rec.line }, "line has no string custom_id");
        continue;
      }
      const { instanceId, pass } = parseCustomId(id);
      let file = files.get(pass);
      if (!file) {
        file = await openAtomic(join(dir, `${name}_${pass}.jsonl`));
        files.set(pass, file);
      }
      // Only --strip-pass changes a record, so only it parses the line in full.
      let bytes = rec.bytes;
      if (options.stripPass) {
        const parsed = parseRawLine(rec, { file: input.file, ...(onBadLine ? { onBadLine } : {}) });
        if (!parsed.ok) continue;
        bytes = Buffer.from(JSON.stringify({ ...(parsed.value as object), custom_id: instanceId }));
      }
      let batch = pending.get(pass);
      if (!batch) pending.set(pass, (batch = { lines: [], bytes: 0 }));
      batch.lines.push(bytes);
      batch.bytes += bytes.length + 1;
      if (batch.bytes >= BATCH_BYTES) await flush(pass);
      counts.set(pass, (counts.get(pass) ?? 0) + 1);
    }
    for (const pass of pending.keys()) await flush(pass);
    for (const file of files.values()) await file.commit();
  } catch (err) {
    await Promise.all([...files.values()].map((f) => f.abort()));
    throw err;
  }
  input.progress.done();
  skipped.summary("demux");
  if (!options.quiet) {
    const passes = [...counts.keys()].sort((a, b) => a - b);
    for (const pass of passes) process.stderr.write(`${join(dir, `${name}_${pass}.jsonl`)}: ${counts.get(pass)} lines\n`);
  }
}

export function registerDemux(cli: CAC): void {
  cli
    .command("demux [file]", "Split a file by pass (custom_id <instance>__pass<N>) into <name>_<N>.jsonl")
    .option("-d, --out-dir <dir>", "Directory for the pass files", { default: "." })
    .option("--name <prefix>", "File name prefix (default: the input's name without .jsonl)")
    .option("--strip-pass", "Rewrite custom_id to the bare instance id in the pass files")
    .option("--skip-bad", "Report and skip bad lines instead of failing")
    .option("-q, --quiet", "No progress or summary on stderr")
    .example("batchline demux batch_output_step2.jsonl -d by-pass/   # by-pass/batch_output_step2_0.jsonl ...")
    .option(...INPUT_OPTION)
    .action((file: string | undefined, options: DemuxOptions & { input?: string }) => demux(inputPath(file, options, "demux"), options));
}
