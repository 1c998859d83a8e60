/**
 * A submit through the request cache, for every backend: each request line is looked up by its
 * key (request-key.ts); the lines the cache answers are never sent; the others go to the backend
 * as a request file of their own (`<output>.cache/misses.jsonl`, answered into
 * `<output>.cache/sent.jsonl` with that run's usual state file or journal beside it), and their
 * successes are stored. The output is then written in request order, each line as a fresh answer
 * would be: a cached answer carries this line's custom_id. Nothing is cached from a failure.
 *
 * A killed run resumes its unfinished backend run (the whole file, or the misses file) rather
 * than looking up again, so a batch already paid for is collected, not created twice.
 */
import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { BatchRequest } from "../../schemas/batch-request.ts";
import { openAtomic, writeFileAtomic } from "../core/atomic-file.ts";
import { BatchlineError } from "../core/errors.ts";
import { joinLines, readJsonlLines, writeChunks } from "../core/jsonl.ts";
import { type AnswerTally, ReplayIndex, mergedLine } from "../internal/replay-index.ts";
import { journalPathFor, requestHashesPathFor } from "../submitters/direct-runner.ts";
import { readRequestFile, readRequestFileBatches } from "../submitters/request-file.ts";
import { loadState, statePathFor } from "../submitters/state.ts";
import { type CacheEntry, ResponseCache } from "./response-cache.ts";
import { type CacheScope, type KeyIgnore, keyMaterial, keyOf } from "./request-key.ts";

/** What the backend run behind the cache reports back. */
export interface SentSummary {
  line: string;
  failedBatches: number;
  missing: string[];
  /** The counts of the output it wrote, when it reports them (then an output it wrote in place is not written again). */
  total?: number;
  succeeded?: number;
  failed?: number;
  byCode?: Record<string, number>;
  /** True when every success of its output went to `onSucceeded` (a direct backend's run that resumed nothing): nothing is left to store. */
  everySuccessReported?: boolean;
}

export interface CachedSubmitOptions {
  requests: string;
  output: string;
  cacheDir: string;
  scope: CacheScope;
  ignore: KeyIgnore;
  log?: ((line: string) => void) | undefined;
  /** `--skip-bad`: a bad request line is reported here and left out (not looked up, not sent, not in the output). */
  onBadLine?: ((error: BatchlineError) => void) | undefined;
  /**
   * Sends `requests` through the backend into `output` (a request file and an output path of its
   * own). A backend that answers line by line passes each success to `onSucceeded` as it arrives,
   * so it is stored while the others are in flight, not in a pass after the run.
   */
  send: (requests: string, output: string, onSucceeded: (request: BatchRequest, outputLine: string) => void) => Promise<SentSummary>;
}

export interface CachedSubmitSummary extends AnswerTally {
  output: string;
  total: number;
  fromCache: number;
  sent: number;
  stored: number;
  failedBatches: number;
  missing: string[];
  line: string;
}

/** `out.jsonl` -> `out.jsonl.cache/`: the misses file and the run that answers it. */
export function cacheWorkDirFor(output: string): string {
  return `${output}.cache`;
}

/** True when a backend run into `output` was started and has not finished (its state or journal says so). */
async function unfinished(output: string): Promise<boolean> {
  const state = await loadState(statePathFor(output)).catch(() => undefined);
  if (state && !state.done) return true;
  return stat(journalPathFor(output)).then(() => true, () => false);
}

/** `text` (an output line) answering `customId` instead of the id it was stored under. */
export function withCustomId(text: string, customId: string): string {
  const value = JSON.parse(text) as { custom_id: string };
  if (value.custom_id === customId) return text;
  value.custom_id = customId;
  return JSON.stringify(value);
}

function keyOfRequest(request: BatchRequest, o: CachedSubmitOptions): { key: string; material: string } {
  const material = keyMaterial(request as never, o.scope, o.ignore);
  return { key: keyOf(material), material };
}

/** Entries stored per transaction. */
const STORE_BATCH = 500;

/** The cache entry for a successful `answer` (an output line) to `request`. */
function entryFor(request: BatchRequest, answer: string, o: CachedSubmitOptions): CacheEntry {
  const { key, material } = keyOfRequest(request, o);
  return { key, material, answer, backend: o.scope.backend, model: typeof request.body.model === "string" ? request.body.model : null };
}

/** The counts a backend run reported for the output it wrote, when it reported all of them. */
function countsOf(sent: SentSummary | undefined): (AnswerTally & { total: number }) | undefined {
  if (sent?.total === undefined || sent.succeeded === undefined || sent.failed === undefined || sent.byCode === undefined) return undefined;
  return { total: sent.total, succeeded: sent.succeeded, failed: sent.failed, byCode: sent.byCode };
}

