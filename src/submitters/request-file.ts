/**
 * Reading a request file before anything is sent: every line must be a valid Batch request line
 * and every custom_id unique; the first problem throws, naming file:line (custom_id). With
 * `onBadLine` (submit --skip-bad) a bad line is reported there and left out instead.
 */
import { createReadStream } from "node:fs";
import { BatchRequest } from "../../schemas/batch-request.ts";
import { type BatchlineError, RecordError, RecordValidationError } from "../core/errors.ts";
import { locationOf, readJsonlBatches } from "../core/jsonl.ts";
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
  for await (const batch of readRequestFileBatches(path, options)) yield* batch;
}

/**
 * `readRequestFile` one read of the file at a time (see `readJsonlBatches`): the checked lines as
 * arrays, in file order. A bad line is reported (or thrown) after the good lines before it were
 * yielded, as one line at a time would.
 */
export async function* readRequestFileBatches(path: string, options: ReadRequestFileOptions = {}): AsyncGenerator<RequestLine[]> {
  const seen = new Map<string, number>();
  const { onBadLine } = options;
  const source = createReadStream(path, { highWaterMark: 1 << 20 });
  for await (const records of readJsonlBatches(source, { file: path, ...(onBadLine ? { onBadLine: (err) => onBadLine(err, err.at?.line ?? 0) } : {}) })) {
    const batch: RequestLine[] = [];
    for (const rec of records) {
      let problem: BatchlineError | undefined;
      const parsed = BatchRequest.safeParse(rec.value);
      if (!parsed.success) {
        problem = new RecordValidationError(locationOf(path, rec), "batch request line", flattenIssues(parsed.error));
      } else {
        const first = seen.get(parsed.data.custom_id);
        if (first === undefined) {
          seen.set(parsed.data.custom_id, rec.line);
          batch.push({ line: rec.line, text: rec.text, request: parsed.data });
          continue;
        }
        problem = new RecordError(locationOf(path, rec), `duplicate custom_id (first on line ${first}); every request needs its own id`);
      }
      if (batch.length > 0) yield batch.splice(0);
      if (!onBadLine) throw problem;
      onBadLine(problem, rec.line);
    }
    if (batch.length > 0) yield batch;
  }
}
