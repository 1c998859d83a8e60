/**
 * Fault switches for `batchline serve`, so that clients (and batchline's own tests) can meet every
 * way a real Batch API misbehaves without waiting 24 hours for it.
 */

/** A rule that answers matching lines with an HTTP error instead of executing them. */
export interface LineErrorRule {
  /** custom_ids matching this are answered with `status`. */
  match: RegExp;
  status: number;
  /** Fail each matching custom_id only this many times, then answer it normally (a transient error). */
  times?: number;
}

/** All switches; every one is off by default. */
export interface Faults {
  /** ms spent in each of validating, in_progress (at least) and finalizing. */
  stepDelayMs?: number;
  /** Fail every batch at validation with a whole-file error on line 1. */
  failValidation?: boolean;
  /** Fail every batch with `token_limit_exceeded`. */
  tokenLimitExceeded?: boolean;
  /**
   * An enqueued-token limit per model, as OpenAI applies it: a batch whose input tokens, added to
   * those of the model's batches still in progress, pass it fails validation with `token_limit_exceeded`.
   */
  enqueuedTokenLimit?: number;
  /** Answer matching lines with HTTP errors. */
  lineErrors?: LineErrorRule[];
  /** Expire each batch after this many lines are done: the rest get `batch_expired` in the error file. */
  expireAfterLines?: number;
  /** Every n-th GET of a batch or of file content is answered with `flakyStatus`. */
  flakyEvery?: number;
  flakyStatus?: number;
  /** Write output and error files in a shuffled order. */
  shuffle?: boolean;
  /** Sent as `openai-poll-after-ms` on batch retrieval. */
  pollAfterMs?: number;
}

/** Parses `--line-error STATUS[xTIMES]=REGEX` values, e.g. `500=__pass3$` or `429x1=.` (every id fails once). */
export function parseLineErrorRule(text: string): LineErrorRule {
  const m = /^([0-9]{3})(?:x([0-9]+))?=(.*)$/s.exec(text);
  const status = m ? Number(m[1]) : NaN;
  if (!m || status < 400 || status > 599) {
    throw new Error(`--line-error ${text}: expected STATUS[xTIMES]=REGEX with a 4xx/5xx status, e.g. 500=__pass3$ or 500x1=.`);
  }
  return { status, match: new RegExp(m[3]!), ...(m[2] !== undefined ? { times: Number(m[2]) } : {}) };
}
