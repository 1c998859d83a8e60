/**
 * Run one process in its own process group with a wall-clock limit. On timeout (or abort) the
 * whole group gets SIGKILL, so a test suite's children and grandchildren go with it. After a normal
 * exit the group is killed too: nothing the command left running in the background survives it.
 */
import { spawn } from "node:child_process";

/** Keeps the last `max` bytes written to it. */
export class TailBuffer {
  private parts: Buffer[] = [];
  private size = 0;
  truncated = false;
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  push(chunk: Buffer): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.parts.length > 0) {
      const first = this.parts[0]!;
      const over = this.size - this.max;
      this.truncated = true;
      if (first.length <= over) {
        this.parts.shift();
        this.size -= first.length;
      } else {
        this.parts[0] = first.subarray(over);
        this.size -= over;
      }
    }
  }
  text(): string {
    return Buffer.concat(this.parts).toString("utf8");
  }
}

export interface ProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  maxOutputBytes: number;
  signal?: AbortSignal;
  input?: string;
  /** Called on timeout before the group is killed (the docker runner also kills the container). */
  onTimeout?: () => void;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // the group is already gone
  }
}

/** Runs `argv` (no shell) in a new process group; resolves when it exits, never rejects. */
export function runProcess(argv: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  const started = performance.now();
  const out = new TailBuffer(options.maxOutputBytes);
  const err = new TailBuffer(options.maxOutputBytes);
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    let settled = false;
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: options.env,
      detached: true, // setsid: the child leads a new process group we can kill as a whole
      stdio: ["pipe", "pipe", "pipe"],
    });
    const finish = (exitCode: number | null, signal: string | null, spawnError?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      killGroup(child.pid);
      resolve({
        exitCode,
        signal,
        timedOut,
        aborted,
        stdout: out.text(),
        stderr: err.text(),
        truncated: out.truncated || err.truncated,
        durationMs: Math.round(performance.now() - started),
        ...(spawnError === undefined ? {} : { spawnError }),
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      options.onTimeout?.();
      killGroup(child.pid);
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup(child.pid);
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.stdin.on("error", () => {}); // the command may not read its input
    child.stdin.end(options.input ?? "");
    child.on("error", (e) => finish(null, null, e.message));
    child.on("exit", (code, signal) => {
      // A grandchild that escaped the group could hold the pipes open: do not wait for them forever.
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(code, signal);
      }, 2000);
      child.on("close", () => {
        clearTimeout(grace);
        finish(code, signal);
      });
    });
  });
}