/** Runs one submit through the cache. */
export async function submitThroughCache(o: CachedSubmitOptions): Promise<CachedSubmitSummary> {
  const work = cacheWorkDirFor(o.output);
  const misses = join(work, "misses.jsonl");
  const sentOut = join(work, "sent.jsonl");
  const hitsPath = join(work, "hits.jsonl");
  const cache = ResponseCache.open(o.cacheDir);
  try {
    // Which lines go to the backend: a resumed run keeps the lines it had; a new one sends what the cache lacks.
    let target: { requests: string; output: string } | undefined;
    let resumeMisses: Map<string, string> | undefined;
    if (await unfinished(o.output)) {
      target = { requests: o.requests, output: o.output };
      o.log?.(`cache: an earlier run of all ${o.requests} did not finish; resuming it, no lookups`);
    } else if ((await unfinished(sentOut)) && (await stat(misses).then(() => true, () => false))) {
      resumeMisses = new Map();
      for await (const { text, request } of readRequestFile(misses)) resumeMisses.set(request.custom_id, text);
      target = { requests: misses, output: sentOut };
      o.log?.(`cache: resuming the unfinished run of ${resumeMisses.size} uncached line(s) in ${misses}`);
    } else {
      await rm(work, { recursive: true, force: true });
    }

    let total = 0;
    let hits = 0;
    let missCount = 0;
    // --skip-bad: the lines left out here (1-based), so the backend never sees them and the output skips them.
    const badLines = new Set<number>();
    const onBadLine = o.onBadLine;
    const readOptions = onBadLine ? { onBadLine: (err: BatchlineError, line: number) => (badLines.add(line), onBadLine(err)) } : {};
    if (target?.output !== o.output) {
      const hitFile = await openAtomic(hitsPath);
      const missFile = resumeMisses ? undefined : await openAtomic(misses);
      try {
        // One write to each file per read of the request file (thousands of short lines), not one per line.
        for await (const batch of readRequestFileBatches(o.requests, readOptions)) {
          const hitLines: string[] = [];
          const missLines: string[] = [];
          for (const { text, request } of batch) {
            total++;
            if (resumeMisses?.has(request.custom_id)) {
              if (resumeMisses.get(request.custom_id) !== text) throw new BatchlineError(`${o.requests} changed since the unfinished run in ${work} began (custom_id=${request.custom_id}); use another -o, or move ${work} away to start over`);
              missCount++;
              continue;
            }
            const answer = cache.get(keyOfRequest(request, o).key);
            if (answer !== undefined) {
              hits++;
              hitLines.push(withCustomId(answer, request.custom_id), "\n");
            } else if (missFile) {
              missCount++;
              missLines.push(text, "\n");
            } else {
              throw new BatchlineError(`${o.requests}: custom_id=${request.custom_id} is neither in the unfinished run in ${work} nor in the cache any more (pruned?); let that run finish first, or move ${work} away`);
            }
          }
          if (hitLines.length > 0) await writeChunks(hitFile.stream, [hitLines.join("")]);
          if (missFile && missLines.length > 0) await writeChunks(missFile.stream, [missLines.join("")]);
        }
        if (resumeMisses && missCount !== resumeMisses.size) throw new BatchlineError(`${o.requests} changed since the unfinished run in ${work} began (it has lines this file lacks); use another -o, or move ${work} away to start over`);
        await hitFile.commit();
        await missFile?.commit();
      } catch (err) {
        await hitFile.abort();
        await missFile?.abort();
        throw err;
      }
      if (hits === 0 && badLines.size === 0) {
        // Nothing from the cache: the backend gets the user's file and writes the output itself, as without a cache.
        await rm(work, { recursive: true, force: true });
        target = { requests: o.requests, output: o.output };
      } else if (missCount > 0) {
        target ??= { requests: misses, output: sentOut };
        if (hits > 0) o.log?.(`cache: ${hits} of ${total} line(s) answered from ${o.cacheDir}; sending the other ${missCount}`);
      } else if (hits > 0) {
        o.log?.(`cache: all ${total} line(s) answered from ${o.cacheDir}; nothing to send`);
      }
    }

    // Successes the backend reports as they arrive are stored in transactions of STORE_BATCH.
    let stored = 0;
    let arrived: CacheEntry[] = [];
    const onSucceeded = (request: BatchRequest, outputLine: string): void => {
      arrived.push(entryFor(request, outputLine, o));
      if (arrived.length >= STORE_BATCH) stored += cache.putMany(arrived.splice(0));
    };
    let sent: SentSummary | undefined;
    try {
      sent = target ? await o.send(target.requests, target.output, onSucceeded) : undefined;
    } finally {
      stored += cache.putMany(arrived); // what arrived is stored even when the run stops (a kill, --max-cost): it was paid for
      arrived = [];
    }
    const tally: AnswerTally = { succeeded: 0, failed: 0, byCode: {} };
    let count = 0;
    // The output, in request order: the cache's answer, else the backend's. When the cache answered
    // nothing and the backend wrote the output itself (one line per request, in request order)
    // and reported its counts, that output is the final one as it is.
    const inPlace = hits === 0 && target?.output === o.output ? countsOf(sent) : undefined;
    const storeAfter = target !== undefined && sent?.everySuccessReported !== true;
    const sentIndex = target && (storeAfter || !inPlace) ? await ReplayIndex.open(target.output) : undefined;
    let hitsIndex: ReplayIndex | undefined;
    try {
      if (storeAfter && sentIndex) stored += await storeSuccesses(cache, target!.requests, sentIndex, o);
      if (inPlace) {
        ({ succeeded: tally.succeeded, failed: tally.failed, total: count } = inPlace);
        tally.byCode = { ...inPlace.byCode };
      } else {
        hitsIndex = hits > 0 ? await ReplayIndex.open(hitsPath) : undefined;
        const lines = async function* (): AsyncGenerator<string> {
          for await (const { line, text } of readJsonlLines(createReadStream(o.requests, { highWaterMark: 1 << 20 }))) {
            if (badLines.has(line)) continue;
            const id = (JSON.parse(text) as BatchRequest).custom_id;
            const from = hitsIndex?.has(id) ? hitsIndex : sentIndex;
            // --skip-bad: a line the backend refused and left out has no answer, and no output line
            if (onBadLine && !from?.has(id)) continue;
            count++;
            yield (await mergedLine(from ? [from] : [], id, tally, "no answer was recorded for this request"))!;
          }
        };
        await writeFileAtomic(o.output, joinLines(lines()));
      }
    } finally {
      await hitsIndex?.close();
      await sentIndex?.close();
    }
    // A finished direct run's request hashes only describe the output when the backend wrote all of it.
    if (target?.output !== o.output) await rm(requestHashesPathFor(o.output), { force: true });
    if (!sent || target?.output !== o.output) await rm(work, { recursive: true, force: true });
    total = count;
    const codes = Object.entries(tally.byCode).map(([c, n]) => `${c} ${n}`).join(", ");
    const head = `${o.output}: ${total} lines, ${tally.succeeded} succeeded, ${tally.failed} failed${codes ? ` (${codes})` : ""}`;
    const storedNote = stored > 0 ? `; ${stored} new answer(s) stored in the cache` : "";
    let line: string;
    if (!sent) line = hits > 0 ? `${head}; all ${hits} answered from the cache (${o.cacheDir}), nothing sent` : `${head}; nothing to send`;
    else if (hits === 0) line = `${sent.line}${storedNote}`;
    else line = `${head}; ${hits} answered from the cache, ${total - hits} sent${storedNote} [sent: ${sent.line}]`;
    return { output: o.output, total, ...tally, fromCache: hits, sent: total - hits, stored, failedBatches: sent?.failedBatches ?? 0, missing: sent?.missing ?? [], line };
  } finally {
    cache.close();
  }
}

