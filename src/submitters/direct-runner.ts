/**
 * The shared driver of direct backends (openai-compatible, replay): answers one request line at a
 * time with bounded concurrency. Every answer is appended to a journal (`<output>.partial.jsonl`)
 * as soon as it arrives, with the sha256 of the request line it answers, so a kill loses at most
 * the requests in flight. A re-run reuses a success only for the same request: same custom_id and
 * same request line (a changed line, e.g. another model, is sent again). At the end the output is
 * written atomically, in request order, each custom_id once; `<output>.sha256.jsonl` keeps the
 * hash of the request each output line answers, and the journal is removed.
 */
import { hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rm, stat, truncate } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { BatchRequest } from "../../schemas/batch-request.ts";
import { BatchOutput, isSuccess } from "../../schemas/openai-batch-output.ts";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { BatchlineError } from "../core/errors.ts";
import { drained, joinLines, readJsonl, readJsonlBatches, readJsonlLines } from "../core/jsonl.ts";
import { mapConcurrent } from "../internal/concurrency.ts";
import { type ReplayEntry, ReplayIndex, mergedLine } from "../internal/replay-index.ts";
import { readRequestFileBatches } from "./request-file.ts";
import type { SubmitEvent } from "./submit-events.ts";

/** A backend that answers one request at a time. */
export interface DirectBackend {
  readonly name: string;
  /** Answers one request with an OpenAI Batch output line (as an object); never throws for an API error, only for a bug or abort. */
  answer(request: BatchRequest, signal?: AbortSignal): Promise<BatchOutput>;
  close?(): Promise<void>;
}

/** A spending limit for a direct run: stop sending when what was spent plus the worst case of what is in flight would pass `limit` (USD). */
export interface DirectBudget {
  limit: number;
  /** USD an answer cost, from its reported usage (0 without usage). */
  spent(line: BatchOutput): number;
  /** USD a request can cost at most (its input, and its max_tokens or an assumed output). */
  worstCase(request: BatchRequest): number;
}

export interface DirectJobOptions {
  requests: string;
  output: string;
  concurrency?: number;
  /** With --max-cost: the job's answers (earlier runs' included) stay within it; a run that would pass it stops sending and throws, keeping its journal. */
  budget?: DirectBudget;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** ms between progress lines (default 5000). */
  progressEveryMs?: number;
  /** Structured progress: a status snapshot a few times a second, and messages (see submit-events.ts). */
  onEvent?: (event: SubmitEvent) => void;
  /** Leave out request lines that are not valid, reporting each here, instead of refusing the file. */
  onBadLine?: (error: BatchlineError) => void;
  /** Called with each success this run receives, once it is in the journal: its request and its output line as the output will have it (the request cache stores it). */
  onSucceeded?: (request: BatchRequest, outputLine: string) => void;
}

/** ms between two status events of a direct job. */
const STATUS_EVERY_MS = 200;

export interface DirectJobSummary {
  output: string;
  total: number;
  sent: number;
  skipped: number;
  succeeded: number;
  failed: number;
  byCode: Record<string, number>;
  seconds: number;
}

/** `out.jsonl` -> `out.jsonl.partial.jsonl`. */
export function journalPathFor(output: string): string {
  return `${output}.partial.jsonl`;
}

/** `out.jsonl` -> `out.jsonl.sha256.jsonl`: `{custom_id, request_sha256}` of every line of a finished output. */
export function requestHashesPathFor(output: string): string {
  return `${output}.sha256.jsonl`;
}

/** The sha256 (hex) of a request line's text, the key a direct backend's resume uses. */
export function requestHash(text: string): string {
  return hash("sha256", text.replace(/\r$/, ""), "hex"); // one-shot: no Hash object per request line
}

/** A journal line: the output line with the hash of its request as its last field. */
export function journalLine(outputLine: string, hash: string): string {
  return `${outputLine.slice(0, outputLine.lastIndexOf("}"))},"request_sha256":"${hash}"}`;
}

