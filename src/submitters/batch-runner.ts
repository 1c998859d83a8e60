/**
 * The shared driver of batch backends (openai-batch, anthropic-batch): split a request file into
 * chunks under the backend's limits (one model and endpoint per chunk), upload and create each
 * chunk's batch, poll with backoff, download results, resubmit what did not succeed for up to
 * `retryFailed` rounds, and write one output with every custom_id exactly once.
 *
 * Everything is recorded in `<output>.state.json` and `<output>.chunks/` before and after each
 * API call, so a run killed at any point and started again picks up where it stopped: an upload
 * or create that was started but not recorded is looked up by its chunk key before it is redone.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { BatchOutput } from "../../schemas/openai-batch-output.ts";
import { type AtomicFile, openAtomic, writeFileAtomic } from "../core/atomic-file.ts";
import { type ChunkLimits, ChunkPlanner, embeddingInputs } from "../core/chunking.ts";
import { BatchlineError, RecordError, TokenLimitError } from "../core/errors.ts";
import { joinLines, readJsonlLines, writeChunks } from "../core/jsonl.ts";
import { sleep } from "../internal/concurrency.ts";
import { randomId } from "../internal/ids.ts";
import { ReplayIndex, mergedLine } from "../internal/replay-index.ts";
import { type ChunkState, type RoundState, type SubmitState, loadState, saveState, statePathFor } from "./state.ts";
import { readRequestFile } from "./request-file.ts";
import { type SubmitEvent, type SubmitMessage, chunkLabel } from "./submit-events.ts";
import type { BatchBackend, ChunkRef } from "./types.ts";

/** How a batch job runs. Paths are files (the CLI spools stdin first). */
export interface BatchJobOptions {
  requests: string;
  output: string;
  /** Extra rounds that resubmit only the lines that did not succeed. */
  retryFailed?: number;
  /** First wait between polls; grows 1.5x per poll up to `maxPollIntervalMs`, unless the server hints otherwise. */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
  /** Smaller chunks than the backend allows (partial results sooner, smaller failures); never larger. */
  maxChunkLines?: number;
  maxChunkBytes?: number;
  /** Pause between two batch creates (default 1000 ms): creates are staggered, not fired all at once. */
  createIntervalMs?: number;
  /** First wait before a batch refused for the enqueued-token limit (`token_limit_exceeded`) is created again; doubles each time, up to 30 min (default 60 s). */
  tokenLimitBackoffMs?: number;
  /** How many times one chunk is created again after `token_limit_exceeded` before its lines count as failed (default 8). */
  tokenLimitRetries?: number;
  /** Recorded in the state file so `batch status` talks to the same server (never a key). */
  baseURL?: string | null;
  /** Recorded in the state file too: the API version the backend sends (anthropic-batch's anthropic-version). */
  apiVersion?: string | null;
  signal?: AbortSignal;
  /** Every message as one line, `[backend] text` (no status lines: those come as events). */
  log?: (line: string) => void;
  /** Structured progress: a status snapshot after each poll, and messages (see submit-events.ts). */
  onEvent?: (event: SubmitEvent) => void;
  /** Leave out request lines that are not valid (or that this backend cannot send), reporting each here, instead of refusing the file. */
  onBadLine?: (error: BatchlineError) => void;
}

/** What a finished job produced. */
export interface BatchJobSummary {
  output: string;
  total: number;
  succeeded: number;
  failed: number;
  byCode: Record<string, number>;
  rounds: number;
  batches: number;
  /** Batches that failed as a whole (validation, token limit): their lines are failures in the output. */
  failedBatches: number;
}

interface Paths {
  state: string;
  work: string;
}

