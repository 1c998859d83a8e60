/**
 * `preds.json`, SWE-ABS Stage 1's primary file: one JSON object keyed by instance id. Read as a
 * stream (stream-json), one instance at a time, so a large file is never loaded whole. Every
 * update happens under an exclusive flock(2) on `.preds.json.lock` beside it, the same lock the
 * SWE-ABS scripts take with fcntl.flock, so our writers and theirs never lose each other's
 * instances; the new file is written to a temp name and renamed.
 */
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import streamObject from "stream-json/streamers/stream-object.js";
import { BatchlineError } from "../core/errors.ts";

/** One instance of preds.json as SWE-ABS writes it; unknown fields are kept as they are. */
export type PredsInstance = Record<string, unknown> & {
  model_test_patch?: string;
  stage?: Record<string, unknown>[];
  meta?: Record<string, unknown>;
};

/** The lock file SWE-ABS uses for `path`: `.<name>.lock` in the same folder. */
export function predsLockPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.lock`);
}

/**
 * Runs `fn` holding the exclusive lock of `path`. The lock is held by a `flock` child process
 * (util-linux) for as long as `fn` runs; if this process dies, the child's stdin closes and the
 * lock goes with it.
 */
export async function withPredsLock<T>(path: string, fn: () => Promise<T>, timeoutSeconds = 600): Promise<T> {
  const child = spawn("flock", ["-x", "-w", String(timeoutSeconds), predsLockPath(path), "sh", "-c", "echo locked; read _ignored"], { stdio: ["pipe", "pipe", "pipe"] });
  const exited = once(child, "exit");
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const locked = await new Promise<boolean>((resolve, reject) => {
    child.on("error", (e) => reject(new BatchlineError(`cannot lock ${path}: flock is not available (${e.message}); install util-linux`)));
    child.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve(true));
    child.on("exit", () => resolve(false));
  });
  if (!locked) throw new BatchlineError(`could not lock ${predsLockPath(path)} within ${timeoutSeconds} s${err ? `: ${err.trim()}` : ""}`);
  try {
    return await fn();
  } finally {
    child.stdin.end("\n");
    await exited;
  }
}

/** Streams the instances of preds.json in file order; a missing file has none; broken JSON is a clear error. */
export async function* readPreds(path: string): AsyncGenerator<{ id: string; value: PredsInstance }> {
  if (!(await stat(path).catch(() => undefined))) return;
  const stream = createReadStream(path).pipe(streamObject.withParserAsStream());
  try {
    for await (const item of stream as AsyncIterable<{ key: string; value: unknown }>) {
      const value = item.value;
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw new BatchlineError(`${path}: instance ${item.key} is not a JSON object`);
      yield { id: item.key, value: value as PredsInstance };
    }
  } catch (err) {
    if (err instanceof BatchlineError) throw err;
    throw new BatchlineError(`${path}: not a valid preds.json (a JSON object keyed by instance id): ${(err as Error).message}`, { cause: err });
  }
}

/** Reads preds.json into a map (for the instances a run works on; use `readPreds` to stream). */
export async function loadPreds(path: string, ids?: ReadonlySet<string>): Promise<Map<string, PredsInstance>> {
  const out = new Map<string, PredsInstance>();
  for await (const { id, value } of readPreds(path)) if (!ids || ids.has(id)) out.set(id, value);
  return out;
}

function entry(id: string, value: unknown, first: boolean): string {
  const body = JSON.stringify(value, null, 2).replaceAll("\n", "\n  ");
  return `${first ? "" : ","}\n  ${JSON.stringify(id)}: ${body}`;
}

/**
 * Updates instances of preds.json under its lock: `update(id, old)` gives each named instance's
 * new value (old is undefined for a new one). Other instances are copied through unchanged;
 * new ones are appended. Streams old to new; atomic rename.
 */
export async function updatePreds(path: string, ids: Iterable<string>, update: (id: string, old: PredsInstance | undefined) => PredsInstance): Promise<void> {
  const pending = new Set(ids);
  await withPredsLock(path, async () => {
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
    const out = createWriteStream(tmp);
    const write = async (text: string) => {
      if (!out.write(text)) await once(out, "drain");
    };
    try {
      await write("{");
      let first = true;
      for await (const { id, value } of readPreds(path)) {
        const next = pending.has(id) ? update(id, value) : value;
        pending.delete(id);
        await write(entry(id, next, first));
        first = false;
      }
      for (const id of pending) {
        await write(entry(id, update(id, undefined), first));
        first = false;
      }
      await write(first ? "}\n" : "\n}\n");
      out.end();
      await finished(out);
      await rename(tmp, path);
    } catch (err) {
      out.destroy();
      await rm(tmp, { force: true });
      throw err;
    }
  });
}
