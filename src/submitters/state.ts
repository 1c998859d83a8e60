/**
 * The submit state file, `<output>.state.json`: enough to resume a killed `submit` without
 * uploading or creating anything twice (file ids, batch ids, chunk files, what is downloaded).
 * It never holds a key. Written atomically after every step that talks to the API.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { BatchlineError } from "../core/errors.ts";
import { flattenIssues } from "../core/stage.ts";

export const ChunkState = z.strictObject({
  key: z.string(),
  /** Chunk file name, relative to the work directory. */
  file: z.string(),
  lines: z.number().int(),
  bytes: z.number().int(),
  model: z.string(),
  endpoint: z.string(),
  uploadStarted: z.boolean().default(false),
  uploadId: z.string().optional(),
  createStarted: z.boolean().default(false),
  /** ms since the epoch when the create call began: backends without batch metadata find the batch by it. */
  createStartedAt: z.number().optional(),
  batchId: z.string().optional(),
  status: z.string().optional(),
  phase: z.enum(["running", "ended", "failed"]).optional(),
  counts: z.strictObject({ total: z.number(), completed: z.number(), failed: z.number() }).optional(),
  errors: z.array(z.strictObject({ line: z.number().nullable(), code: z.string(), message: z.string() })).optional(),
  /** Times the batch failed for the enqueued-token limit and was created again; when the next create is due (ms since the epoch). */
  tokenLimitRetries: z.number().int().optional(),
  createAfter: z.number().optional(),
  /** Results file name (relative), once downloaded (or synthesized for a failed batch). */
  results: z.string().optional(),
});
export type ChunkState = z.infer<typeof ChunkState>;

export const RoundState = z.strictObject({
  round: z.number().int(),
  chunks: z.array(ChunkState),
});
export type RoundState = z.infer<typeof RoundState>;

export const SubmitState = z.strictObject({
  version: z.literal(1),
  backend: z.string(),
  baseURL: z.string().nullable(),
  /** The API version the run sent (anthropic-batch's anthropic-version), so `batch status|download|cancel` use the same one. */
  apiVersion: z.string().nullable().optional(),
  runId: z.string(),
  requests: z.strictObject({ path: z.string(), bytes: z.number(), sha256: z.string(), lines: z.number() }),
  output: z.string(),
  /** Work directory (chunk and result files), relative to the state file's directory. */
  workDir: z.string(),
  retryFailed: z.number().int(),
  rounds: z.array(RoundState),
  done: z.boolean(),
});
export type SubmitState = z.infer<typeof SubmitState>;

/** `out.jsonl` -> `out.jsonl.state.json`. */
export function statePathFor(output: string): string {
  return `${output}.state.json`;
}

/** Reads a state file; undefined when there is none, a clear error when it is not one of ours. */
export async function loadState(path: string): Promise<SubmitState | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BatchlineError(`${path}: not a batchline state file (not JSON); move it away to start over`);
  }
  const parsed = SubmitState.safeParse(value);
  if (!parsed.success) {
    const detail = flattenIssues(parsed.error).map((i) => `${i.message} at ${i.path}`).join("; ");
    throw new BatchlineError(`${path}: not a valid batchline state file: ${detail}`);
  }
  return parsed.data;
}

/** Writes the state atomically. */
export async function saveState(path: string, state: SubmitState): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(state, null, 2) + "\n");
}
