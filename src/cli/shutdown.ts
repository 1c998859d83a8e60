/**
 * What happens when the CLI is interrupted (SIGINT/SIGTERM): close servers, remove temp files,
 * release the locks this process holds, and say in one line what was interrupted. (After SIGKILL
 * nothing runs: the next run takes over the dead process's lock.)
 */
import { readFileSync, rmSync } from "node:fs";
import { openTempFiles } from "../core/atomic-file.ts";
import { heldLocks } from "../internal/run-lock.ts";

const hooks: (() => Promise<void> | void)[] = [];
let note: ((signal: string) => string) | undefined;
let policy: { timeoutMs: number; exitCode?: number } = { timeoutMs: 5000 };

/** Registers `fn` to run (at most 5 s in all) before the process exits on a signal. */
export function onShutdown(fn: () => Promise<void> | void): void {
  hooks.push(fn);
}

/** Replaces the line printed on a signal (a server that runs until stopped is not "interrupted"). */
export function setShutdownNote(text: (signal: string) => string): void {
  note = text;
}

/**
 * For a command whose stop on a signal is its normal end (a server that drains and exits 0):
 * how long the hooks may take, and the exit code instead of 128 + the signal number.
 */
export function setShutdownPolicy(next: { timeoutMs: number; exitCode?: number }): void {
  policy = next;
}

/** Runs the hooks, removes uncommitted temp files and held locks, prints one line, exits with 128 + the signal number. */
export async function shutdown(signal: "SIGINT" | "SIGTERM", command: string): Promise<never> {
  const timeout = new Promise((resolve) => setTimeout(resolve, policy.timeoutMs).unref());
  await Promise.race([Promise.allSettled(hooks.map(async (h) => h())), timeout]);
  for (const path of openTempFiles()) rmSync(path, { force: true });
  for (const [path, mine] of heldLocks()) {
    try {
      if (readFileSync(path, "utf8") === mine) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  }
  process.stderr.write(`batchline: ${note ? note(signal) : `${command} interrupted (${signal}); run the same command again to resume it`}\n`);
  process.exit(policy.exitCode ?? (signal === "SIGINT" ? 130 : 143));
}