function pathsFor(output: string): Paths {
  return { state: statePathFor(output), work: join(dirname(output), `${basename(output)}.chunks`) };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function chunkRef(work: string, chunk: ChunkState, label?: string): ChunkRef {
  return { key: chunk.key, path: join(work, chunk.file), lines: chunk.lines, bytes: chunk.bytes, model: chunk.model, endpoint: chunk.endpoint, ...(label ? { label } : {}) };
}

interface SourceLine {
  text: string;
  /** 1-based line in the user's request file. */
  origin: number;
  customId: string;
  model: string;
  endpoint: string;
  /** Embedding inputs the line carries (0 for other endpoints). */
  inputs: number;
}

/** Writes lines into chunk files under the backend's limits; nothing is visible until `commit`. */
async function writeChunks_(limits: ChunkLimits, work: string, runId: string, round: number, lines: AsyncIterable<SourceLine>): Promise<ChunkState[]> {
  const planner = new ChunkPlanner(limits);
  const open = new Map<number, { file: AtomicFile; state: ChunkState; origins: number[] }>();
  try {
    for await (const l of lines) {
      const bytes = Buffer.byteLength(l.text) + 1;
      const index = planner.add(`${l.endpoint} ${l.model}`, bytes, l.inputs);
      let chunk = open.get(index);
      if (!chunk) {
        const key = `${runId}-r${round}-c${String(index).padStart(3, "0")}`;
        const file = await openAtomic(join(work, `${key}.jsonl`));
        chunk = { file, origins: [], state: { key, file: `${key}.jsonl`, lines: 0, bytes: 0, model: l.model, endpoint: l.endpoint, uploadStarted: false, createStarted: false } };
        open.set(index, chunk);
      }
      await writeChunks(chunk.file.stream, [l.text, "\n"]);
      chunk.state.lines++;
      chunk.state.bytes += bytes;
      chunk.origins.push(l.origin);
    }
    const states: ChunkState[] = [];
    for (const index of [...open.keys()].sort((a, b) => a - b)) {
      const chunk = open.get(index)!;
      await writeFile(join(work, `${chunk.state.key}.lines.json`), JSON.stringify(chunk.origins));
      await chunk.file.commit();
      states.push(chunk.state);
    }
    return states;
  } catch (err) {
    await Promise.all([...open.values()].map((c) => c.file.abort()));
    throw err;
  }
}

/** The user's request file, checked (see request-file.ts) and by the backend, as chunkable lines. */
async function* requestLines(path: string, backend: BatchBackend, onBadLine?: (error: BatchlineError) => void): AsyncGenerator<SourceLine> {
  for await (const { line, text, request } of readRequestFile(path, onBadLine ? { onBadLine } : {})) {
    const refused = backend.checkRequest?.(request);
    if (refused !== undefined) {
      const err = new RecordError({ file: path, line, customId: request.custom_id }, refused);
      if (!onBadLine) throw err;
      onBadLine(err);
      continue;
    }
    yield { text, origin: line, customId: request.custom_id, model: request.body.model, endpoint: request.url, inputs: embeddingInputs(request.url, request.body) };
  }
}

/** A failure the API gave because the request itself is invalid: sent again as it is, it fails again (and costs money). */
function invalidRequest(line: BatchOutput | undefined): boolean {
  const body = line?.response?.body as { error?: { type?: unknown } } | undefined;
  return line?.error?.code === "invalid_request_error" || body?.error?.type === "invalid_request_error";
}

/** The lines of a round's chunks whose custom_id has no success in that round's results, except invalid requests (counted in `skipped`). */
async function* unsucceeded(work: string, round: RoundState, skipped: { invalid: number }): AsyncGenerator<SourceLine> {
  for (const chunk of round.chunks) {
    const index = chunk.results ? await ReplayIndex.open(join(work, chunk.results)) : undefined;
    const origins = JSON.parse(await readFile(join(work, `${chunk.key}.lines.json`), "utf8")) as number[];
    let i = 0;
    try {
      for await (const { text } of readJsonlLines(createReadStream(join(work, chunk.file)))) {
        const req = JSON.parse(text) as BatchRequest;
        const origin = origins[i++] ?? 0;
        if (index?.succeeded(req.custom_id)) continue;
        if (invalidRequest(await index?.get(req.custom_id))) {
          skipped.invalid++;
          continue;
        }
        yield { text, origin, customId: req.custom_id, model: req.body.model, endpoint: req.url, inputs: embeddingInputs(req.url, req.body) };
      }
    } finally {
      await index?.close();
    }
  }
}

function failureLine(customId: string, code: string, message: string): string {
  return JSON.stringify({ id: `batchline_${code}`, custom_id: customId, response: null, error: { code, message } });
}

/** A failed batch has no results: every line of its chunk gets a `batch_failed` line, so the round accounts for it. */
async function synthesizeFailed(work: string, chunk: ChunkState, message: string): Promise<string> {
  const name = `${chunk.key}.results.jsonl`;
  async function* lines(): AsyncGenerator<string> {
    for await (const { text } of readJsonlLines(createReadStream(join(work, chunk.file)))) {
      yield failureLine((JSON.parse(text) as BatchRequest).custom_id, "batch_failed", message);
    }
  }
  await writeFileAtomic(join(work, name), joinLines(lines()));
  return name;
}

async function download(backend: BatchBackend, work: string, chunk: ChunkState, signal?: AbortSignal): Promise<string> {
  const name = `${chunk.key}.results.jsonl`;
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt > 0) await sleep(1000 * 2 ** attempt, signal);
    try {
      await writeFileAtomic(join(work, name), joinLines(backend.results(chunk.batchId!, chunkRef(work, chunk), signal)));
      return name;
    } catch (err) {
      if (signal?.aborted) throw err;
      lastError = err;
    }
  }
  throw new BatchlineError(`[${backend.name}] could not download the results of batch ${chunk.batchId}: ${(lastError as Error).message}`, { cause: lastError });
}

