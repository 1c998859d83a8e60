/**
 * Reading the workdir's JSONL files for the engine: line counts, custom_ids, failure records,
 * and the outcomes, tokens and cost of a submit's output. A file that does not exist reads as empty.
 */
import { createReadStream } from "node:fs";
import { type BatchOutput, isSuccess } from "../../schemas/openai-batch-output.ts";
import type { JsonlParseError } from "../core/errors.ts";
import { type JsonlRecord, type RawJsonlLine, readJsonl, readJsonlLines, readRawLines } from "../core/jsonl.ts";
import { parseRawLine, readLineIds, scanSuccessfulOutput } from "../core/line-ids.ts";
import { failureCode } from "../internal/replay-index.ts";
import type { PriceTable, PriceTier } from "../submitters/prices.ts";
import { UsagePricer } from "../submitters/usage-cost.ts";
import type { FailureRecord } from "./types.ts";

function absent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

/** What to do with a line that is not JSON (coverage --skip-bad); without it, it throws. */
export type OnBadLine = ((error: JsonlParseError) => void) | undefined;

/** Every record of a JSONL file; none when the file does not exist. */
export async function* records(path: string, onBadLine?: OnBadLine): AsyncGenerator<JsonlRecord> {
  try {
    yield* readJsonl(createReadStream(path), { file: path, ...(onBadLine ? { onBadLine } : {}) });
  } catch (err) {
    if (!absent(err)) throw err;
  }
}

/** Every non-blank raw line of a JSONL file; none when the file does not exist. */
async function* rawLines(path: string): AsyncGenerator<RawJsonlLine> {
  try {
    yield* readRawLines(createReadStream(path));
  } catch (err) {
    if (!absent(err)) throw err;
  }
}

/** Non-blank lines of a file (0 when it does not exist). */
export async function countLines(path: string): Promise<number> {
  let n = 0;
  try {
    for await (const _ of readJsonlLines(createReadStream(path))) n++;
  } catch (err) {
    if (!absent(err)) throw err;
  }
  return n;
}

/** The custom_ids of a file's lines, in file order, by the byte scan (a line it is unsure of is parsed; a bad line throws as `records` does). */
export async function customIds(path: string, onBadLine?: OnBadLine): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const rec of readLineIds(createReadStream(path), { file: path, ...(onBadLine ? { onBadLine } : {}) })) if (rec.customId !== undefined) out.push(rec.customId);
  } catch (err) {
    if (!absent(err)) throw err;
  }
  return out;
}

/** The failure records of a file. */
export async function* failureRecords(path: string, onBadLine?: OnBadLine): AsyncGenerator<FailureRecord> {
  for await (const rec of records(path, onBadLine)) {
    const f = rec.value as FailureRecord;
    if (typeof f?.custom_id === "string" && typeof f.reason === "string") yield f;
  }
}

/** Failures by reason, of one stage when `stage` is given. */
export async function reasonCounts(path: string, stage?: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const f of failureRecords(path)) {
    if (stage !== undefined && f.stage !== stage) continue;
    out[f.reason] = (out[f.reason] ?? 0) + 1;
  }
  return out;
}

/** Outcome per custom_id over submit outputs read in order: "ok" or the failure code; a success is never replaced by a failure. */
export async function answerOutcomes(paths: readonly string[], onBadLine?: OnBadLine): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of paths) {
    for await (const raw of rawLines(path)) {
      // A certain success by the byte scan (a 300 KB answer is not parsed); anything else in full.
      const succeeded = scanSuccessfulOutput(raw.bytes);
      if (succeeded !== undefined) {
        out.set(succeeded, "ok");
        continue;
      }
      const parsed = parseRawLine(raw, { file: path, ...(onBadLine ? { onBadLine } : {}) });
      if (!parsed.ok) continue;
      const line = parsed.value as BatchOutput | undefined;
      if (typeof line?.custom_id !== "string") continue;
      const ok = isSuccess(line);
      if (out.get(line.custom_id) === "ok" && !ok) continue;
      out.set(line.custom_id, ok ? "ok" : failureCode(line));
    }
  }
  return out;
}

/** What a submit's output holds: outcomes, failures by code, tokens, and cost from the reported usage at the tier's prices (null when a model has no price). */
export interface SubmitUsage {
  lines: number;
  succeeded: number;
  failed: number;
  failures: Record<string, number>;
  promptTokens: number;
  completionTokens: number;
  costUSD: number | null;
}

export async function submitUsage(path: string, prices: PriceTable, tier: PriceTier = "batch"): Promise<SubmitUsage> {
  const u: SubmitUsage = { lines: 0, succeeded: 0, failed: 0, failures: {}, promptTokens: 0, completionTokens: 0, costUSD: 0 };
  const pricer = new UsagePricer(prices, tier);
  for await (const rec of records(path)) {
    const line = rec.value as BatchOutput;
    u.lines++;
    if (isSuccess(line)) u.succeeded++;
    else {
      u.failed++;
      const code = failureCode(line);
      u.failures[code] = (u.failures[code] ?? 0) + 1;
    }
    const cost = pricer.line(line);
    if (!cost) continue;
    u.promptTokens += cost.usage.input;
    u.completionTokens += cost.usage.output;
    if ((cost.usage.input || cost.usage.output) && u.costUSD !== null) u.costUSD = cost.usd === null ? null : u.costUSD + cost.usd;
  }
  return u;
}
