/**
 * `batchline plan`: what a request file will cost before it is sent. Streams the file once and
 * counts, per model: lines, bytes, input tokens (OpenAI's own tokenizer via js-tiktoken for
 * OpenAI model families, counting chat messages the way the API does up to a few tokens; for
 * other families an estimate of 1 token per 4 characters, and the report says which), the
 * max output tokens the requests allow, chunks per batch backend, and the cost at the prices of a
 * tier: batch (the default), flex or standard; a line whose body asks for `service_tier: "flex"` is
 * priced at flex prices unless the tier is batch.
 */
import { createReadStream } from "node:fs";
import { createRequire } from "node:module";
import type { Tiktoken } from "js-tiktoken";
import { BatchRequest } from "../../schemas/batch-request.ts";
import { ANTHROPIC_BATCH_LIMITS, ChunkPlanner, GEMINI_BATCH_LIMITS, OPENAI_BATCH_LIMITS, embeddingInputs } from "../core/chunking.ts";
import { type BatchlineError, RecordValidationError } from "../core/errors.ts";
import { locationOf, readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { type PriceTable, type PriceTier, type TierPrice, lineTier, tierPrice } from "./prices.ts";

/** The tokenizer of a model family, or undefined for families whose tokenizer we do not ship. */
export function encodingFor(model: string): "o200k_base" | "cl100k_base" | undefined {
  const name = model.includes("/") ? model.slice(model.lastIndexOf("/") + 1) : model;
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)/.test(name)) return "o200k_base";
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(name)) return "cl100k_base";
  return undefined;
}

const encoders = new Map<string, Tiktoken>();
function encoder(name: "o200k_base" | "cl100k_base"): Tiktoken {
  let e = encoders.get(name);
  // js-tiktoken is loaded on the first count (about 40 ms), not by every command that imports this module (submit does).
  if (!e) encoders.set(name, (e = (createRequire(import.meta.url)("js-tiktoken") as typeof import("js-tiktoken")).getEncoding(name)));
  return e;
}

type Message = { role?: string; content?: unknown; name?: string };

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p: { text?: unknown }) => (typeof p?.text === "string" ? p.text : "")).join("");
  return content === undefined || content === null ? "" : JSON.stringify(content);
}

/** Input tokens of one request body: exact for OpenAI chat families (3 per message + 3 for the reply), else characters / 4. */
export function countInputTokens(body: BatchRequest["body"]): { tokens: number; exact: boolean } {
  const b = body as { messages?: Message[]; input?: unknown; prompt?: unknown };
  const enc = encodingFor(body.model);
  const texts: string[] = [];
  let perMessage = 0;
  if (Array.isArray(b.messages)) {
    for (const m of b.messages) {
      texts.push(m.role ?? "", contentText(m.content));
      if (m.name) texts.push(m.name);
    }
    perMessage = 3 * b.messages.length + 3;
  } else {
    texts.push(contentText(b.input ?? b.prompt));
  }
  if (!enc) return { tokens: Math.ceil(texts.reduce((n, t) => n + t.length, 0) / 4) + perMessage, exact: false };
  const e = encoder(enc);
  let tokens = perMessage;
  for (const t of texts) if (t) tokens += e.encode(t).length;
  return { tokens, exact: true };
}

/** Per-model totals. */
export interface ModelPlan {
  model: string;
  lines: number;
  bytes: number;
  inputTokens: number;
  tokenizer: string;
  /** Sum of max_tokens / max_completion_tokens; lines without one are counted in `withoutMaxTokens`. */
  maxOutputTokens: number;
  withoutMaxTokens: number;
  /** The model's price at the plan's tier (flex lines are priced at flex prices). */
  price?: { key: string; input: number; output: number };
  /** Lines priced at flex prices (their body says service_tier flex). */
  flexLines?: number;
  /** USD at the tier's prices: input, and output if every request used its whole max_tokens. */
  inputCost?: number;
  maxOutputCost?: number;
}

/** Under an enqueued-token limit: how one model's openai-batch chunks fit (input tokens, as OpenAI counts the limit). */
export interface EnqueuedPlan {
  model: string;
  chunks: number;
  /** Estimated input tokens of all the model's chunks: what is enqueued if all are in flight. */
  tokens: number;
  largestChunk: number;
  /** Chunks that can be in flight at once, counting the largest first (the worst case); 0 when even the largest is over the limit. */
  inFlight: number;
  /** Chunks whose own tokens are over the limit: they would always fail with token_limit_exceeded. */
  overLimit: number;
  /** With overLimit: a --max-chunk-lines that brings chunks under the limit. */
  suggestChunkLines?: number;
}

export interface Plan {
  file: string;
  /** Output tokens assumed per request (--output-tokens); absent: each request's max_tokens. */
  outputTokens?: number;
  lines: number;
  bytes: number;
  chunks: Record<string, number>;
  models: ModelPlan[];
  /** The prices the plan uses: batch, flex or standard. */
  tier: PriceTier;
  priceTableDate: string;
  /** Input cost plus output at max_tokens, over the models the table prices. */
  maxCost: number;
  inputCost: number;
  unpriced: string[];
  /** With `enqueuedTokenLimit`: the limit and per-model chunk fit. */
  enqueued?: { limit: number; models: EnqueuedPlan[] };
}