/** Maps a failed batch's chunk line numbers to the user's request file lines. */
async function mapErrorLines(work: string, chunk: ChunkState, errors: NonNullable<ChunkState["errors"]>): Promise<NonNullable<ChunkState["errors"]>> {
  const origins = JSON.parse(await readFile(join(work, `${chunk.key}.lines.json`), "utf8")) as number[];
  return errors.map((e) => ({ ...e, line: e.line === null ? null : (origins[e.line - 1] ?? e.line) }));
}

const TOKEN_LIMIT_CODE = "token_limit_exceeded";
const MAX_TOKEN_LIMIT_BACKOFF_MS = 30 * 60_000;

/** A runner bound to one backend and one job. */
class BatchJob {
  readonly backend: BatchBackend;
  readonly options: BatchJobOptions;
  readonly paths: Paths;
  state!: SubmitState;

  constructor(backend: BatchBackend, options: BatchJobOptions) {
    this.backend = backend;
    this.options = options;
    this.paths = pathsFor(resolve(options.output));
  }

  get limits(): ChunkLimits {
    const { limits } = this.backend;
    return {
      ...limits,
      maxLines: Math.min(limits.maxLines, this.options.maxChunkLines ?? Infinity),
      maxBytes: Math.min(limits.maxBytes, this.options.maxChunkBytes ?? Infinity),
    };
  }

  /** Tells the caller: `log` gets the line, `onEvent` the message with what it is about. */
  say(level: SubmitMessage["level"], text: string, about: Omit<SubmitMessage, "type" | "level" | "backend" | "text"> = {}): void {
    this.options.log?.(`[${this.backend.name}] ${text}`);
    this.options.onEvent?.({ type: "message", level, backend: this.backend.name, text, ...about });
  }

  /** A chunk as the user names it (`chunk 4/40`, `round 1 chunk 2/3`), not its internal key. */
  chunkName(chunk: ChunkState): string {
    const round = this.state.rounds.find((r) => r.chunks.includes(chunk));
    return round ? chunkLabel(round.chunks.indexOf(chunk) + 1, round.chunks.length, round.round) : "chunk";
  }

  save(): Promise<void> {
    return saveState(this.paths.state, this.state);
  }

