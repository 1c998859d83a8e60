/**
 * The bundled price table: USD per 1M tokens at each provider's standard list price, with the
 * rates of cached input (cache reads), cache writes and, where a provider has one, a long-context
 * tier; plus the batch and flex discounts. Prices change: this table is dated and names its
 * sources, and `--price-table FILE` replaces it (same JSON shape, see `PriceTable`). A model
 * matches the longest key that its name starts with, after dropping a provider prefix such as
 * `openai/` or `deepseek-ai/`.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { BatchlineError } from "../core/errors.ts";
import { flattenIssues } from "../core/stage.ts";

const usdPerM = z.number().nonnegative();

/** Rates above a prompt size: a request whose input (cached and cache writes included) passes `above` tokens pays these for all its tokens. */
export const LongContextPrice = z.strictObject({
  above: z.number().int().positive(),
  input: usdPerM,
  output: usdPerM,
  cached_input: usdPerM.optional(),
  cache_write: usdPerM.optional(),
});

export const ModelPrice = z.strictObject({
  /** USD per 1M input tokens, standard (non-batch) price. */
  input: usdPerM,
  /** USD per 1M output tokens (reasoning tokens included), standard price. */
  output: usdPerM,
  /** USD per 1M cached input tokens (cache reads); default: the input price. */
  cached_input: usdPerM.optional(),
  /** USD per 1M tokens written to the prompt cache (Anthropic's 5-minute cache writes); default: the input price. */
  cache_write: usdPerM.optional(),
  long_context: LongContextPrice.optional(),
  /** Fraction taken off for batch requests (0.5 = half price); overrides the table's. */
  batch_discount: z.number().min(0).max(1).optional(),
  /** Fraction taken off for flex requests (OpenAI `service_tier: "flex"`); overrides the table's. */
  flex_discount: z.number().min(0).max(1).optional(),
});
export type ModelPrice = z.infer<typeof ModelPrice>;

export const PriceTable = z.strictObject({
  date: z.string(),
  note: z.string().optional(),
  /** Where the prices were read, and when. */
  sources: z.array(z.string()).optional(),
  batch_discount: z.number().min(0).max(1).default(0.5),
  /** Flex processing is billed at batch rates (OpenAI's flex guide); default: batch_discount. */
  flex_discount: z.number().min(0).max(1).optional(),
  models: z.record(z.string(), ModelPrice),
});
export type PriceTable = z.infer<typeof PriceTable>;

/** How a request was (or will be) served: each has its own price. */
export type PriceTier = "batch" | "flex" | "standard";
export const PRICE_TIERS: readonly PriceTier[] = ["batch", "flex", "standard"];

/** List prices as published by the providers when this table was written; check yours before you rely on them. */
export const BUNDLED_PRICES: PriceTable = {
  date: "2026-12-02",
  note: "provider list prices in USD per 1M tokens as read on the date; batch APIs (and OpenAI flex) are billed at (1 - discount) of every rate",
  sources: [
    "OpenAI: https://developers.openai.com/api/docs/pricing and https://developers.openai.com/api/docs/guides/flex-processing (flex is billed at Batch API rates), read 2026-12-02",
    "Anthropic: https://platform.claude.com/docs/en/about-claude/pricing (5m cache writes 1.25x input, cache hits 0.1x, batch 50%, Sonnet 4/4.5 above 200K input: $6 / $22.50), read 2026-12-02",
    "Google: https://ai.google.dev/gemini-api/docs/pricing (2.5 Pro above 200K prompt tokens: $2.50 / $15; batch 50%), read 2026-12-02",
    "DeepSeek: https://api-docs.deepseek.com/quick_start/pricing (cache hit / miss input), 2025-08-15",
  ],
  batch_discount: 0.5,
  models: {
    "gpt-5.4": { input: 2.5, cached_input: 0.25, output: 15, long_context: { above: 272_000, input: 5, cached_input: 0.5, output: 22.5 } },
    "gpt-5.4-mini": { input: 0.75, cached_input: 0.075, output: 4.5 },
    "gpt-5": { input: 1.25, cached_input: 0.125, output: 10 },
    "gpt-5-mini": { input: 0.25, cached_input: 0.025, output: 2 },
    "gpt-5-nano": { input: 0.05, cached_input: 0.005, output: 0.4 },
    "gpt-4.1": { input: 2, cached_input: 0.5, output: 8 },
    "gpt-4.1-mini": { input: 0.4, cached_input: 0.1, output: 1.6 },
    "gpt-4.1-nano": { input: 0.1, cached_input: 0.025, output: 0.4 },
    "gpt-4o": { input: 2.5, cached_input: 1.25, output: 10 },
    "gpt-4o-mini": { input: 0.15, cached_input: 0.075, output: 0.6 },
    o3: { input: 2, cached_input: 0.5, output: 8 },
    "o3-mini": { input: 1.1, cached_input: 0.55, output: 4.4 },
    "o4-mini": { input: 1.1, cached_input: 0.275, output: 4.4 },
    "claude-opus-4": { input: 15, cached_input: 1.5, cache_write: 18.75, output: 75 },
    "claude-opus-4-5": { input: 5, cached_input: 0.5, cache_write: 6.25, output: 25 },
    "claude-opus-4-6": { input: 5, cached_input: 0.5, cache_write: 6.25, output: 25 },
    "claude-sonnet-4": { input: 3, cached_input: 0.3, cache_write: 3.75, output: 15, long_context: { above: 200_000, input: 6, cached_input: 0.6, cache_write: 7.5, output: 22.5 } },
    "claude-haiku-4-5": { input: 1, cached_input: 0.1, cache_write: 1.25, output: 5 },
    "claude-3-7-sonnet": { input: 3, cached_input: 0.3, cache_write: 3.75, output: 15 },
    "claude-3-5-haiku": { input: 0.8, cached_input: 0.08, cache_write: 1, output: 4 },
    "gemini-2.5-pro": { input: 1.25, cached_input: 0.125, output: 10, long_context: { above: 200_000, input: 2.5, cached_input: 0.25, output: 15 } },
    "gemini-2.5-flash": { input: 0.3, cached_input: 0.03, output: 2.5 },
    "gemini-2.5-flash-lite": { input: 0.1, cached_input: 0.01, output: 0.4 },
    "deepseek-chat": { input: 0.27, cached_input: 0.07, output: 1.1 },
    "deepseek-reasoner": { input: 0.55, cached_input: 0.14, output: 2.19 },
  },
};