const HASH_FIELD = /^,"request_sha256":"([0-9a-f]{64})"\}$/;
/** Characters of the hash field at the end of a journal line. */
const HASH_FIELD_CHARS = ',"request_sha256":"'.length + 64 + '"}'.length;

/** The request hash a journal line ends with, or undefined. Looks at the line's tail only: a line can be 100s of KB. */
function hashOf(text: string): string | undefined {
  return HASH_FIELD.exec(text.slice(-HASH_FIELD_CHARS))?.[1];
}

/** The output line of a journal line (its hash field removed). */
function outputLineOf(text: string): string {
  return hashOf(text) === undefined ? text : `${text.slice(0, -HASH_FIELD_CHARS)}}`;
}

/** Cuts a journal back to its last complete line (a kill can leave half a line). */
async function repairJournal(path: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return;
  }
  if (size === 0) return;
  const fh = await open(path, "r");
  try {
    const tail = Buffer.alloc(Math.min(size, 1 << 16));
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - tail.length);
      const { bytesRead } = await fh.read(tail, 0, end - start, start);
      const nl = tail.subarray(0, bytesRead).lastIndexOf(10);
      if (nl !== -1) {
        end = start + nl + 1;
        break;
      }
      end = start;
    }
    if (end !== size) await truncate(path, end);
  } finally {
    await fh.close();
  }
}