  async start(): Promise<void> {
    const existing = await loadState(this.paths.state);
    const requests = resolve(this.options.requests);
    const { size } = await stat(requests).catch(() => {
      throw new BatchlineError(`${this.options.requests}: cannot read the request file`);
    });
    if (existing) {
      if (existing.backend !== this.backend.name) {
        throw new BatchlineError(`${this.paths.state} belongs to a ${existing.backend} run; use another -o, or move the state file away to start over`);
      }
      if (existing.requests.bytes !== size || existing.requests.sha256 !== (await sha256File(requests))) {
        throw new BatchlineError(`${this.options.requests} changed since ${this.paths.state} was written; use another -o, or move the state file and ${this.paths.work} away to start over`);
      }
      this.state = existing;
      existing.retryFailed = Math.max(existing.retryFailed, this.options.retryFailed ?? 0);
      this.say("event", existing.done ? `already complete (${this.paths.state}); writing the output again` : `resuming from ${this.paths.state}`, { kind: "resumed" });
      return;
    }
    const runId = randomId("bl", 6);
    const sha = sha256File(requests);
    const chunks = await writeChunks_(this.limits, this.paths.work, runId, 0, requestLines(requests, this.backend, this.options.onBadLine)).catch(async (err: unknown) => {
      await rmdir(this.paths.work).catch(() => {}); // only when empty: a refused file leaves no <out>.chunks/ behind
      throw err;
    });
    if (chunks.length === 0) throw new BatchlineError(`${this.options.requests}: no requests to submit`);
    for (const note of this.backend.requestNotes?.() ?? []) this.say("event", note, { kind: "note" });
    const lines = chunks.reduce((n, c) => n + c.lines, 0);
    this.state = {
      version: 1,
      backend: this.backend.name,
      baseURL: this.options.baseURL ?? null,
      apiVersion: this.options.apiVersion ?? null,
      runId,
      requests: { path: requests, bytes: size, sha256: await sha, lines },
      output: resolve(this.options.output),
      workDir: basename(this.paths.work),
      retryFailed: this.options.retryFailed ?? 0,
      rounds: [{ round: 0, chunks }],
      done: false,
    };
    await this.save();
    this.say("detail", `${this.options.requests}: ${lines} requests in ${chunks.length} chunk(s) (at most ${this.limits.maxLines} lines and ${this.limits.maxBytes / 1e6} MB each, one model each)`);
  }

  /** When the next create may start (ms): creates are staggered by `createIntervalMs`. */
  private nextCreateAt = 0;

  /**
   * Creates the batches of the round that are due: not created yet, and not waiting out a
   * `token_limit_exceeded` backoff (while one chunk of a model waits, later chunks of that model
   * wait with it, so they do not hit the same limit).
   */
  async submit(round: RoundState): Promise<void> {
    const { backend } = this;
    const signal = this.options.signal;
    const waitingModels = new Set(round.chunks.filter((c) => !c.batchId && (c.createAfter ?? 0) > Date.now()).map((c) => `${c.endpoint} ${c.model}`));
    for (const chunk of round.chunks) {
      if (chunk.batchId) continue;
      if (waitingModels.has(`${chunk.endpoint} ${chunk.model}`)) continue;
      const ref = chunkRef(this.paths.work, chunk, this.chunkName(chunk));
      if (backend.upload && !chunk.uploadId) {
        const found = chunk.uploadStarted && backend.findUpload ? await backend.findUpload(ref, signal) : undefined;
        if (found) {
          chunk.uploadId = found;
          this.say("event", `${this.chunkName(chunk)}: found the upload ${found} of an interrupted run`, { kind: "resumed" });
        } else {
          chunk.uploadStarted = true;
          await this.save();
          chunk.uploadId = await backend.upload(ref, signal);
          this.say("detail", `${this.chunkName(chunk)}: uploaded ${chunk.lines} lines as ${chunk.uploadId}`);
        }
        await this.save();
      }
      const found = chunk.createStarted ? await backend.findBatch(ref, chunk.createStartedAt, signal) : undefined;
      if (found) {
        chunk.batchId = found;
        this.say("event", `${this.chunkName(chunk)}: found the batch ${found} of an interrupted run`, { kind: "resumed", batchId: found });
      } else {
        const wait = this.nextCreateAt - Date.now();
        if (wait > 0) await sleep(wait, signal);
        chunk.createStarted = true;
        chunk.createStartedAt = Date.now();
        await this.save();
        try {
          chunk.batchId = await backend.create(ref, chunk.uploadId, signal);
        } catch (err) {
          if (!(err instanceof TokenLimitError) || !this.tokenLimitRetry(chunk, err.message)) throw err;
          waitingModels.add(`${chunk.endpoint} ${chunk.model}`);
          await this.save();
          continue;
        } finally {
          this.nextCreateAt = Date.now() + (this.options.createIntervalMs ?? 1000);
        }
        delete chunk.createAfter;
        this.say("detail", `${this.chunkName(chunk)}: created batch ${chunk.batchId} (${chunk.model}, ${chunk.lines} lines)`, { batchId: chunk.batchId });
      }
      await this.save();
      this.progress(round);
    }
  }