/**
 * Stores every success the backend run wrote (`index`, its output) for the lines it was sent
 * (`requests`, checked before they were sent); returns how many keys were new.
 */
async function storeSuccesses(cache: ResponseCache, requests: string, index: ReplayIndex, o: CachedSubmitOptions): Promise<number> {
  let stored = 0;
  let batch: CacheEntry[] = [];
  for await (const { text } of readJsonlLines(createReadStream(requests, { highWaterMark: 1 << 20 }))) {
    let request: BatchRequest | null;
    try {
      request = JSON.parse(text) as BatchRequest | null;
    } catch {
      continue; // a bad line left out (--skip-bad): never sent, nothing to store
    }
    if (typeof request?.custom_id !== "string" || !index.succeeded(request.custom_id)) continue;
    batch.push(entryFor(request, (await index.getText(request.custom_id))!, o));
    if (batch.length >= STORE_BATCH) {
      stored += cache.putMany(batch);
      batch = [];
    }
  }
  stored += cache.putMany(batch);
  return stored;
}

/** True when an unfinished cached submit beside `output` was sending lines that `requests` no longer has as they were. */
export async function staleCacheWork(requests: string, output: string): Promise<boolean> {
  const misses = join(cacheWorkDirFor(output), "misses.jsonl");
  const pending = new Map<string, string>();
  try {
    for await (const { text } of readJsonlLines(createReadStream(misses))) pending.set((JSON.parse(text) as BatchRequest).custom_id, text);
  } catch {
    return false; // none, or unreadable: the next submit looks up again
  }
  let same = 0;
  for await (const { text } of readJsonlLines(createReadStream(requests, { highWaterMark: 1 << 20 }))) {
    let id: string;
    try {
      id = (JSON.parse(text) as BatchRequest).custom_id;
    } catch {
      continue; // a bad line: never sent
    }
    if (!pending.has(id)) continue;
    if (pending.get(id) !== text) return true;
    same++;
  }
  return same !== pending.size;
}

/** Removes what a cached submit keeps beside its output (the pipeline's start-over uses it). */
export async function removeCacheWork(output: string): Promise<void> {
  await rm(cacheWorkDirFor(output), { recursive: true, force: true });
}

