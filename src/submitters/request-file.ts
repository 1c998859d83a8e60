/**
 * Reading a request file before anything is sent: every line must be a valid Batch request line
 * and every custom_id unique; the first problem throws, naming file:line (custom_id). With
 * `onBadLine` (submit --skip-bad) a bad line is reported there and left out instead.
 */
import { createReadStream } from "node:fs";
import { BatchRequest } from "../../schemas/batch-request.ts";
import { type BatchlineError, RecordError, RecordValidationError } from "../core/errors.ts";
import { locationOf, readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";

/** A checked request line: its 1-based line, raw text and parsed request. */
export interface RequestLine {
  line: number;
  text: string;
  request: BatchRequest;
}

export interface ReadRequestFileOptions {
  /** Called for a line that is not JSON, not a request or repeats a custom_id; the line is left out. Without it, the error is thrown. */
  onBadLine?: (error: BatchlineError, line: number) => void;
}

/** Streams a request file's lines, each checked; a bad or repeated line throws (or goes to `onBadLine`). */
export async function* readRequestFile(path: string, options: ReadRequestFileOptions = {}): AsyncGenerator<RequestLine> {
  const seen = new Map<string, number>();
  const { onBadLine } = options;
  const bad = (err: BatchlineError, line: number) => {
    if (!onBadLine) throw err;
    onBadLine(err, line);
  };
  const source = createReadStream(path, { highWaterMark: 1 << 20 });
  for await (const rec of readJsonl(source, { file: path, ...(onBadLine ? { onBadLine: (err) => onBadLine(err, err.at?.line ?? 0) } : {}) })) {
    const at = locationOf(path, rec);
    const parsed = BatchRequest.safeParse(rec.value);
    if (!parsed.success) {
      bad(new RecordValidationError(at, "batch request line", flattenIssues(parsed.error)), rec.line);
      continue;
    }
    const first = seen.get(parsed.data.custom_id);
    if (first !== undefined) {
      bad(new RecordError(at, `duplicate custom_id (first on line ${first}); every request needs its own id`), rec.line);
      continue;
    }
    seen.set(parsed.data.custom_id, rec.line);
    yield { line: rec.line, text: rec.text, request: parsed.data };
  }
}
