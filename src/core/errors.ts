/**
 * Error hierarchy. Every expected failure is a `BatchlineError` subclass carrying data;
 * the CLI prints `batchline: <message>` for these and exits 1. Anything else is a bug.
 */

/** Where a record came from: file (or `-`), 1-based physical line, and its custom_id if known. */
export interface Location {
  file: string;
  line?: number;
  customId?: string;
}

/** `file:line (custom_id=x)`, the prefix every record-level message starts with. */
export function formatLocation(at: Location): string {
  let s = at.line === undefined ? at.file : `${at.file}:${at.line}`;
  if (at.customId !== undefined) s += ` (custom_id=${at.customId})`;
  return s;
}

/** Base class of every expected failure. */
export class BatchlineError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad command line or option value. */
export class UsageError extends BatchlineError {}

/**
 * A batch API refused to take a batch because the enqueued-token limit of its model is reached
 * (OpenAI's `token_limit_exceeded`): waiting until other batches finish and trying again works.
 */
export class TokenLimitError extends BatchlineError {}

/** An API error as one line: the SDKs' messages already start with the status, so it is not repeated ("400 400 ..."). */
export function apiErrorText(status: number | undefined, message: string): string {
  const text = message.trim();
  if (status === undefined || text.startsWith(String(status))) return text;
  return `${status} ${text}`;
}

/** A line that is not valid JSON (or not a JSON object). */
export class JsonlParseError extends BatchlineError {
  readonly at: Location;
  constructor(at: Location, what: string, options?: ErrorOptions) {
    super(`${formatLocation(at)}: ${what}`, options);
    this.at = at;
  }
}

/** One validation issue, flattened from zod: dotted path and message. */
export interface Issue {
  path: string;
  message: string;
}

/** A record that does not match a schema; `issues` lists every problem found. */
export class RecordValidationError extends BatchlineError {
  readonly at: Location;
  readonly schema: string;
  readonly issues: Issue[];
  constructor(at: Location, schema: string, issues: Issue[]) {
    const detail = issues.map((i) => (i.path ? `${i.message} at ${i.path}` : i.message)).join("; ");
    super(`${formatLocation(at)}: not a valid ${schema}: ${detail}`);
    this.at = at;
    this.schema = schema;
    this.issues = issues;
  }
}

/** A failure attributed to one record (thrown by a transform, or a join problem). */
export class RecordError extends BatchlineError {
  readonly at: Location;
  readonly reason: string;
  constructor(at: Location, reason: string, options?: ErrorOptions) {
    super(`${formatLocation(at)}: ${reason}`, options);
    this.at = at;
    this.reason = reason;
  }
}

/** True for errors that already say which record they are about. */
export function hasLocation(err: unknown): err is BatchlineError & { at: Location } {
  return err instanceof BatchlineError && typeof (err as { at?: unknown }).at === "object";
}
