/**
 * The interface every batch backend implements (one file per backend), and the shapes the shared
 * runner (`batch-runner.ts`) keeps in its state file. A backend only talks to its API; chunking,
 * state, resume, polling, retry rounds and the merged output are the runner's.
 */
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { ChunkLimits } from "../core/chunking.ts";

/** One chunk file to send as one batch. `key` is unique per run and chunk, and is how a crashed run finds its uploads and batches again. */
export interface ChunkRef {
  key: string;
  path: string;
  lines: number;
  bytes: number;
  model: string;
  endpoint: string;
  /** How messages name the chunk to a user (`chunk 4/40`); backends fall back to `key`. */
  label?: string;
}

/** Where a remote batch is: still running, ended with results to fetch (completed, expired, cancelled), or failed as a whole. */
export interface RemoteStatus {
  /** The backend's own word, e.g. in_progress, ended, expired. */
  status: string;
  phase: "running" | "ended" | "failed";
  counts: { total: number; completed: number; failed: number };
  /** The server's hint for the next poll. */
  pollAfterMs?: number;
  /** For failed batches: why, with 1-based chunk line numbers where the API gives them. */
  errors?: { line: number | null; code: string; message: string }[];
}

/** What the runner needs from a backend. Every method takes explicit data; none reads env. */
export interface BatchBackend {
  readonly name: string;
  readonly limits: ChunkLimits;
  /** Looks at each request line of a new run before anything is sent: why this backend cannot send it (the run stops, naming the line), or undefined. */
  checkRequest?(request: BatchRequest): string | undefined;
  /** What the backend will change or drop in the requests it checked, one line each; logged once, after the check. */
  requestNotes?(): string[];
  /** Uploads the chunk file (backends whose create takes the requests inline have none). */
  upload?(chunk: ChunkRef, signal?: AbortSignal): Promise<string>;
  /** An upload made for this chunk key by an earlier, interrupted run. */
  findUpload?(chunk: ChunkRef, signal?: AbortSignal): Promise<string | undefined>;
  /** Creates the batch; returns its id. */
  create(chunk: ChunkRef, uploadId: string | undefined, signal?: AbortSignal): Promise<string>;
  /** A batch created for this chunk key by an earlier, interrupted run; `startedAt` (ms) is when that create began. */
  findBatch(chunk: ChunkRef, startedAt: number | undefined, signal?: AbortSignal): Promise<string | undefined>;
  retrieve(batchId: string, signal?: AbortSignal): Promise<RemoteStatus>;
  /** The batch's results as OpenAI Batch output lines (JSON text, one per line, any order): outputs and errors. */
  results(batchId: string, chunk: ChunkRef, signal?: AbortSignal): AsyncIterable<string>;
  cancel(batchId: string, signal?: AbortSignal): Promise<void>;
}