  /**
   * Schedules a chunk refused for the enqueued-token limit to be created again after a backoff;
   * false once it has been tried `tokenLimitRetries` times (its lines then count as failed).
   */
  private tokenLimitRetry(chunk: ChunkState, why: string): boolean {
    const tries = chunk.tokenLimitRetries ?? 0;
    if (tries >= (this.options.tokenLimitRetries ?? 8)) return false;
    const delay = Math.min((this.options.tokenLimitBackoffMs ?? 60_000) * 2 ** tries, MAX_TOKEN_LIMIT_BACKOFF_MS);
    chunk.tokenLimitRetries = tries + 1;
    chunk.createAfter = Date.now() + delay;
    for (const key of ["batchId", "status", "phase", "counts", "errors", "createStartedAt"] as const) delete chunk[key];
    chunk.createStarted = false;
    this.say("event", `${this.chunkName(chunk)}: the enqueued-token limit of ${chunk.model} is reached (${why}); creating it again in ${Math.round(delay / 1000)} s (try ${tries + 1})`, { kind: "token-limit" });
    return true;
  }

  /** Emits where the job stands (overall counts, this round's batches, the next poll); nothing goes to `log`. */
  progress(round: RoundState, nextPollAt?: number): void {
    if (!this.options.onEvent) return;
    const roundLines = round.chunks.reduce((n, c) => n + c.lines, 0);
    const batches = round.chunks.map((c, i) => ({
      chunk: i + 1,
      ...(c.batchId ? { batchId: c.batchId } : {}),
      state: c.status ?? (c.batchId ? "created" : "waiting"),
      done: c.counts ? c.counts.completed + c.counts.failed : 0,
      failed: c.counts?.failed ?? 0,
      lines: c.lines,
    }));
    // Lines that are not in this round were settled in earlier ones.
    const settled = this.state.requests.lines - roundLines;
    this.options.onEvent({
      type: "status",
      status: {
        backend: this.backend.name,
        requestFile: this.options.requests,
        total: this.state.requests.lines,
        done: settled + batches.reduce((n, b) => n + b.done, 0),
        failed: batches.reduce((n, b) => n + b.failed, 0),
        round: round.round,
        lastRound: this.state.retryFailed,
        batches,
        ...(nextPollAt !== undefined ? { nextPollAt } : {}),
      },
    });
  }

  async poll(round: RoundState): Promise<void> {
    const { backend } = this;
    const signal = this.options.signal;
    let interval = this.options.pollIntervalMs ?? 5000;
    const maxInterval = this.options.maxPollIntervalMs ?? 60_000;
    let failures = 0;
    for (;;) {
      let hint: number | undefined;
      await this.submit(round);
      for (const chunk of round.chunks) {
        if (chunk.results || !chunk.batchId) continue;
        let st;
        try {
          st = await backend.retrieve(chunk.batchId!, signal);
          failures = 0;
        } catch (err) {
          if (signal?.aborted || ++failures > 10) throw err;
          this.say("detail", `${this.chunkName(chunk)}: polling batch ${chunk.batchId} failed (${(err as Error).message}); will retry`, { kind: "poll-error", batchId: chunk.batchId! });
          continue;
        }
        chunk.status = st.status;
        chunk.phase = st.phase;
        chunk.counts = st.counts;
        if (st.pollAfterMs !== undefined) hint = Math.max(hint ?? 0, st.pollAfterMs);
        if (st.phase === "ended") {
          chunk.results = await download(backend, this.paths.work, chunk, signal);
          // A batch that ran to the end is routine; expired and cancelled ones are worth keeping in view.
          const routine = /^(completed|ended)$|succeeded/i.test(st.status);
          this.say(routine ? "detail" : "event", `${this.chunkName(chunk)}: batch ${chunk.batchId} ${st.status}: ${st.counts.completed} completed, ${st.counts.failed} failed; results downloaded`, { kind: "batch-ended", batchId: chunk.batchId });
          await this.save();
        } else if (st.phase === "failed") {
          const errors = st.errors ?? [];
          if (errors.length > 0 && errors.every((e) => e.code === TOKEN_LIMIT_CODE) && this.tokenLimitRetry(chunk, `batch ${chunk.batchId} failed: ${errors[0]!.message}`)) {
            await this.save();
            continue;
          }
          chunk.errors = await mapErrorLines(this.paths.work, chunk, errors);
          const first = chunk.errors[0];
          const why = first ? `${first.code}: ${first.message}` : "no reason given";
          const about = { kind: "batch-failed", batchId: chunk.batchId! } as const;
          for (const e of chunk.errors.slice(0, 10)) this.say("event", `${this.chunkName(chunk)}: batch ${chunk.batchId} failed: ${e.line !== null ? `${this.state.requests.path}:${e.line}: ` : ""}${e.code}: ${e.message}`, about);
          if (chunk.errors.length === 0) this.say("event", `${this.chunkName(chunk)}: batch ${chunk.batchId} failed: no reason given`, about);
          if (chunk.errors.length > 10) this.say("event", `${this.chunkName(chunk)}: ... and ${chunk.errors.length - 10} more errors`, about);
          chunk.results = await synthesizeFailed(this.paths.work, chunk, `batch ${chunk.batchId} failed: ${why}`);
          await this.save();
        }
      }
      if (round.chunks.every((c) => c.results)) {
        this.progress(round);
        return;
      }
      await this.save();
      const dueCreates = round.chunks.filter((c) => !c.batchId).map((c) => (c.createAfter ?? 0) - Date.now());
      const untilCreate = dueCreates.length > 0 ? Math.max(0, Math.min(...dueCreates)) : Infinity;
      const wait = Math.min(hint ?? interval, untilCreate);
      this.progress(round, Date.now() + wait);
      await sleep(wait, signal);
      interval = Math.min(interval * 1.5, maxInterval);
    }
  }

