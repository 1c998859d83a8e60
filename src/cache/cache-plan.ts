/**
 * `plan`'s cache line: how many lines of a request file the request cache would answer for a
 * backend, and what those lines would have cost at batch prices (from the usage each cached
 * answer reports; lines whose answer reports none, or whose model has no price, are counted apart).
 * Only reads the cache: a missing cache directory answers nothing and creates nothing.
 */
import { createReadStream, existsSync } from "node:fs";
import { join } from "node:path";
import { BatchRequest } from "../../schemas/batch-request.ts";
import { openAtomic } from "../core/atomic-file.ts";
import { readJsonlLines, writeChunks } from "../core/jsonl.ts";
import { readRequestFile } from "../submitters/request-file.ts";
import { type PriceTable, batchPrice } from "../submitters/prices.ts";
import { type CacheScope, type KeyIgnore, keyMaterial, keyOf } from "./request-key.ts";
import { CACHE_FILE, ResponseCache } from "./response-cache.ts";

export interface CachePlan {
  dir: string;
  backend: string;
  /** Lines the cache would answer. */
  lines: number;
  /** USD those lines would have cost at batch prices, from their answers' usage. */
  cost: number;
  /** Hits whose cost is not in `cost`: no usage in the answer, or no price for the model. */
  unpriced: number;
}

/** The tokens an answer line reports (OpenAI chat/responses or Anthropic-style names). */
function usageOf(answer: string): { input: number; output: number } | undefined {
  const body = (JSON.parse(answer) as { response?: { body?: { usage?: Record<string, unknown> } } }).response?.body;
  const u = body?.usage;
  if (!u) return undefined;
  const input = Number(u.prompt_tokens ?? u.input_tokens);
  const output = Number(u.completion_tokens ?? u.output_tokens ?? 0);
  return Number.isFinite(input) && Number.isFinite(output) ? { input, output } : undefined;
}

/** Looks every line of `requests` up in the cache in `dir` for `scope`. */
export async function planCacheHits(requests: string, dir: string, scope: CacheScope, ignore: KeyIgnore, prices: PriceTable): Promise<CachePlan> {
  const plan: CachePlan = { dir, backend: scope.backend, lines: 0, cost: 0, unpriced: 0 };
  if (!existsSync(join(dir, CACHE_FILE))) return plan;
  const cache = ResponseCache.open(dir);
  try {
    for await (const { request } of readRequestFile(requests)) {
      const answer = cache.get(keyOf(keyMaterial(request as never, scope, ignore)));
      if (answer === undefined) continue;
      plan.lines++;
      const usage = usageOf(answer);
      const price = batchPrice(prices, request.body.model);
      if (!usage || !price) plan.unpriced++;
      else plan.cost += (usage.input / 1e6) * price.input + (usage.output / 1e6) * price.output;
    }
  } finally {
    cache.close();
  }
  return plan;
}

/** The plan's cache line. */
export function formatCachePlan(c: CachePlan, total: number): string {
  const unpriced = c.unpriced > 0 ? ` (${c.unpriced} of them without usage or price, not counted)` : "";
  return `cache (${c.backend}, ${c.dir}): ${c.lines} of ${total} requests would be answered from the cache, not sent; they would have cost $${c.cost.toFixed(4)} at batch prices${unpriced}`;
}

/** The request on a line of text, or undefined when the line is not one. */
function requestOf(text: string): BatchRequest | undefined {
  try {
    const parsed = BatchRequest.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes the request lines of `requests` that the cache in `dir` does not answer for `scope` to
 * `target` (what `submit --max-cost` prices); returns how many lines the cache answers. A line
 * that is not a request is left out: the submit that follows refuses or skips it, naming it.
 */
export async function writeUncachedLines(requests: string, target: string, dir: string, scope: CacheScope, ignore: KeyIgnore): Promise<number> {
  const out = await openAtomic(target);
  const cache = existsSync(join(dir, CACHE_FILE)) ? ResponseCache.open(dir) : undefined;
  let cached = 0;
  try {
    for await (const { text } of readJsonlLines(createReadStream(requests, { highWaterMark: 1 << 20 }))) {
      const request = requestOf(text);
      if (!request) continue;
      if (cache?.get(keyOf(keyMaterial(request as never, scope, ignore))) !== undefined) {
        cached++;
        continue;
      }
      await writeChunks(out.stream, [text, "\n"]);
    }
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  } finally {
    cache?.close();
  }
  return cached;
}
