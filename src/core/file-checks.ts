/**
 * Checks of the paths a command was given, done before any work: an input must be a readable
 * file, an output must not be a directory. Each failure is one line, `<what> (<path>)`.
 */
import { stat } from "node:fs/promises";
import { UsageError } from "./errors.ts";

/** Refuses an output path that is a directory (a rename onto it would fail only after all the work). */
export async function checkFileTarget(path: string): Promise<void> {
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT" || err.code === "ENOTDIR") return undefined; // ENOTDIR: creating the directory names the file in the way
    throw err;
  });
  if (st?.isDirectory()) throw new UsageError(`output is a directory, expected a file path (${path})`);
}

/** Refuses an input path that does not exist or is not a file; `what` names it (`request file`, `--from`). */
export async function checkInputFile(path: string, what: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UsageError(`${what}: no such file (${path})`);
  if (st.isDirectory()) throw new UsageError(`${what}: is a directory, expected a file (${path})`);
}
