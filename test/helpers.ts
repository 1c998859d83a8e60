/** Shared test helpers: run the CLI as a child process, temp dirs, chunked byte streams. */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Executor } from "../src/server/executors.ts";

// Tests never touch the user's request cache: the CLI children they start run with it off unless a
// test names a cache of its own (env BATCHLINE_CACHE / --cache) or clears this.
process.env.BATCHLINE_CACHE ??= "off";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = join(ROOT, "src/cli/main.ts");
export const FIXTURES = join(ROOT, "fixtures");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `batchline ...args` with the Node that runs the tests; `input` is written to stdin. */
export function runCli(args: string[], options: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.on("error", () => {}); // the CLI may exit before reading all of stdin
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "batchline-test-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Files in `dir` whose names mark them as atomic-write temp files. */
export async function tempLeftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.includes(".tmp-"));
}

/** The bytes of `text` cut into chunks of `size` bytes (Infinity: one chunk), as a stream would deliver them. */
export async function* chunks(text: string | Buffer, size: number): AsyncGenerator<Buffer> {
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  if (!Number.isFinite(size)) {
    yield bytes;
    return;
  }
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Collects an async iterable into an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Parses JSONL text into values (test-side, deliberately naive). */
export function parseLines(text: string): unknown[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

let pythonCache: string | undefined;
/** A Python interpreter that has pytest: `python3` on PATH if it does, else Debian's /usr/bin/python3 (apt python3-pytest). */
export function pythonWithPytest(): string {
  if (pythonCache) return pythonCache;
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(candidate, ["-c", "import pytest"], { stdio: "ignore" });
    if (r.status === 0) return (pythonCache = candidate);
  }
  throw new Error("no python3 with pytest: install python3-pytest (apt) or pytest for python3");
}

/** Every file under `root` (relative path -> text), for comparing whole output directories. */
export async function readTree(root: string): Promise<Map<string, string>> {
  const { readdir: list, readFile: read } = await import("node:fs/promises");
  const out = new Map<string, string>();
  async function walk(d: string, rel: string): Promise<void> {
    for (const e of await list(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name), `${rel}${e.name}/`);
      else out.set(`${rel}${e.name}`, await read(join(d, e.name), "utf8"));
    }
  }
  await walk(root, "");
  return out;
}

/** A request body as text (test servers read whole bodies; they are small). */
export async function readBody(req: AsyncIterable<unknown>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

/** A batch server executor that answers every request with a chat completion naming its custom_id (10 prompt, 5 completion tokens). */
export const echoExecutor: Executor = async (request) => ({
  response: {
    status_code: 200,
    request_id: `req_${request.custom_id}`,
    body: { id: "chatcmpl-x", object: "chat.completion", model: request.body.model, choices: [{ index: 0, message: { role: "assistant", content: `answer to ${request.custom_id}` }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } },
  },
  error: null,
});
