/**
 * A per-record stage (`perRecord: true`, e.g. `requests/rewrite`) on worker threads: the input's
 * bytes go out in batches of whole lines (about BATCH_BYTES each, no line parsed on the main
 * thread), each worker parses, validates, transforms, validates and stringifies its batch with
 * `runStage` (stage-worker.ts), and the JSONL text comes back as bytes, written in input order.
 * Output, skipped lines and the first error are the same as `runStage` on one thread gives:
 * an error stops the output after the lines before it, as it would there.
 */
import { availableParallelism } from "node:os";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchlineError, type Location } from "../core/errors.ts";
import type { SkippedRecord } from "../core/stage.ts";
import { WorkerPool, mapOrdered } from "./worker-pool.ts";

/** What a worker gets once: the stage, the input's name in messages, its raw options, whether bad lines are skipped. */
export interface StageWorkerData {
  stage: string;
  file: string;
  options: unknown;
  skipBad: boolean;
}

/**
 * One batch: whole lines of the input, the first of them being physical line `firstLine`, in
 * parts that each own their ArrayBuffer (moved to the worker, not copied); a line may span parts.
 */
export interface StageBatch {
  parts: Uint8Array[];
  firstLine: number;
}

/** An error as it crosses threads: `expected` for a BatchlineError (printed as one line), else a bug (with its stack). */
export interface ErrorData {
  expected: boolean;
  name: string;
  message: string;
  stack?: string;
  at?: Location;
}

/** A batch done: JSONL bytes of its outputs (up to an error), the lines skipped, and the error that stopped it. */
export interface StageBatchResult {
  out: Uint8Array;
  skipped: { at: Location; error: ErrorData }[];
  error?: ErrorData;
}

const BATCH_BYTES = 1 << 20;
const NEWLINE = 0x0a;

/** Input of at least this size runs on workers when `workers` is "auto". */
export const AUTO_WORKERS_BYTES = 32 * 1024 * 1024;

/** Workers for a stage: "auto" = one per core up to 4 for inputs of AUTO_WORKERS_BYTES or more (size unknown: 1). */
export function stageWorkerCount(workers: number | "auto", inputBytes: number | undefined): number {
  if (workers !== "auto") return Math.max(1, Math.floor(workers));
  return inputBytes !== undefined && inputBytes >= AUTO_WORKERS_BYTES ? Math.min(4, availableParallelism()) : 1;
}

/**
 * `chunk` as bytes that own their whole ArrayBuffer (so it can move to a worker): the chunk
 * itself when it does, else a copy. Node's streams hand each chunk's buffer over (a file's reads
 * get a buffer each); a slice of a shared buffer, such as Buffer's pool, is copied.
 */
function owned(chunk: Uint8Array | string): Buffer {
  if (typeof chunk !== "string" && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer) {
    return Buffer.from(chunk.buffer, 0, chunk.byteLength);
  }
  const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength); // never a slice of Buffer's shared pool
  copy.set(bytes);
  return copy;
}

/**
 * Whole-line batches of a byte stream, each with its first physical line number. A batch takes
 * the chunks as they were read (a file's reads own their buffers: no copy on this thread) and
 * ends at the last newline of the chunk that brings it to BATCH_BYTES; only the bytes after that
 * newline are copied, to start the next batch.
 */
async function* batches(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<StageBatch> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let nextLine = 1;
  const cut = (parts: Buffer[]): StageBatch => {
    const batch = { parts, firstLine: nextLine };
    for (const part of parts) for (let nl = part.indexOf(NEWLINE); nl !== -1; nl = part.indexOf(NEWLINE, nl + 1)) nextLine++;
    return batch;
  };
  for await (const chunk of source) {
    const buf = owned(chunk);
    const nl = pendingBytes + buf.length >= BATCH_BYTES ? buf.lastIndexOf(NEWLINE) : -1;
    if (nl === -1) {
      // below the batch size, or a line longer than the batch: wait for more
      pending.push(buf);
      pendingBytes += buf.length;
      continue;
    }
    const rest = nl + 1 < buf.length ? owned(buf.subarray(nl + 1)) : undefined;
    pending.push(buf.subarray(0, nl + 1));
    yield cut(pending);
    pending = rest ? [rest] : [];
    pendingBytes = rest?.length ?? 0;
  }
  if (pendingBytes > 0) yield cut(pending);
}

/** The error again on this thread: a BatchlineError of the same name, message and location, or a bug's Error with its stack. */
function revive(e: ErrorData): Error {
  const err = e.expected ? Object.assign(new BatchlineError(e.message), e.at ? { at: e.at } : {}) : new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/** The JSONL output of `stage` over `source` on `workers` threads, in input order. */
export async function* runStageOnWorkers(source: AsyncIterable<Uint8Array | string>, data: StageWorkerData, workers: number, onSkip?: (skipped: SkippedRecord) => void): AsyncGenerator<Buffer> {
  const ext = extname(fileURLToPath(import.meta.url)); // .ts from src/, .js from dist/
  const pool = new WorkerPool<StageBatch, StageBatchResult>(new URL(`./stage-worker${ext}`, import.meta.url), workers, { workerData: data, transfer: (b) => b.parts.map((p) => p.buffer as ArrayBuffer) });
  try {
    for await (const result of mapOrdered(batches(source), workers * 2, (batch) => pool.run(batch))) {
      for (const s of result.skipped) onSkip?.({ at: s.at, error: revive(s.error) as BatchlineError });
      if (result.out.length > 0) yield Buffer.from(result.out.buffer, result.out.byteOffset, result.out.byteLength);
      if (result.error) throw revive(result.error);
    }
  } finally {
    await pool.close();
  }
}
