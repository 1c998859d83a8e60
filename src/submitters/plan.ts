/**
 * `batchline plan`: what a request file will cost before it is sent. Streams the file once and
 * counts, per model: lines, bytes, input tokens (OpenAI's own tokenizer via js-tiktoken for
 * OpenAI model families, counting chat messages the way the API does up to a few tokens; for
 * other families an estimate of 1 token per 4 characters, and the report says which), the
 * max output tokens the requests allow, chunks per batch backend, and the cost at batch prices.
 */
import { createReadStream } from "node:fs";
import { getEncoding, type Tiktoken } from "js-tiktoken";
import { BatchRequest } from "../../schemas/batch-request.ts";
import { ANTHROPIC_BATCH_LIMITS, ChunkPlanner, OPENAI_BATCH_LIMITS } from "../core/chunking.ts";
import { type BatchlineError, RecordValidationError } from "../core/errors.ts";
import { locationOf, readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { type PriceTable, batchPrice } from "./prices.ts";

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
  if (!e) encoders.set(name, (e = getEncoding(name)));
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
  price?: { key: string; input: number; output: number };
  /** USD at batch prices: input, and output if every request used its whole max_tokens. */
  inputCost?: number;
  maxOutputCost?: number;
}

export interface Plan {
  file: string;
  /** Output tokens assumed per request (--output-tokens); absent: each request's max_tokens. */
  outputTokens?: number;
  lines: number;
  bytes: number;
  chunks: Record<string, number>;
  models: ModelPlan[];
  priceTableDate: string;
  /** Input cost plus output at max_tokens, over the models the table prices. */
  maxCost: number;
  inputCost: number;
  unpriced: string[];
}

/** Options: the price table, and `outputTokens` to assume that many output tokens per request instead of max_tokens. */
export interface PlanOptions {
  prices: PriceTable;
  outputTokens?: number;
  /** The name the plan and its errors give the file (e.g. `<stdin>` for a spooled stdin); default: the path. */
  label?: string;
  /** Called for each bad line, which is then left out of the plan; without it a bad line throws. */
  onBadLine?: (err: BatchlineError) => void;
}

/** Streams a request file and plans it; a bad line throws with file:line (custom_id). */
export async function planRequests(path: string, options: PlanOptions): Promise<Plan> {
  const planners = [new ChunkPlanner(OPENAI_BATCH_LIMITS), new ChunkPlanner(ANTHROPIC_BATCH_LIMITS)];
  const byModel = new Map<string, ModelPlan>();
  let lines = 0;
  let bytes = 0;
  const file = options.label ?? path;
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
    for (const p of planners) p.add(`${req.url} ${req.body.model}`, size);
    let m = byModel.get(req.body.model);
    if (!m) {
      const enc = encodingFor(req.body.model);
      m = { model: req.body.model, lines: 0, bytes: 0, inputTokens: 0, tokenizer: enc ?? "estimate: 4 characters per token", maxOutputTokens: 0, withoutMaxTokens: 0 };
      byModel.set(req.body.model, m);
    }
    m.lines++;
    m.bytes += size;
    m.inputTokens += countInputTokens(req.body).tokens;
    const body = req.body as { max_tokens?: unknown; max_completion_tokens?: unknown };
    const max = Number(body.max_tokens ?? body.max_completion_tokens);
    if (options.outputTokens !== undefined) m.maxOutputTokens += options.outputTokens;
    else if (Number.isFinite(max) && max > 0) m.maxOutputTokens += max;
    else m.withoutMaxTokens++;
  }
  const plan: Plan = { file, ...(options.outputTokens !== undefined ? { outputTokens: options.outputTokens } : {}), lines, bytes, chunks: Object.fromEntries(planners.map((p) => [p.limits.name, p.count])), models: [...byModel.values()], priceTableDate: options.prices.date, maxCost: 0, inputCost: 0, unpriced: [] };
  for (const m of plan.models) {
    const price = batchPrice(options.prices, m.model);
    if (!price) {
      plan.unpriced.push(m.model);
      continue;
    }
    m.price = price;
    m.inputCost = (m.inputTokens / 1e6) * price.input;
    m.maxOutputCost = (m.maxOutputTokens / 1e6) * price.output;
    plan.inputCost += m.inputCost;
    plan.maxCost += m.inputCost + m.maxOutputCost;
  }
  return plan;
}

const usd = (n: number) => `$${n < 10 ? n.toFixed(4) : n.toFixed(2)}`;

/** What the output cost assumes: each request's whole max_tokens, or --output-tokens per request. */
export function outputAssumption(plan: Plan): string {
  return plan.outputTokens === undefined ? "if every request uses its whole max_tokens" : `if every request writes ${plan.outputTokens.toLocaleString("en-US")} output tokens (--output-tokens)`;
}

/** The plan as lines for a terminal. */
export function formatPlan(plan: Plan): string[] {
  const out = [`${plan.file}: ${plan.lines} requests, ${(plan.bytes / 2 ** 20).toFixed(1)} MB; chunks: ${Object.entries(plan.chunks).map(([b, n]) => `${b} ${n}`).join(", ")}`];
  for (const m of plan.models) {
    out.push(`  ${m.model}: ${m.lines} requests, ${m.inputTokens.toLocaleString("en-US")} input tokens (${m.tokenizer}), up to ${m.maxOutputTokens.toLocaleString("en-US")} output tokens${m.withoutMaxTokens ? ` (+ ${m.withoutMaxTokens} requests without max_tokens, not counted)` : ""}`);
    if (m.price) out.push(`    batch price (${m.price.key}): ${usd(m.price.input)} / ${usd(m.price.output)} per 1M in/out -> input ${usd(m.inputCost!)}, output up to ${usd(m.maxOutputCost!)}`);
    else out.push(`    no price for ${m.model} in the table (add it with --price-table)`);
  }
  const unpriced = plan.unpriced.length > 0 ? ` (not counting ${plan.unpriced.length} model(s) without a price: ${plan.unpriced.join(", ")})` : "";
  out.push(`estimated cost at batch prices (table of ${plan.priceTableDate}): input ${usd(plan.inputCost)}, at most ${usd(plan.maxCost)} ${outputAssumption(plan)}${unpriced}`);
  return out;
}
