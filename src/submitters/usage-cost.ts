/**
 * What an output file cost, from the usage each answer reports: `batchline cost`, the pipeline
 * report, and `--max-cost` during a direct run. Per line: the provider's usage block (Chat
 * Completions, Responses, or Anthropic Messages shape) is read as input tokens (cache reads and
 * cache writes included), cache reads, cache writes, output tokens (reasoning included, as every
 * provider bills it) and reasoning tokens; then priced at the tier that served the line (batch,
 * flex or standard), at the long-context rates when the prompt passes the model's threshold.
 * Lines without usage (failures, expired or cancelled requests) cost nothing; the lines an
 * expired or cancelled batch did complete carry usage and count.
 */
import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import { UsageError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { type DirectBudget, requestHashesPathFor } from "./direct-runner.ts";
import { BACKENDS } from "./index.ts";
import { countInputTokens, outputTokensOf } from "./plan.ts";
import { PRICE_TIERS, type PriceTable, type PriceTier, type TierPrice, lineTier, tierPrice } from "./prices.ts";
import { loadState, statePathFor } from "./state.ts";

/** One answer's usage, normalised. `input` counts every input token: uncached, cache reads and cache writes. */
export interface LineUsage {
  input: number;
  cachedInput: number;
  cacheWrite: number;
  /** Output tokens, reasoning included. */
  output: number;
  reasoning: number;
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" ? (v as Record<string, unknown>) : {});

/**
 * The usage of a response body, or undefined when it reports none. Shapes:
 * - Chat Completions: `prompt_tokens` (all input), `prompt_tokens_details.cached_tokens`,
 *   `completion_tokens` (reasoning included), `completion_tokens_details.reasoning_tokens`; plus
 *   `cache_creation_input_tokens` (anthropic-batch keeps Anthropic's cache writes there, inside prompt_tokens);
 * - Responses: `input_tokens` (all input), `input_tokens_details.cached_tokens`, `output_tokens`,
 *   `output_tokens_details.reasoning_tokens`;
 * - Anthropic Messages: `input_tokens` (uncached only), `cache_creation_input_tokens`,
 *   `cache_read_input_tokens`, `output_tokens`.
 */
export function usageOf(body: unknown): LineUsage | undefined {
  const u = obj(obj(body).usage);
  if (Object.keys(u).length === 0) return undefined;
  if ("prompt_tokens" in u) {
    const cacheWrite = num(u.cache_creation_input_tokens);
    const cachedInput = num(obj(u.prompt_tokens_details).cached_tokens) || num(u.cache_read_input_tokens);
    return { input: num(u.prompt_tokens), cachedInput, cacheWrite, output: num(u.completion_tokens), reasoning: num(obj(u.completion_tokens_details).reasoning_tokens) };
  }
  if ("input_tokens_details" in u || "output_tokens_details" in u || !("cache_read_input_tokens" in u || "cache_creation_input_tokens" in u)) {
    return { input: num(u.input_tokens), cachedInput: num(obj(u.input_tokens_details).cached_tokens), cacheWrite: 0, output: num(u.output_tokens), reasoning: num(obj(u.output_tokens_details).reasoning_tokens) };
  }
  const cacheWrite = num(u.cache_creation_input_tokens);
  const cachedInput = num(u.cache_read_input_tokens);
  return { input: num(u.input_tokens) + cacheWrite + cachedInput, cachedInput, cacheWrite, output: num(u.output_tokens), reasoning: 0 };
}

/** USD of one answer's usage at a price; `longContext` when the prompt passed the model's threshold. */
export function usageCost(usage: LineUsage, price: TierPrice): { usd: number; longContext: boolean } {
  const long = price.longContext !== undefined && usage.input > price.longContext.above;
  const r = long ? price.longContext! : price;
  const uncached = Math.max(0, usage.input - usage.cachedInput - usage.cacheWrite);
  const usd = (uncached * r.input + usage.cachedInput * r.cachedInput + usage.cacheWrite * r.cacheWrite + usage.output * r.output) / 1e6;
  return { usd, longContext: long };
}

/** The tier a backend's answers are billed at: batch backends at batch prices, direct calls at standard (flex per line). */
export function tierOfBackend(backend: string): PriceTier {
  return backend === "openai-compatible" ? "standard" : "batch";
}

/**
 * The tier an output was served at: `tier` when given, else `backend`'s, else what the files beside
 * the output say (a batch job's state file names its backend; a direct run leaves its request hashes).
 */
export async function tierOfOutput(output: string, given: { tier?: string | undefined; backend?: string | undefined }): Promise<PriceTier> {
  if (given.tier !== undefined) {
    if (!(PRICE_TIERS as readonly string[]).includes(given.tier)) throw new UsageError(`--tier ${given.tier}: expected ${PRICE_TIERS.join(", ")}`);
    return given.tier as PriceTier;
  }
  if (given.backend !== undefined) {
    if (!Object.hasOwn(BACKENDS, given.backend)) throw new UsageError(`--backend ${given.backend}: expected one of ${Object.keys(BACKENDS).join(", ")}`);
    return tierOfBackend(given.backend);
  }
  const state = await loadState(statePathFor(output));
  if (state) return tierOfBackend(state.backend);
  if (await access(requestHashesPathFor(output)).then(() => true, () => false)) return "standard";
  throw new UsageError(`cannot tell which backend wrote ${output} (no ${statePathFor(output)} or ${requestHashesPathFor(output)} beside it): give --backend <name> or --tier batch|flex|standard`);
}


/** Prices answers one at a time; remembers the models the table has no price for. */
export class UsagePricer {
  readonly unpriced = new Set<string>();
  private readonly cache = new Map<string, TierPrice | undefined>();
  readonly prices: PriceTable;
  readonly tier: PriceTier;
  constructor(prices: PriceTable, tier: PriceTier) {
    this.prices = prices;
    this.tier = tier;
  }

  /** The cost of one output line's answer: undefined when it has no usage, null when its model has no price. */
  line(value: unknown): { model: string; tier: PriceTier; usage: LineUsage; usd: number | null; longContext: boolean } | undefined {
    const body = obj(obj(value).response).body;
    const usage = usageOf(body);
    if (!usage) return undefined;
    const model = typeof obj(body).model === "string" ? (obj(body).model as string) : "(no model)";
    const tier = lineTier(body, this.tier);
    const cacheKey = `${tier} ${model}`;
    if (!this.cache.has(cacheKey)) this.cache.set(cacheKey, tierPrice(this.prices, model, tier));
    const price = this.cache.get(cacheKey);
    if (!price) {
      this.unpriced.add(model);
      return { model, tier, usage, usd: null, longContext: false };
    }
    return { model, tier, usage, ...usageCost(usage, price) };
  }
}

/** Per model and tier: what the answers used and cost. */
export interface CostRow {
  model: string;
  tier: PriceTier;
  /** The price table's key, when the model has a price. */
  priceKey?: string;
  lines: number;
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  /** Lines billed at long-context rates. */
  longContextLines: number;
  /** null when the table has no price for the model. */
  usd: number | null;
}

export interface CostReport {
  file: string;
  priceTableDate: string;
  lines: number;
  /** Lines with a usage block (answers that were billed). */
  linesWithUsage: number;
  rows: CostRow[];
  /** Sum over the priced rows. */
  totalUSD: number;
  unpriced: string[];
}

/** Streams an output file and sums its cost per model and tier. */
export async function costOfOutput(path: string, options: { prices: PriceTable; tier: PriceTier; label?: string }): Promise<CostReport> {
  const pricer = new UsagePricer(options.prices, options.tier);
  const rows = new Map<string, CostRow>();
  const file = options.label ?? path;
  const report: CostReport = { file, priceTableDate: options.prices.date, lines: 0, linesWithUsage: 0, rows: [], totalUSD: 0, unpriced: [] };
  for await (const rec of readJsonl(createReadStream(path, { highWaterMark: 1 << 20 }), { file })) {
    report.lines++;
    const c = pricer.line(rec.value);
    if (!c) continue;
    report.linesWithUsage++;
    const key = `${c.tier} ${c.model}`;
    let row = rows.get(key);
    if (!row) {
      const price = tierPrice(options.prices, c.model, c.tier);
      row = { model: c.model, tier: c.tier, ...(price ? { priceKey: price.key } : {}), lines: 0, inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0, longContextLines: 0, usd: price ? 0 : null };
      rows.set(key, row);
    }
    row.lines++;
    row.inputTokens += c.usage.input;
    row.cachedInputTokens += c.usage.cachedInput;
    row.cacheWriteTokens += c.usage.cacheWrite;
    row.outputTokens += c.usage.output;
    row.reasoningTokens += c.usage.reasoning;
    if (c.longContext) row.longContextLines++;
    if (row.usd !== null && c.usd !== null) row.usd += c.usd;
  }
  report.rows = [...rows.values()];
  report.totalUSD = report.rows.reduce((n, r) => n + (r.usd ?? 0), 0);
  report.unpriced = [...pricer.unpriced];
  return report;
}

const usd = (n: number) => `$${n < 10 ? n.toFixed(4) : n.toFixed(2)}`;
const count = (n: number) => n.toLocaleString("en-US");

/** The report as lines for a terminal. */
export function formatCost(report: CostReport): string[] {
  const out = [`${report.file}: ${report.lines} lines, ${report.linesWithUsage} with usage (price table of ${report.priceTableDate})`];
  for (const r of report.rows) {
    const parts = [`${count(r.inputTokens)} input (${count(r.cachedInputTokens)} cached, ${count(r.cacheWriteTokens)} cache writes)`, `${count(r.outputTokens)} output (${count(r.reasoningTokens)} reasoning)`];
    const long = r.longContextLines > 0 ? `, ${r.longContextLines} at long-context rates` : "";
    out.push(`  ${r.model} [${r.tier}]: ${r.lines} lines, ${parts.join(", ")}${long} -> ${r.usd === null ? "no price in the table (add it with --price-table)" : `${usd(r.usd)} (${r.priceKey})`}`);
  }
  const unpriced = report.unpriced.length > 0 ? ` (not counting ${report.unpriced.join(", ")}: no price)` : "";
  out.push(`total ${usd(report.totalUSD)}${unpriced}`);
  return out;
}

/**
 * The --max-cost budget of a direct run: an answer costs what its usage says at `tier` (flex when
 * it ran as flex); a request before it is sent costs at most its input tokens (as `plan` counts
 * them) plus its max_tokens, or `outputTokens` when given. A model without a price is refused.
 */
export function directBudget(options: { limit: number; prices: PriceTable; tier: PriceTier; outputTokens?: number }): DirectBudget {
  const pricer = new UsagePricer(options.prices, options.tier);
  return {
    limit: options.limit,
    spent: (line) => pricer.line(line)?.usd ?? 0,
    worstCase(request) {
      const price = tierPrice(options.prices, request.body.model, lineTier(request.body, options.tier));
      if (!price) throw new UsageError(`--max-cost ${options.limit}: no price for ${request.body.model}; add it with --price-table <file>`);
      const input = countInputTokens(request.body).tokens;
      const output = outputTokensOf(request.body, options.outputTokens) ?? 0;
      const rates = price.longContext && input > price.longContext.above ? price.longContext : price;
      return (input * rates.input + output * rates.output) / 1e6;
    },
  };
}
