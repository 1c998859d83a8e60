/**
 * File and stdio plumbing for commands: inputs are paths or `-` (stdin), outputs are written
 * atomically to a path or streamed to stdout. Bytes read feed a progress reporter on stderr.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { BatchlineError, UsageError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { writeChunks } from "../core/jsonl.ts";
import { type Progress, type ProgressOptions, createProgress } from "./progress.ts";

const READ_CHUNK = 1 << 20;

/** An opened input: its display name, size when known, its bytes, and its progress reporter. */
export interface Input {
  file: string;
  size?: number;
  chunks: AsyncIterable<Buffer>;
  progress: Progress;
}

/** How an input is opened: the progress label, and `quiet` to show none. */
export interface OpenInputOptions {
  label: string;
  quiet?: boolean;
  /** Where and how often the progress line is drawn (default: stderr, after 2 s). */
  progress?: Pick<ProgressOptions, "stream" | "delay" | "interval">;
}

/** Opens a path (or `-` for stdin) for streaming, with a clear error when it cannot be read. */
export async function openInput(path: string, options: OpenInputOptions): Promise<Input> {
  if (path === "-") {
    if (process.stdin.isTTY && !options.quiet) process.stderr.write(`${options.label}: reading JSONL from the terminal (stdin); pass a file or -i <path>\n`);
    const progress = createProgress({ ...options.progress, label: options.label, enabled: !options.quiet });
    return { file: "<stdin>", chunks: counted(process.stdin, progress), progress };
  }
  let size: number;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new UsageError(`${path}: is a directory, expected a JSONL file`);
    size = st.size;
  } catch (err) {
    if (err instanceof BatchlineError) throw err;
    throw new UsageError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const progress = createProgress({ ...options.progress, label: options.label, totalBytes: size, enabled: !options.quiet });
  return { file: path, size, chunks: counted(createReadStream(path, { highWaterMark: READ_CHUNK }), progress), progress };
}

async function* counted(source: AsyncIterable<Buffer | string>, progress: Progress): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    progress.add(buf.length, newlines(buf));
    yield buf;
  }
}

/** Line ends in a buffer: the lines read so far, for the progress line (a byte scan, no decoding). */
function newlines(buf: Buffer): number {
  let count = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) count++;
  return count;
}

/** Writes chunks to `dest` (atomically) or to stdout when `dest` is `-`. */
export async function writeOutput(dest: string, chunks: AsyncIterable<string | Uint8Array>): Promise<void> {
  if (dest === "-") {
    await writeChunks(process.stdout, chunks);
    return;
  }
  await writeFileAtomic(dest, chunks);
}

/** The `-i/--input` option every command that reads a file takes, besides its positional argument. */
export const INPUT_OPTION = ["-i, --input <path>", "Input file, or - for stdin (instead of the argument)"] as const;

/** The input a command was given: its positional argument or -i/--input, not both (`-` is stdin). */
export function inputPath(positional: string | undefined, options: { input?: unknown }, command: string): string {
  const flag = options.input === undefined ? undefined : String(options.input);
  if (positional !== undefined && flag !== undefined && positional !== flag) throw new UsageError(`${command}: give the input once, as an argument or with -i, not both (${positional}, ${flag})`);
  const path = positional ?? flag;
  if (path === undefined) throw new UsageError(`${command} needs an input: a file argument, -i <file>, or - for stdin`);
  return path;
}