/** Options: the price table, and `outputTokens` to assume that many output tokens per request instead of max_tokens. */
export interface PlanOptions {
  prices: PriceTable;
  /** Price at batch (default), flex or standard prices. */
  tier?: PriceTier;
  outputTokens?: number;
  /** The name the plan and its errors give the file (e.g. `<stdin>` for a spooled stdin); default: the path. */
  label?: string;
  /** Called for each bad line, which is then left out of the plan; without it a bad line throws. */
  onBadLine?: (err: BatchlineError) => void;
  /** OpenAI's enqueued-token limit per model (input tokens of batches in progress), to say how many chunks fit in flight. */
  enqueuedTokenLimit?: number;
  /** Fewer lines per openai-batch chunk, as `submit --max-chunk-lines` makes them. */
  maxChunkLines?: number;
}

/** The output tokens a request may use: the --output-tokens assumption, else its max_tokens (or max_completion_tokens); undefined when it has none. */
export function outputTokensOf(body: Record<string, unknown>, assumed?: number): number | undefined {
  if (assumed !== undefined) return assumed;
  const max = Number(body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens);
  return Number.isFinite(max) && max > 0 ? max : undefined;
}

/** Streams a request file and plans it; a bad line throws with file:line (custom_id). */
export async function planRequests(path: string, options: PlanOptions): Promise<Plan> {
  const lineCap = (l: typeof OPENAI_BATCH_LIMITS) => ({ ...l, maxLines: Math.min(l.maxLines, options.maxChunkLines ?? Infinity) });
  const planners = [new ChunkPlanner(lineCap(OPENAI_BATCH_LIMITS)), new ChunkPlanner(lineCap(ANTHROPIC_BATCH_LIMITS)), new ChunkPlanner(lineCap(GEMINI_BATCH_LIMITS))];
  const byModel = new Map<string, ModelPlan>();
  const openaiChunks = new Map<number, { model: string; tokens: number; lines: number }>();
  let lines = 0;
  let bytes = 0;
  const file = options.label ?? path;
  const tier = options.tier ?? "batch";
  const plan: Plan = { file, ...(options.outputTokens !== undefined ? { outputTokens: options.outputTokens } : {}), lines: 0, bytes: 0, chunks: {}, models: [], tier, priceTableDate: options.prices.date, maxCost: 0, inputCost: 0, unpriced: [] };
  const prices = new Map<string, TierPrice | undefined>();
  const priceOf = (model: string, t: PriceTier) => {
    const key = `${t} ${model}`;
    if (!prices.has(key)) prices.set(key, tierPrice(options.prices, model, t));
    return prices.get(key);
  };
  for await (const rec of readJsonl(createReadStream(path, { highWaterMark: 1 << 20 }), { file, ...(options.onBadLine ? { onBadLine: options.onBadLine } : {}) })) {
    const parsed = BatchRequest.safeParse(rec.value);
    if (!parsed.success) {
      const err = new RecordValidationError(locationOf(file, rec), "batch request line", flattenIssues(parsed.error));
      if (!options.onBadLine) throw err;
      options.onBadLine(err);
      continue;
    }
    const req = parsed.data;
    const size = Buffer.byteLength(rec.text) + 1;
    lines++;
    bytes += size;
    const inputs = embeddingInputs(req.url, req.body);
    const chunkIndexes = planners.map((p) => p.add(`${req.url} ${req.body.model}`, size, inputs));
    let m = byModel.get(req.body.model);
    if (!m) {
      const enc = encodingFor(req.body.model);
      m = { model: req.body.model, lines: 0, bytes: 0, inputTokens: 0, tokenizer: enc ?? "estimate: 4 characters per token", maxOutputTokens: 0, withoutMaxTokens: 0 };
      byModel.set(req.body.model, m);
    }
    m.lines++;
    m.bytes += size;
    const tokens = countInputTokens(req.body).tokens;
    m.inputTokens += tokens;
    const openaiChunk = chunkIndexes[0]!;
    const c = openaiChunks.get(openaiChunk) ?? { model: req.body.model, tokens: 0, lines: 0 };
    c.tokens += tokens;
    c.lines++;
    openaiChunks.set(openaiChunk, c);
    const out = outputTokensOf(req.body, options.outputTokens);
    if (out !== undefined) m.maxOutputTokens += out;
    else m.withoutMaxTokens++;
    const t = lineTier(req.body, tier);
    const price = priceOf(m.model, t);
    if (!price) continue;
    if (t === "flex" && tier !== "flex") m.flexLines = (m.flexLines ?? 0) + 1;
    const shown = priceOf(m.model, tier) ?? price;
    m.price ??= { key: shown.key, input: shown.input, output: shown.output };
    const inputCost = (tokens / 1e6) * price.input;
    const outputCost = ((out ?? 0) / 1e6) * price.output;
    m.inputCost = (m.inputCost ?? 0) + inputCost;
    m.maxOutputCost = (m.maxOutputCost ?? 0) + outputCost;
    plan.inputCost += inputCost;
    plan.maxCost += inputCost + outputCost;
  }
  plan.chunks = Object.fromEntries(planners.map((p) => [p.limits.name, p.count]));
  plan.lines = lines;
  plan.bytes = bytes;
  plan.models = [...byModel.values()];
  plan.unpriced = plan.models.filter((m) => m.price === undefined).map((m) => m.model);
  if (options.enqueuedTokenLimit !== undefined) plan.enqueued = { limit: options.enqueuedTokenLimit, models: fitUnderLimit([...openaiChunks.values()], options.enqueuedTokenLimit) };
  return plan;
}

