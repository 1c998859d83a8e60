/**
 * Worker-thread entry of stage-workers.ts: loads the stage named in workerData once, then runs
 * `runStage` over each batch of whole lines it is sent and answers with the JSONL bytes.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadStage } from "../../stages/index.ts";
import { BatchlineError, JsonlParseError, hasLocation } from "../core/errors.ts";
import { type JsonlRecord, lineText, readRawLines } from "../core/jsonl.ts";
import { type SkippedRecord, runStage } from "../core/stage.ts";
import type { ErrorData, StageBatch, StageBatchResult, StageWorkerData } from "./stage-workers.ts";

const data = workerData as StageWorkerData;
const stage = (await loadStage(data.stage))!;

function errorData(err: unknown): ErrorData {
  const e = err instanceof Error ? err : new Error(String(err));
  return { expected: e instanceof BatchlineError, name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), ...(hasLocation(e) ? { at: e.at } : {}) };
}

/** The batch's records as `readJsonl` reads them (line numbers of the whole input); bad JSON throws, or is skipped with --skip-bad. */
async function* records(batch: StageBatch, skipped: StageBatchResult["skipped"]): AsyncGenerator<JsonlRecord> {
  // A line after the first that starts with a BOM keeps it (only the file's first line loses one):
  // a blank line in front makes it the batch's second line.
  const parts = batch.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)); // views, not copies
  const head = parts.length === 1 || parts[0]!.length >= 3 ? parts[0]! : Buffer.concat(parts).subarray(0, 3);
  const bom = batch.firstLine > 1 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
  const shift = batch.firstLine - 1 - (bom ? 1 : 0);
  const source = bom ? [Buffer.from("\n"), ...parts] : parts;
  for await (const raw of readRawLines(source)) {
    const line = raw.line + shift;
    const text = lineText(raw.bytes);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      const err = new JsonlParseError({ file: data.file, line }, `not valid JSON (${(cause as Error).message})`, { cause });
      if (!data.skipBad) throw err;
      skipped.push({ at: err.at, error: errorData(err) });
      continue;
    }
    yield { line, text, offset: 0, value };
  }
}

/**
 * JSONL bytes written line by line into one buffer of their own (transferable): each line is
 * UTF-8 encoded in place, with no joined string to flatten and copy again.
 */
class JsonlBytes {
  private buf: Buffer;
  private length = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafeSlow(capacity);
  }

  push(text: string): void {
    // `write` stops before a character that does not fit (at most 4 bytes): a line that leaves
    // fewer than 5 bytes free may be cut, so it is written again into a bigger buffer.
    const room = this.buf.length - this.length;
    const written = this.buf.write(text, this.length);
    if (room - written < 5) {
      const need = Buffer.byteLength(text) + 1;
      if (need > room) {
        const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.length + need));
        this.buf.copy(grown, 0, 0, this.length);
        this.buf = grown;
        this.buf.write(text, this.length);
      }
      this.length += need - 1;
    } else this.length += written;
    this.buf[this.length++] = 0x0a;
  }

  bytes(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.length);
  }
}

parentPort!.on("message", async (message: { id: number; job: StageBatch }) => {
  const result: StageBatchResult = { out: new Uint8Array(0), skipped: [] };
  // Output lines are about as long as input lines: rewrites change a few small fields.
  const size = message.job.parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new JsonlBytes(size + (size >> 3) + 4096);
  try {
    const onSkip = data.skipBad ? (s: SkippedRecord) => result.skipped.push({ at: s.at, error: errorData(s.error) }) : undefined;
    for await (const record of runStage(stage, records(message.job, result.skipped), { file: data.file, options: data.options, ...(onSkip ? { onSkip } : {}) })) out.push(JSON.stringify(record));
  } catch (err) {
    result.error = errorData(err);
  }
  result.out = out.bytes();
  parentPort!.postMessage({ id: message.id, result }, [result.out.buffer as ArrayBuffer]);
});