/** Runs (or resumes) a direct job. */
export async function runDirectJob(backend: DirectBackend, options: DirectJobOptions): Promise<DirectJobSummary> {
  const started = Date.now();
  const journal = journalPathFor(options.output);
  await mkdir(dirname(resolve(journal)), { recursive: true });
  await repairJournal(journal);
  const onEvent = options.onEvent;
  const log = (line: string, kind?: "resumed"): void => {
    options.log?.(line);
    onEvent?.({ type: "message", level: "event", backend: backend.name, text: line.replace(`[${backend.name}] `, ""), ...(kind ? { kind } : {}) });
  };

  // Check the whole request file before sending anything (valid lines, unique ids), and hash each line.
  // With onBadLine, a bad line is left out: `badLines` holds its line number for the later passes.
  const hashes = new Map<string, string>();
  const badLines = new Set<number>();
  const onBadLine = options.onBadLine;
  const readOptions = onBadLine ? { onBadLine: (err: BatchlineError, line: number) => (badLines.add(line), onBadLine(err)) } : {};
  for await (const batch of readRequestFileBatches(options.requests, readOptions)) for (const rec of batch) hashes.set(rec.request.custom_id, requestHash(rec.text));
  const total = hashes.size;

  // What is already answered for these very requests: successes in an existing output (a finished
  // earlier run, whose hashes sit beside it) and in the journal (each line carries its hash).
  const fromOutput = new Set<string>();
  let spentBefore = 0;
  const outputHashes = new Map<string, string>();
  try {
    for await (const rec of readJsonl(createReadStream(requestHashesPathFor(options.output)), { file: requestHashesPathFor(options.output), onBadLine: () => {} })) {
      const v = rec.value as { custom_id?: unknown; request_sha256?: unknown };
      if (typeof v.custom_id === "string" && typeof v.request_sha256 === "string") outputHashes.set(v.custom_id, v.request_sha256);
    }
    for await (const rec of readJsonl(createReadStream(options.output), { file: options.output, onBadLine: () => {} })) {
      const parsed = BatchOutput.safeParse(rec.value);
      if (parsed.success && isSuccess(parsed.data) && outputHashes.get(parsed.data.custom_id) === hashes.get(parsed.data.custom_id)) {
        fromOutput.add(parsed.data.custom_id);
        spentBefore += options.budget?.spent(parsed.data) ?? 0;
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  // The journal keeps only successes for the current requests; anything else is sent again.
  const done = new Set(fromOutput);
  const kept: string[] = [];
  // Where each id's line is in the journal, kept while writing it, so the final merge needs no pass over it.
  const journalEntries = new Map<string, ReplayEntry>();
  let journalBytes = 0;
  let changed = 0;
  try {
    for await (const { text } of readJsonlLines(createReadStream(journal))) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        continue;
      }
      const parsed = BatchOutput.safeParse(value);
      const hash = hashOf(text);
      if (!parsed.success || !isSuccess(parsed.data)) continue;
      if (hash === undefined || hash !== hashes.get(parsed.data.custom_id)) {
        changed++;
        continue;
      }
      if (!done.has(parsed.data.custom_id)) spentBefore += options.budget?.spent(parsed.data) ?? 0;
      done.add(parsed.data.custom_id);
      const bytes = Buffer.byteLength(text);
      journalEntries.set(parsed.data.custom_id, { offset: journalBytes, bytes, ok: true });
      journalBytes += bytes + 1;
      kept.push(text);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await writeFileAtomic(journal, joinLines(kept));
  const skipped = done.size;
  if (changed > 0) log(`[${backend.name}] ${changed} earlier answer(s) were for other request lines (changed since): sending those again`);
  if (skipped > 0) log(`[${backend.name}] resuming: ${skipped} request(s) already answered, sending the rest`, "resumed");

  const sink = createWriteStream(journal, { flags: "a", highWaterMark: 1 << 20 });
  let sinkError: Error | undefined;
  sink.on("error", (err) => (sinkError ??= err));
  let corked = false;
  /**
   * Appends one answer to the journal, noting where it went. The answers that arrive in one turn of
   * the event loop go out in one write (corked until setImmediate), not one write each: a kill
   * loses at most those and the requests in flight, and they are sent again by the next run.
   */
  const append = async (line: BatchOutput): Promise<string> => {
    if (sinkError) throw sinkError;
    const text = JSON.stringify(line);
    const bytes = Buffer.from(`${journalLine(text, hashes.get(line.custom_id)!)}\n`);
    const ok = isSuccess(line);
    if (ok || !journalEntries.get(line.custom_id)?.ok) journalEntries.set(line.custom_id, { offset: journalBytes, bytes: bytes.length - 1, ok });
    journalBytes += bytes.length;
    if (!corked) {
      corked = true;
      sink.cork();
      setImmediate(() => {
        corked = false;
        sink.uncork();
      });
    }
    if (!sink.write(bytes)) await drained(sink);
    return text;
  };
  let sent = 0;
  let answered = 0;
  let failedNow = 0;
  let lastLog = Date.now();
  // --max-cost: what was spent (earlier runs included) and the worst case of what is in flight.
  const budget = options.budget;
  const spending = { spent: spentBefore, inFlight: 0, reserved: new Map<string, number>(), settled: () => {} };
  let stopped: { customId: string; line: number; worstCase: number; notSent: number } | undefined;
  /** True when `req` fits the budget; waits for answers in flight while it does not, since they may cost less than their worst case. */
  async function fits(req: BatchRequest): Promise<boolean> {
    const worst = budget!.worstCase(req);
    while (spending.spent + spending.inFlight + worst > budget!.limit) {
      if (spending.reserved.size === 0) return false;
      await new Promise<void>((resolve) => (spending.settled = resolve));
    }
    spending.inFlight += worst;
    spending.reserved.set(req.custom_id, worst);
    return true;
  }
  let lastStatus = 0;
  const status = (): void => {
    lastStatus = Date.now();
    onEvent?.({ type: "status", status: { backend: backend.name, requestFile: options.requests, total, done: answered + skipped, failed: failedNow, round: 0, lastRound: 0 } });
  };
  status();
  async function* pending(): AsyncGenerator<BatchRequest> {
    const source = createReadStream(options.requests, { highWaterMark: 1 << 20 });
    for await (const batch of readJsonlBatches(source, { file: options.requests, ...(badLines.size > 0 ? { onBadLine: () => {} } : {}) })) {
      for (const rec of batch) {
        if (badLines.has(rec.line)) continue;
        const req = rec.value as BatchRequest;
        if (done.has(req.custom_id)) continue;
        if (stopped) {
          stopped.notSent++;
          continue;
        }
        if (budget && !(await fits(req))) {
          stopped = { customId: req.custom_id, line: rec.line, worstCase: budget.worstCase(req), notSent: 1 };
          continue;
        }
        sent++;
        yield req;
      }
    }
  }
  const onSucceeded = options.onSucceeded;
  const answer = budget
    ? async (request: BatchRequest) => {
        try {
          const line = await backend.answer(request, options.signal);
          spending.spent += budget.spent(line);
          return { request, line };
        } finally {
          spending.reserved.delete(request.custom_id);
          // summed again rather than subtracted, so that no rounding is left over when nothing is in flight
          spending.inFlight = [...spending.reserved.values()].reduce((a, b) => a + b, 0);
          spending.settled();
        }
      }
    : async (request: BatchRequest) => ({ request, line: await backend.answer(request, options.signal) });
  try {
    for await (const { request, line } of mapConcurrent(pending(), options.concurrency ?? 16, answer)) {
      const text = await append(line);
      answered++;
      if (!isSuccess(line)) failedNow++;
      else onSucceeded?.(request, text);
      if (onEvent && Date.now() - lastStatus >= STATUS_EVERY_MS) status();
      if (options.log && Date.now() - lastLog >= (options.progressEveryMs ?? 5000)) {
        lastLog = Date.now();
        const secs = (Date.now() - started) / 1000;
        options.log(`[${backend.name}] ${answered + skipped}/${total} answered (${failedNow} failed), ${(answered / secs).toFixed(1)} req/s`);
      }
    }
    status();
  } finally {
    await new Promise<void>((resolve) => sink.end(resolve));
    await backend.close?.();
  }
  if (sinkError) throw sinkError;
  if (stopped && budget) {
    const usd = (n: number) => `$${n.toFixed(4)}`;
    throw new BatchlineError(
      `--max-cost ${budget.limit}: stopped sending at ${options.requests}:${stopped.line} (custom_id=${stopped.customId}): ${usd(spending.spent)} spent (earlier runs included) and that request could cost up to ${usd(stopped.worstCase)}; ` +
        `${answered + skipped} of ${total} answered, ${stopped.notSent} not sent. The answers are kept in ${journal}: run the same command with a higher --max-cost to send the rest`,
    );
  }

  // Final output: request order, each id once: this request's answer from the journal (the latest
  // success, else the latest failure), else the earlier output's when it answered this very request.
  // The ids in request order are the keys of `hashes` (the bad lines left out), so the request
  // file is not read again.
  const journalIndex = await ReplayIndex.fromEntries(journal, journalEntries);
  const outputIndex = fromOutput.size > 0 ? await ReplayIndex.open(options.output) : undefined;
  const sources = outputIndex ? [outputIndex, journalIndex] : [journalIndex];
  const summary: DirectJobSummary = { output: options.output, total, sent, skipped, succeeded: 0, failed: 0, byCode: {}, seconds: 0 };
  async function* lines(): AsyncGenerator<string> {
    for (const id of hashes.keys()) {
      const from = journalIndex.has(id) || !fromOutput.has(id) ? [journalIndex] : [outputIndex!];
      yield outputLineOf((await mergedLine(from, id, summary, "no answer was recorded for this request"))!);
    }
  }
  try {
    await writeFileAtomic(options.output, joinLines(lines()));
  } finally {
    await Promise.all(sources.map((s) => s.close()));
  }
  await writeFileAtomic(requestHashesPathFor(options.output), joinLines([...hashes].map(([custom_id, request_sha256]) => JSON.stringify({ custom_id, request_sha256 }))));
  await rm(journal, { force: true });
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}