  async nextRound(round: RoundState): Promise<RoundState | undefined> {
    if (round.round >= this.state.retryFailed) return undefined;
    const skipped = { invalid: 0 };
    const chunks = await writeChunks_(this.limits, this.paths.work, this.state.runId, round.round + 1, unsucceeded(this.paths.work, round, skipped));
    if (skipped.invalid > 0) this.say("event", `round ${round.round + 1}: not resubmitting ${skipped.invalid} line(s) that failed with invalid_request_error (the API refuses them as written; they would fail again and cost money)`, { kind: "note", round: round.round + 1 });
    if (chunks.length === 0) return undefined;
    const next = { round: round.round + 1, chunks };
    this.state.rounds.push(next);
    await this.save();
    this.say("event", `round ${next.round}: resubmitting ${chunks.reduce((n, c) => n + c.lines, 0)} line(s) that did not succeed`, { kind: "round-started", round: next.round });
    return next;
  }

  async run(): Promise<BatchJobSummary> {
    await this.start();
    if (!this.state.done) {
      let round: RoundState | undefined = this.state.rounds.at(-1)!;
      while (round) {
        await this.submit(round);
        await this.poll(round);
        round = await this.nextRound(round);
      }
    }
    const summary = await this.merge();
    this.state.done = true;
    await this.save();
    return summary;
  }

  /** Writes the output: for each request (round 0 order), its success from the latest round that has one, else its latest failure. */
  async merge(options: { allowMissing?: boolean } = {}): Promise<BatchJobSummary> {
    const work = this.paths.work;
    const indexes: ReplayIndex[] = [];
    for (const round of this.state.rounds) for (const chunk of round.chunks) if (chunk.results) indexes.push(await ReplayIndex.open(join(work, chunk.results)));
    const summary: BatchJobSummary = { output: this.state.output, total: 0, succeeded: 0, failed: 0, byCode: {}, rounds: this.state.rounds.length, batches: this.state.rounds.reduce((n, r) => n + r.chunks.filter((c) => c.batchId).length, 0), failedBatches: this.state.rounds.reduce((n, r) => n + r.chunks.filter((c) => c.phase === "failed").length, 0) };
    const state = this.state;
    async function* lines(): AsyncGenerator<string> {
      for (const chunk of state.rounds[0]!.chunks) {
        for await (const { text } of readJsonlLines(createReadStream(join(work, chunk.file)))) {
          const customId = (JSON.parse(text) as BatchRequest).custom_id;
          const chosen = await mergedLine(indexes, customId, summary, options.allowMissing ? null : "the batch API returned no result for this request");
          if (chosen === undefined) continue;
          summary.total++;
          yield chosen;
        }
      }
    }
    try {
      await writeFileAtomic(this.state.output, joinLines(lines()));
    } finally {
      await Promise.all(indexes.map((i) => i.close()));
    }
    return summary;
  }
}

