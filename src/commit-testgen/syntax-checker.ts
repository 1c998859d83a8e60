/**
 * Python syntax checks through ONE long-lived interpreter: each script is sent as a JSON line
 * `{"id", "code"}` and parsed with Python's own parser (`compile(..., PyCF_ONLY_AST)`, what
 * `ast.parse` does); the answer line is `{"id", "ok"}` or `{"id", "ok": false, "line", "column",
 * "message"}`. Checks may be in flight together; answers come back in order. Starting one
 * python3 per script costs tens of milliseconds each (see test/bench/commit-testgen.ts).
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { BatchlineError } from "../core/errors.ts";

/** The checker's Python side: reads JSON lines, answers JSON lines, flushes each answer. */
const CHECKER_SOURCE = String.raw`
import ast, json, sys
for raw in sys.stdin:
    req = json.loads(raw)
    out = {"id": req["id"], "ok": True}
    try:
        compile(req["code"], "<script>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as e:
        out = {"id": req["id"], "ok": False, "line": e.lineno, "column": e.offset, "message": e.msg}
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        out = {"id": req["id"], "ok": False, "line": None, "column": None, "message": type(e).__name__ + ": " + str(e)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
`;

/** A syntax check's verdict; line and column are 1-based as Python reports them (null when Python gives none). */
export type SyntaxVerdict = { ok: true } | { ok: false; line: number | null; column: number | null; message: string };

/** The checker could not start or died. */
export class SyntaxCheckerError extends BatchlineError {}

export interface SyntaxCheckerOptions {
  /** The interpreter (default `python3`). */
  python?: string;
}

/** One python3 process that checks every script given to `check`; `close` ends it. */
export class PythonSyntaxChecker {
  readonly python: string;
  #child: ChildProcessWithoutNullStreams;
  #pending = new Map<number, { resolve: (v: SyntaxVerdict) => void; reject: (e: Error) => void }>();
  #next = 0;
  #failure: Error | undefined;
  #stderr = "";

  constructor(options: SyntaxCheckerOptions = {}) {
    this.python = options.python ?? "python3";
    this.#child = spawn(this.python, ["-I", "-S", "-c", CHECKER_SOURCE], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, PYTHONIOENCODING: "utf-8" } });
    this.#child.stdin.on("error", () => {}); // reported through 'close' below
    this.#child.stderr.on("data", (d: Buffer) => {
      if (this.#stderr.length < 4096) this.#stderr += d.toString("utf8");
    });
    this.#child.on("error", (err: NodeJS.ErrnoException) => this.#fail(new SyntaxCheckerError(`cannot start ${this.python} for syntax checks (${err.code ?? err.message}); pass the interpreter with --python`)));
    this.#child.on("close", (code, signal) => {
      this.#fail(new SyntaxCheckerError(`the ${this.python} syntax checker exited (${signal ?? `code ${code}`})${this.#stderr.trim() ? `: ${this.#stderr.trim().split("\n").pop()}` : ""}`));
    });
    const lines = createInterface({ input: this.#child.stdout, crlfDelay: Infinity });
    lines.on("line", (line) => {
      const answer = JSON.parse(line) as { id: number; ok: boolean; line?: number | null; column?: number | null; message?: string };
      const waiter = this.#pending.get(answer.id);
      if (!waiter) return;
      this.#pending.delete(answer.id);
      waiter.resolve(answer.ok ? { ok: true } : { ok: false, line: answer.line ?? null, column: answer.column ?? null, message: answer.message ?? "invalid syntax" });
    });
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiter of this.#pending.values()) waiter.reject(this.#failure);
    this.#pending.clear();
  }

  /** Parses `code` with Python; resolves to the verdict, rejects only if the interpreter is gone. */
  check(code: string): Promise<SyntaxVerdict> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.stdin.write(`${JSON.stringify({ id, code })}\n`);
    });
  }

  /** Ends the interpreter (after the checks in flight are answered). */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => this.#child.once("close", () => resolve()));
    this.#child.stdin.end();
    await closed;
    this.#failure ??= new SyntaxCheckerError("the syntax checker is closed");
  }
}
