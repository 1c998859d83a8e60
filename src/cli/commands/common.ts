/** Pieces shared by commands: the id of a line, bad-line reporting, spooling stdin for two passes. */
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { type Location, RecordError, formatLocation } from "../../core/errors.ts";
import { recordIdOf } from "../../core/jsonl.ts";
import { type IdLine, idOf } from "../../core/line-ids.ts";

/** Options every file command takes. */
export interface CommonOptions {
  quiet?: boolean;
  skipBad?: boolean;
}

/** The id of a line: its custom_id, or its instance_id for dataset rows. */
export const lineId = recordIdOf;

/** The id of a line (custom_id, or instance_id), or an error naming its file and line. */
export function requireId(record: IdLine, file: string): string {
  const id = idOf(record);
  if (id === undefined) throw new RecordError({ file, line: record.line }, "line has no string custom_id (or instance_id)");
  return id;
}

/** Counts skipped lines and reports each on stderr; used with `--skip-bad`. */
export class SkipLog {
  count = 0;
  report(at: Location, message: string): void {
    this.count++;
    const text = message.startsWith(formatLocation(at)) ? message : `${formatLocation(at)}: ${message}`;
    process.stderr.write(`batchline: skipped ${text}\n`);
  }
  summary(label: string): void {
    if (this.count > 0) process.stderr.write(`batchline: ${label}: skipped ${this.count} bad line(s)\n`);
  }
}

/** Copies stdin to `path` (creating its directory), so that it can be read again. */
export async function spoolStdinTo(path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await pipeline(process.stdin, createWriteStream(path));
  return path;
}

/** Copies stdin to a temp file so that it can be read twice; `cleanup` removes it. */
export async function spoolStdin(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "batchline-stdin-"));
  const path = await spoolStdinTo(join(dir, "stdin.jsonl"));
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
