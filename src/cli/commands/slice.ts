/**
 * `batchline slice`: keep the lines of any JSONL file whose id is in a range and/or shard.
 * Lines are passed through byte for byte (CRLF endings too; a missing final newline is added);
 * ids are custom_ids (instance_ids for dataset rows), read by a byte scan (core/line-ids.ts).
 */
import type { CAC } from "cac";
import { type IdRange, type RangeBound, type Shard, compareBytes, inRange, inShard, needsIdList, parseRangeBound, parseShard, resolveRange } from "../../core/custom-id.ts";
import { joinRawLines } from "../../core/jsonl.ts";
import { idOf, readLineIds } from "../../core/line-ids.ts";
import { openInput, writeOutput, INPUT_OPTION, inputPath } from "../io.ts";
import { stringOption } from "../options.ts";
import { type CommonOptions, SkipLog, requireId, spoolStdin } from "./common.ts";

/** A slice: id bounds (custom_ids or positions) and a shard. */
export interface SliceSpec {
  start?: RangeBound;
  end?: RangeBound;
  shard?: Shard;
}

/** Reads `--start/--end` (or `--start_file/--end_file`) and `--shard`. */
export function sliceSpec(options: Record<string, unknown>): SliceSpec {
  const start = stringOption(options.start) ?? stringOption(options.startFile);
  const end = stringOption(options.end) ?? stringOption(options.endFile);
  const spec: SliceSpec = {};
  const s = parseRangeBound(start, "--start");
  const e = parseRangeBound(end, "--end");
  const shard = parseShard(stringOption(options.shard));
  if (s) spec.start = s;
  if (e) spec.end = e;
  if (shard) spec.shard = shard;
  return spec;
}

async function sortedIds(path: string, quiet: boolean | undefined, skipBad: boolean | undefined): Promise<string[]> {
  const input = await openInput(path, { label: "slice: reading ids", quiet });
  const ids = new Set<string>();
  for await (const rec of readLineIds(input.chunks, { file: input.file, onBadLine: skipBad ? () => {} : undefined })) {
    const id = skipBad ? idOf(rec) : requireId(rec, input.file);
    if (id !== undefined) ids.add(id);
  }
  input.progress.done();
  return [...ids].sort(compareBytes);
}

interface SliceOptions extends CommonOptions {
  output?: string;
}

async function slice(path: string, options: SliceOptions & Record<string, unknown>): Promise<void> {
  const spec = sliceSpec(options);
  let source = path;
  let cleanup: (() => Promise<void>) | undefined;
  try {
    let range: IdRange & { empty: boolean };
    if (needsIdList(spec.start, spec.end)) {
      if (path === "-") ({ path: source, cleanup } = await spoolStdin());
      range = resolveRange(spec.start, spec.end, await sortedIds(source, options.quiet, options.skipBad));
    } else {
      range = resolveRange(spec.start, spec.end);
    }
    const input = await openInput(source, { label: "slice", quiet: options.quiet });
    const file = path === "-" ? "<stdin>" : input.file;
    const skipped = new SkipLog();
    async function* kept(): AsyncGenerator<Buffer> {
      const records = readLineIds(input.chunks, {
        file,
        onBadLine: options.skipBad ? (err) => skipped.report(err.at, err.message) : undefined,
      });
      for await (const rec of records) {
        const id = options.skipBad ? idOf(rec) : requireId(rec, file);
        if (id === undefined) {
          skipped.report({ file, line: rec.line }, "line has no string custom_id (or instance_id)");
          continue;
        }
        if (range.empty || !inRange(id, range)) continue;
        if (spec.shard && !inShard(id, spec.shard)) continue;
        yield rec.bytes;
      }
    }
    await writeOutput(options.output ?? "-", joinRawLines(kept()));
    input.progress.done();
    skipped.summary("slice");
  } finally {
    await cleanup?.();
  }
}

export function registerSlice(cli: CAC): void {
  cli
    .command("slice [file]", "Keep lines whose custom_id is in --start/--end and/or --shard")
    .option("-o, --output <path>", "Output file, or - for stdout", { default: "-" })
    .option("--start, --start-file <id|n>", "First custom_id kept (inclusive), or a 0-based position in the byte-sorted ids")
    .option("--end, --end-file <id|n>", "custom_id (or position) where the slice stops, exclusive")
    .option("--shard <i/n>", "Keep ids whose stable hash (FNV-1a of the UTF-8 id) mod n is i")
    .option("--skip-bad", "Report and skip bad lines instead of failing")
    .option("-q, --quiet", "No progress on stderr")
    .example("batchline slice requests.jsonl --start 0 --end 1000 -o first-1000.jsonl")
    .example("batchline slice out.jsonl --start django__django-11099 --end django__django-12000")
    .example("cat requests.jsonl | batchline slice - --shard 2/8 > shard2.jsonl")
    .option(...INPUT_OPTION)
    .action((file: string | undefined, options: Record<string, unknown>) => slice(inputPath(file, options, "slice"), options));
}
