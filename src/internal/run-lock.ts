/**
 * A lock file that says which process is working on something (a pipeline workdir, a submit's
 * output): created exclusively with the holder's pid and host. A lock whose process is dead (on
 * this host) is taken over; a live one, or one from another host, is refused with a clear error.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { BatchlineError } from "../core/errors.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const HELD = new Map<string, string>();

/** The locks this process holds (path -> its content), so that an interrupted CLI can release them. */
export function heldLocks(): ReadonlyMap<string, string> {
  return HELD;
}

/** Takes the lock at `path` for work on `what`; resolves to the release function. */
export async function acquireLock(path: string, what: string, log: (line: string) => void): Promise<() => Promise<void>> {
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, mine, { flag: "wx" });
      HELD.set(path, mine);
      return async () => {
        if ((await readFile(path, "utf8").catch(() => "")) === mine) await rm(path, { force: true });
        HELD.delete(path);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let held: { pid?: number; host?: string } = {};
      try {
        held = JSON.parse(await readFile(path, "utf8")) as { pid?: number; host?: string };
      } catch {
        // unreadable lock: treat it as stale
      }
      if (held.pid !== undefined && held.host === hostname() && alive(held.pid)) {
        throw new BatchlineError(`${what} is in use by process ${held.pid} (lock ${path}); wait for it, or stop it`);
      }
      if (held.host !== undefined && held.host !== hostname()) {
        throw new BatchlineError(`${what} is locked by a process on ${held.host} (lock ${path}); remove the lock if that run is gone`);
      }
      log(`taking over the stale lock of process ${held.pid ?? "?"} (${path})`);
      await rm(path, { force: true });
    }
  }
  throw new BatchlineError(`could not take the lock ${path}`);
}
