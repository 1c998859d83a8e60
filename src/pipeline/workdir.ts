/**
 * A pipeline's work directory: a run lock (`.lock`, taken over when its process is dead), and a
 * manifest (`manifest.json`) recording each finished step with the hash of its inputs and
 * options, so a re-run skips what is done and unchanged and redoes the rest.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { BatchlineError } from "../core/errors.ts";
import { acquireLock } from "../internal/run-lock.ts";

export interface StepRecord {
  hash: string;
  finishedAt: string;
  seconds: number;
  outputs: string[];
  /** Records it produced (0 = empty), counting picks appended in a round. */
  produced?: number;
  /** Its report entry, so a skipped step still reports. */
  summary?: Record<string, unknown>;
}

export interface Manifest {
  version: 1;
  pipeline: string;
  steps: Record<string, StepRecord>;
  /** Hash of each step's last start: a step started again with the same hash resumes, with another it starts over. */
  started?: Record<string, string>;
}

/** sha256 of a file's bytes; "absent" when there is none. */
export async function fileHash(path: string): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    throw err;
  }
  return hash.digest("hex");
}

/** The hash that decides whether a step must run again: its name, options and input files' contents. */
export async function stepHash(step: string, options: unknown, inputs: string[]): Promise<string> {
  const hash = createHash("sha256").update(step).update("\0").update(JSON.stringify(options));
  for (const input of inputs) hash.update("\0").update(input).update("\0").update(await fileHash(input));
  return hash.digest("hex");
}

/** Takes the run lock of `dir` (`<dir>/.lock`); see `acquireLock`. Returns the release function. */
export async function lockWorkdir(dir: string, log: (line: string) => void): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  return acquireLock(join(dir, ".lock"), dir, log);
}

export async function loadManifest(dir: string, pipeline: string): Promise<Manifest> {
  const path = join(dir, "manifest.json");
  try {
    const m = JSON.parse(await readFile(path, "utf8")) as Manifest;
    if (m.pipeline !== pipeline) throw new BatchlineError(`${dir} holds a ${m.pipeline} run; use another --workdir for ${pipeline}`);
    return m;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, pipeline, steps: {} };
    if (err instanceof BatchlineError) throw err;
    throw new BatchlineError(`${path}: not a valid manifest (${(err as Error).message}); move it away to start over`);
  }
}

export async function saveManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
}

/** True when every output exists. */
export async function outputsExist(outputs: string[]): Promise<boolean> {
  for (const o of outputs) {
    try {
      await stat(o);
    } catch {
      return false;
    }
  }
  return true;
}
