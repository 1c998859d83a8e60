/**
 * What a running submit tells its caller, as data: the runners (batch-runner, direct-runner)
 * emit these through `onEvent` and never write to a terminal themselves; the CLI renders them
 * (a redrawn status block on a TTY, a periodic line otherwise), and a library user can subscribe
 * to the same stream. Names in messages are the ones a user knows: the request file, the chunk
 * number (1-based, "chunk 4/40"), the batch id; never the runner's internal chunk keys.
 */

/** One batch of the current round as the last poll saw it. */
export interface BatchProgress {
  /** 1-based chunk number within its round. */
  chunk: number;
  /** The provider's batch id once created. */
  batchId?: string;
  /** The provider's own word (validating, in_progress, finalizing, completed, ended, ...), or `waiting` before the batch exists. */
  state: string;
  /** Lines of the chunk answered so far (succeeded + failed), as the provider reports them. */
  done: number;
  failed: number;
  lines: number;
}

/** Where a whole submit stands: a snapshot, emitted after each poll (batch backends) or a few times a second (direct backends). */
export interface SubmitStatus {
  backend: string;
  /** The request file as the caller named it. */
  requestFile: string;
  /** Request lines of the whole job. */
  total: number;
  /** Lines with an answer so far (succeeded or failed), over every round. */
  done: number;
  /** Of `done`, how many failed (a later retry round may still turn them into successes). */
  failed: number;
  /** 0 for the first submission, N for retry round N. */
  round: number;
  /** The last round there can be (`--retry-failed`). */
  lastRound: number;
  /** Batch backends: the current round's batches. */
  batches?: BatchProgress[];
  /** Epoch ms of the next poll, when the runner is waiting for one. */
  nextPollAt?: number;
}

/**
 * A line worth telling: `event`s are kept (a batch failed or expired, a retry round starts, a
 * resume, a token-limit backoff); `detail`s are routine (uploaded, created, downloaded) and a
 * renderer may hide them unless asked for more.
 */
export interface SubmitMessage {
  type: "message";
  level: "event" | "detail";
  backend: string;
  /** One line, without the `[backend]` prefix. */
  text: string;
  /** What happened, for subscribers that act on it. */
  kind?: "batch-failed" | "batch-ended" | "round-started" | "token-limit" | "resumed" | "poll-error" | "note";
  batchId?: string;
  chunk?: number;
  round?: number;
}

/** Everything a submit emits. */
export type SubmitEvent = { type: "status"; status: SubmitStatus } | SubmitMessage;

/** A chunk as a user names it: `chunk 4/40`, with its round when it is a retry round's. */
export function chunkLabel(chunk: number, of: number, round: number): string {
  return `${round > 0 ? `round ${round} ` : ""}chunk ${chunk}/${of}`;
}