/** Per model: how many of its chunks fit under the enqueued-token limit at once, largest first. */
function fitUnderLimit(chunks: { model: string; tokens: number; lines: number }[], limit: number): EnqueuedPlan[] {
  const models = [...new Set(chunks.map((c) => c.model))];
  return models.map((model) => {
    const mine = chunks.filter((c) => c.model === model).sort((a, b) => b.tokens - a.tokens);
    let inFlight = 0;
    let sum = 0;
    for (const c of mine) {
      if (sum + c.tokens > limit) break;
      sum += c.tokens;
      inFlight++;
    }
    const over = mine.filter((c) => c.tokens > limit);
    const plan: EnqueuedPlan = { model, chunks: mine.length, tokens: mine.reduce((n, c) => n + c.tokens, 0), largestChunk: mine[0]?.tokens ?? 0, inFlight, overLimit: over.length };
    if (over.length > 0) {
      const perLine = Math.max(...over.map((c) => c.tokens / c.lines));
      plan.suggestChunkLines = Math.max(1, Math.floor(limit / perLine));
    }
    return plan;
  });
}

const usd = (n: number) => `$${n < 10 ? n.toFixed(4) : n.toFixed(2)}`;

/** What the output cost assumes: each request's whole max_tokens, or --output-tokens per request. */
export function outputAssumption(plan: Plan): string {
  return plan.outputTokens === undefined ? "if every request uses its whole max_tokens" : `if every request writes ${plan.outputTokens.toLocaleString("en-US")} output tokens (--output-tokens)`;
}

/** The plan as lines for a terminal. */
export function formatPlan(plan: Plan): string[] {
  const out = [`${plan.file}: ${plan.lines} requests, ${(plan.bytes / 1e6).toFixed(1)} MB; chunks: ${Object.entries(plan.chunks).map(([b, n]) => `${b} ${n}`).join(", ")}`];
  for (const m of plan.models) {
    out.push(`  ${m.model}: ${m.lines} requests, ${m.inputTokens.toLocaleString("en-US")} input tokens (${m.tokenizer}), up to ${m.maxOutputTokens.toLocaleString("en-US")} output tokens${m.withoutMaxTokens ? ` (+ ${m.withoutMaxTokens} requests without max_tokens, not counted)` : ""}`);
    const flex = m.flexLines ? ` (${m.flexLines} line(s) asking for service_tier flex at flex prices)` : "";
    if (m.price) out.push(`    ${plan.tier} price (${m.price.key}): ${usd(m.price.input)} / ${usd(m.price.output)} per 1M in/out -> input ${usd(m.inputCost!)}, output up to ${usd(m.maxOutputCost!)}${flex}`);
    else out.push(`    no price for ${m.model} in the table (add it with --price-table)`);
  }
  const unpriced = plan.unpriced.length > 0 ? ` (not counting ${plan.unpriced.length} model(s) without a price: ${plan.unpriced.join(", ")})` : "";
  if (plan.enqueued) {
    const n = (x: number) => x.toLocaleString("en-US");
    out.push(`enqueued-token limit ${n(plan.enqueued.limit)} per model (openai-batch chunks, input tokens):`);
    for (const e of plan.enqueued.models) {
      const fit = e.inFlight >= e.chunks ? `all ${e.chunks} chunk(s) can be in flight at once` : `${e.inFlight} of ${e.chunks} chunk(s) can be in flight at once (largest first); submit creates the rest as batches finish`;
      out.push(`  ${e.model}: ${n(e.tokens)} tokens enqueued in ${e.chunks} chunk(s), largest ${n(e.largestChunk)}: ${fit}`);
      if (e.overLimit > 0) out.push(`    ${e.overLimit} chunk(s) are over the limit on their own and would always fail with token_limit_exceeded: use --max-chunk-lines ${e.suggestChunkLines}`);
    }
  }
  out.push(`estimated cost at ${plan.tier} prices (table of ${plan.priceTableDate}): input ${usd(plan.inputCost)}, at most ${usd(plan.maxCost)} ${outputAssumption(plan)}${unpriced}`);
  return out;
}