/** Runs (or resumes) a batch job to the end and writes the merged output. */
export function runBatchJob(backend: BatchBackend, options: BatchJobOptions): Promise<BatchJobSummary> {
  return new BatchJob(backend, options).run();
}

/** Loads the state of a job by its state file (for `batchline batch status|cancel|download`). */
export async function loadJobState(statePath: string): Promise<SubmitState> {
  const state = await loadState(statePath);
  if (!state) throw new BatchlineError(`${statePath}: no such state file`);
  return state;
}

/** Polls every batch of a job once and prints where each stands. */
export async function jobStatus(backend: BatchBackend, state: SubmitState, signal?: AbortSignal): Promise<{ key: string; chunk: string; batchId?: string; status: string; counts?: ChunkState["counts"]; round: number }[]> {
  const rows = [];
  for (const round of state.rounds) {
    for (const [i, chunk] of round.chunks.entries()) {
      const name = chunkLabel(i + 1, round.chunks.length, 0);
      if (!chunk.batchId) {
        rows.push({ key: chunk.key, chunk: name, status: "not submitted", round: round.round });
        continue;
      }
      const st = chunk.results ? { status: chunk.status ?? "ended", counts: chunk.counts } : await backend.retrieve(chunk.batchId, signal);
      rows.push({ key: chunk.key, chunk: name, batchId: chunk.batchId, status: st.status, ...(st.counts ? { counts: st.counts } : {}), round: round.round });
    }
  }
  return rows;
}

/** What `cancelJob` did to each batch of a job it looked at. */
export interface CancelReport {
  cancelled: string[];
  /** Batches that had already ended (or were cancelling): nothing to do. */
  skipped: { batchId: string; status: string }[];
  /** Batches whose cancel failed for another reason; the others were still cancelled. */
  failed: { batchId: string; message: string }[];
}

/** Cancels every batch of a job that is still running; ended ones are skipped, and one failure does not stop the rest. */
export async function cancelJob(backend: BatchBackend, state: SubmitState, signal?: AbortSignal): Promise<CancelReport> {
  const report: CancelReport = { cancelled: [], skipped: [], failed: [] };
  const ended = async (batchId: string): Promise<string | undefined> => {
    const st = await backend.retrieve(batchId, signal).catch(() => undefined);
    return st && (st.phase !== "running" || st.status === "cancelling" || st.status === "canceling") ? st.status : undefined;
  };
  for (const round of state.rounds) {
    for (const chunk of round.chunks) {
      if (!chunk.batchId) continue;
      if (chunk.results) {
        report.skipped.push({ batchId: chunk.batchId, status: chunk.status ?? "ended" });
        continue;
      }
      const before = await ended(chunk.batchId);
      if (before !== undefined) {
        report.skipped.push({ batchId: chunk.batchId, status: before });
        continue;
      }
      try {
        await backend.cancel(chunk.batchId, signal);
        report.cancelled.push(chunk.batchId);
      } catch (err) {
        if (signal?.aborted) throw err;
        // It may have ended between the look and the cancel.
        const after = await ended(chunk.batchId);
        if (after !== undefined) report.skipped.push({ batchId: chunk.batchId, status: after });
        else report.failed.push({ batchId: chunk.batchId, message: (err as Error).message });
      }
    }
  }
  return report;
}

/** Downloads whatever has ended and writes the output with what is there (ids without a result are left out). */
export async function downloadJob(backend: BatchBackend, statePath: string, output?: string, log?: (line: string) => void): Promise<BatchJobSummary> {
  const state = await loadJobState(statePath);
  const job = new BatchJob(backend, { requests: state.requests.path, output: output ?? state.output, ...(log ? { log } : {}) });
  job.state = { ...state, output: resolve(output ?? state.output) };
  Object.assign(job.paths, { state: statePath, work: join(dirname(resolve(statePath)), state.workDir) });
  for (const round of state.rounds) {
    for (const chunk of round.chunks) {
      if (!chunk.batchId || chunk.results) continue;
      const st = await backend.retrieve(chunk.batchId);
      Object.assign(chunk, { status: st.status, phase: st.phase, counts: st.counts });
      if (st.phase === "ended") chunk.results = await download(backend, job.paths.work, chunk);
    }
  }
  await saveState(statePath, state);
  return job.merge({ allowMissing: true });
}
