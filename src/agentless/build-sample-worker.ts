/**
 * Worker-thread entry for `buildSample` (sample-pool.ts): cache messages `{cache}` / `{drop}` keep
 * the files jobs refer to by id; `{id, job}` in with a batch of jobs, `{id, result}` out with
 * each job's outcome (its result or its error) in the same order.
 */
import { parentPort } from "node:worker_threads";
import { buildSample, resultBuffers } from "./build-sample.ts";
import type { BatchOutcome, CacheMessage, WireJob } from "./sample-pool.ts";

const cache = new Map<string, string | string[]>();

function cached<T extends string | string[]>(id: string): T {
  const value = cache.get(id);
  if (value === undefined) throw new Error(`no cached file ${JSON.stringify(id)}`);
  return value as T;
}

parentPort!.on("message", (message: { id: number; job: WireJob[] } | CacheMessage) => {
  if ("cache" in message) {
    for (const [id, value] of message.cache) cache.set(id, value);
    return;
  }
  if ("drop" in message) {
    for (const id of message.drop) cache.delete(id);
    return;
  }
  const outcomes: BatchOutcome[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const wire of message.job) {
    try {
      const { fileIds, allRepoPathsId, ...rest } = wire;
      const files: Record<string, string | null> = {};
      for (const [key, id] of Object.entries(fileIds)) files[key] = id === null ? null : cached<string>(id);
      const job = { ...rest, files, ...(allRepoPathsId !== undefined ? { allRepoPaths: cached<string[]>(allRepoPathsId) } : {}) };
      const result = buildSample(job);
      outcomes.push({ result });
      transfer.push(...resultBuffers(result));
    } catch (err) {
      outcomes.push({ error: (err as Error).stack ?? String(err) });
    }
  }
  // The encoded file texts move to the main thread without a copy.
  parentPort!.postMessage({ id: message.id, result: outcomes }, transfer);
});