/** Reads a price table file, with a clear error for a bad one. */
export async function loadPriceTable(path: string): Promise<PriceTable> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new BatchlineError(`${path}: cannot read the price table (${(err as Error).message})`);
  }
  const parsed = PriceTable.safeParse(value);
  if (!parsed.success) throw new BatchlineError(`${path}: not a price table: ${flattenIssues(parsed.error).map((i) => `${i.message} at ${i.path}`).join("; ")}`);
  return parsed.data;
}

/** The tier of one answer: a direct call that ran as flex (the body's `service_tier`) is billed at flex prices. */
export function lineTier(body: unknown, tier: PriceTier): PriceTier {
  return tier !== "batch" && (body as { service_tier?: unknown } | null | undefined)?.service_tier === "flex" ? "flex" : tier;
}

/** The table's key for a model: the longest key its name (without a provider prefix) starts with. */
function priceKey(table: PriceTable, model: string): string | undefined {
  const name = model.includes("/") ? model.slice(model.lastIndexOf("/") + 1) : model;
  let best: string | undefined;
  for (const key of Object.keys(table.models)) {
    if (name.startsWith(key) && (best === undefined || key.length > best.length)) best = key;
  }
  return best;
}

/** Every rate of a model at one tier, USD per 1M tokens, discounts applied. */
export interface TierPrice {
  key: string;
  tier: PriceTier;
  input: number;
  output: number;
  cachedInput: number;
  cacheWrite: number;
  longContext?: { above: number; input: number; output: number; cachedInput: number; cacheWrite: number };
}

/** The prices of a model at a tier, or undefined when the table has none for it. */
export function tierPrice(table: PriceTable, model: string, tier: PriceTier): TierPrice | undefined {
  const key = priceKey(table, model);
  if (key === undefined) return undefined;
  const p = table.models[key]!;
  const off = tier === "standard" ? 0 : tier === "batch" ? (p.batch_discount ?? table.batch_discount) : (p.flex_discount ?? table.flex_discount ?? p.batch_discount ?? table.batch_discount);
  const keep = 1 - off;
  const price: TierPrice = { key, tier, input: p.input * keep, output: p.output * keep, cachedInput: (p.cached_input ?? p.input) * keep, cacheWrite: (p.cache_write ?? p.input) * keep };
  const l = p.long_context;
  if (l) price.longContext = { above: l.above, input: l.input * keep, output: l.output * keep, cachedInput: (l.cached_input ?? l.input) * keep, cacheWrite: (l.cache_write ?? l.input) * keep };
  return price;
}

/** The batch price of a model (USD per 1M tokens), or undefined when the table has none for it. */
export function batchPrice(table: PriceTable, model: string): { key: string; input: number; output: number } | undefined {
  const p = tierPrice(table, model, "batch");
  return p && { key: p.key, input: p.input, output: p.output };
}
