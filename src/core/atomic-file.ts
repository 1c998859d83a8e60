/**
 * Atomic files: everything is written to a temp file beside the target and renamed over it only
 * when complete, so a killed run leaves either the old file or the new one, never half of one.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { finished } from "node:stream/promises";
import { checkFileTarget } from "./file-checks.ts";
import { writeChunks } from "./jsonl.ts";

/** A file being written: `commit` renames it into place, `abort` removes the temp file. */
export interface AtomicFile {
  readonly path: string;
  readonly tempPath: string;
  readonly stream: WriteStream;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const OPEN_TEMP_FILES = new Set<string>();

/** Temp files not yet committed or aborted; the CLI removes them when interrupted. */
export function openTempFiles(): ReadonlySet<string> {
  return OPEN_TEMP_FILES;
}

/** Temp names start with `.` and contain `.tmp-`, so they are easy to spot and to clean up. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/**
 * Opens a temp file beside `path` (creating the directory). Nothing appears at `path` until
 * `commit`; a failed commit or an abort removes the temp file.
 */
export async function openAtomic(path: string): Promise<AtomicFile> {
  await checkFileTarget(path);
  await mkdir(dirname(path), { recursive: true });
  const tempPath = tempPathFor(path);
  const stream = createWriteStream(tempPath, { flags: "wx", highWaterMark: 1 << 20 });
  let settled = false;
  OPEN_TEMP_FILES.add(tempPath);
  return {
    path,
    tempPath,
    stream,
    async commit() {
      if (settled) return;
      settled = true;
      try {
        stream.end();
        await finished(stream);
        await rename(tempPath, path);
      } catch (err) {
        stream.destroy();
        await rm(tempPath, { force: true });
        throw err;
      } finally {
        OPEN_TEMP_FILES.delete(tempPath);
      }
    },
    async abort() {
      if (settled) return;
      settled = true;
      stream.on("error", () => {}); // writes still queued fail once destroyed; the file is going anyway
      stream.destroy();
      await rm(tempPath, { force: true });
      OPEN_TEMP_FILES.delete(tempPath);
    },
  };
}

/**
 * Writes all chunks to `path` atomically; on any error the target is left untouched. Text already
 * in memory (a string, bytes, or an array of byte pieces, written with one writev) skips the stream.
 */
export async function writeFileAtomic(path: string, chunks: AsyncIterable<string | Uint8Array> | string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  if (typeof chunks === "string" || chunks instanceof Uint8Array || Array.isArray(chunks)) return writeWholeFileAtomic(path, chunks as string | Uint8Array | readonly Uint8Array[]);
  const file = await openAtomic(path);
  try {
    await writeChunks(file.stream, chunks);
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/**
 * `writeFileAtomic` of text already in memory: one write to the temp file, no stream (many small
 * files). The directory is made, and a directory at `path` reported, only when the write or the
 * rename fails for want of them: most files go where a directory is, and nothing is in the way.
 */
async function writeWholeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tempPath = tempPathFor(path);
  OPEN_TEMP_FILES.add(tempPath);
  const write = () => (Array.isArray(data) ? writePieces(tempPath, data) : writeFile(tempPath, data as string | Uint8Array, { flag: "wx" }));
  try {
    await write().catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
      await checkFileTarget(path);
      await mkdir(dirname(path), { recursive: true });
      await write();
    });
    await rename(tempPath, path).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === "EISDIR") await checkFileTarget(path); // throws the one-line message
      throw err;
    });
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  } finally {
    OPEN_TEMP_FILES.delete(tempPath);
  }
}

/** Creates `path` (it must not exist) holding the pieces in order: one writev, more only after a short write. */
async function writePieces(path: string, pieces: readonly Uint8Array[]): Promise<void> {
  const handle = await open(path, "wx");
  try {
    let rest = pieces.filter((p) => p.length > 0);
    while (rest.length > 0) {
      let { bytesWritten } = await handle.writev(rest);
      while (rest.length > 0 && bytesWritten >= rest[0]!.length) bytesWritten -= rest.shift()!.length;
      if (rest.length > 0 && bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
    }
  } finally {
    await handle.close();
  }
}
