/** `batchline plan`: lines, bytes, chunks, tokens and cost of a request file before it is sent. */
import type { CAC } from "cac";
import { INPUT_OPTION, inputPath } from "../io.ts";
import { BatchlineError, type Location, UsageError } from "../../core/errors.ts";
import { type Plan, formatPlan, planRequests } from "../../submitters/plan.ts";
import type { DirectBudget } from "../../submitters/direct-runner.ts";
import { BUNDLED_PRICES, PRICE_TIERS, type PriceTable, type PriceTier, loadPriceTable } from "../../submitters/prices.ts";
import { directBudget } from "../../submitters/usage-cost.ts";
import { checkInputFile } from "../../core/file-checks.ts";
import { stringOption } from "../options.ts";
import { SkipLog, spoolStdin } from "./common.ts";
import { type CachePlan, formatCachePlan, planCacheHits } from "../../cache/cache-plan.ts";
import { cacheScopeFor } from "../../cache/cache-scope.ts";
import { parseKeyIgnore } from "../../cache/request-key.ts";
import { type CacheEnv, cacheDirForCli } from "../../cache/response-cache.ts";
import { checkBackendName } from "../../submitters/submit-file.ts";

/** Options shared by `plan` and `submit --max-cost`. */
export interface CostOptions {
  priceTable?: string;
  /** Price at batch (default), flex or standard prices. */
  tier?: string;
  maxCost?: string | number;
  outputTokens?: string | number;
  enqueuedTokenLimit?: string | number;
  maxChunkLines?: string | number;
}

async function prices(options: CostOptions): Promise<PriceTable> {
  const path = stringOption(options.priceTable);
  return path ? loadPriceTable(path) : BUNDLED_PRICES;
}

function maxCostOf(options: CostOptions): number | undefined {
  if (options.maxCost === undefined) return undefined;
  const n = Number(options.maxCost);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--max-cost ${String(options.maxCost)}: expected US dollars, e.g. 25`);
  return n;
}

/** Plans a request file with the --price-table and --output-tokens options; `label` names it in the plan and errors. */
async function planWith(path: string, options: CostOptions & { skipBad?: boolean }, label?: string, silentSkips = false): Promise<Plan> {
  const outputTokens = options.outputTokens === undefined ? undefined : Number(options.outputTokens);
  if (outputTokens !== undefined && !(Number.isInteger(outputTokens) && outputTokens >= 0)) throw new UsageError(`--output-tokens ${options.outputTokens}: expected a whole number per request`);
  const enqueuedTokenLimit = options.enqueuedTokenLimit === undefined ? undefined : Number(options.enqueuedTokenLimit);
  if (enqueuedTokenLimit !== undefined && !(Number.isInteger(enqueuedTokenLimit) && enqueuedTokenLimit > 0)) throw new UsageError(`--enqueued-token-limit ${options.enqueuedTokenLimit}: expected a whole number of tokens (your organization's limit for the model)`);
  const maxChunkLines = options.maxChunkLines === undefined ? undefined : Number(options.maxChunkLines);
  if (maxChunkLines !== undefined && !(Number.isInteger(maxChunkLines) && maxChunkLines > 0)) throw new UsageError(`--max-chunk-lines ${options.maxChunkLines}: expected a whole number of lines > 0`);
  const tier = tierOption(options.tier);
  const skipped = new SkipLog();
  const plan = await planRequests(path, {
    prices: await prices(options),
    ...(tier ? { tier } : {}),
    ...(outputTokens !== undefined ? { outputTokens } : {}),
    ...(enqueuedTokenLimit !== undefined ? { enqueuedTokenLimit } : {}),
    ...(maxChunkLines !== undefined ? { maxChunkLines } : {}),
    ...(label ? { label } : {}),
    ...(options.skipBad ? { onBadLine: silentSkips ? () => {} : (err: BatchlineError & { at?: Location }) => skipped.report(err.at ?? { file: label ?? path }, err.message) } : {}),
  });
  skipped.summary("plan");
  return plan;
}

function tierOption(value: unknown): PriceTier | undefined {
  const tier = stringOption(value as string | undefined);
  if (tier === undefined) return undefined;
  if (!(PRICE_TIERS as readonly string[]).includes(tier)) throw new UsageError(`--tier ${tier}: expected ${PRICE_TIERS.join(", ")}`);
  return tier as PriceTier;
}

/** The prices a submit pays: batch for batch backends; openai-compatible standard, or flex with --service-tier flex. */
export function pricingTier(backend: string, serviceTier: unknown): PriceTier {
  if (backend !== "openai-compatible") return "batch";
  return stringOption(serviceTier as string | undefined) === "flex" ? "flex" : "standard";
}

/** A direct run's --max-cost budget (prices, tier, --output-tokens as the plan reads them). */
export async function costBudget(options: CostOptions, tier: PriceTier): Promise<DirectBudget> {
  const outputTokens = options.outputTokens === undefined ? undefined : Number(options.outputTokens);
  return directBudget({ limit: maxCostOf(options)!, prices: await prices(options), tier, ...(outputTokens !== undefined ? { outputTokens } : {}) });
}

/** Throws when --max-cost is given and the plan's estimate is above it (or cannot be priced); `refuse: false` checks only the prices. */
function checkMaxCost(plan: Plan, options: CostOptions, refuse = true): void {
  const limit = maxCostOf(options);
  if (limit === undefined) return;
  if (plan.unpriced.length > 0) throw new BatchlineError(`--max-cost ${limit}: no price for ${plan.unpriced.join(", ")}; add it with --price-table <file>`);
  if (refuse && plan.maxCost > limit) {
    const output = plan.outputTokens === undefined ? "at max_tokens" : `at ${plan.outputTokens} tokens per request`;
    const hint = plan.outputTokens === undefined ? " (use --output-tokens N to assume N output tokens per request)" : "";
    throw new BatchlineError(`estimated cost up to $${plan.maxCost.toFixed(2)} (input $${plan.inputCost.toFixed(2)} + output ${output}) is above --max-cost ${limit}; nothing was sent${hint}`);
  }
}

/** Plans a request file; with --max-cost, throws when the worst case (or the --output-tokens assumption) is above it. */
export async function checkCost(path: string, options: CostOptions & { skipBad?: boolean }, how: { refuse?: boolean } = {}): Promise<Plan> {
  maxCostOf(options);
  // with --skip-bad the bad lines are reported once, by the submit that follows
  const plan = await planWith(path, options, undefined, true);
  checkMaxCost(plan, options, how.refuse ?? true);
  return plan;
}

/** The request cache part of `plan`: which backend's answers to look for, and where. */
interface PlanCacheOptions {
  backend?: string;
  baseUrl?: string;
  from?: string;
  anthropicVersion?: string;
  cache?: string | boolean;
  cacheKeyIgnore?: string;
}

/** How many lines the cache would answer for --backend (default openai-batch), or undefined with --no-cache. */
async function cachePlan(requests: string, options: CostOptions & PlanCacheOptions, env: PlanEnv): Promise<CachePlan | undefined> {
  const dir = cacheDirForCli(options.cache, env);
  const backend = stringOption(options.backend) ?? "openai-batch";
  checkBackendName(backend);
  const ignore = parseKeyIgnore(options.cacheKeyIgnore);
  if (dir === undefined) return undefined;
  return planCacheHits(requests, dir, await cacheScopeFor(backend, options, env), ignore, await prices(options));
}

/** What plan reads from the environment: where the cache is, and the base URLs that are part of its key. */
export type PlanEnv = CacheEnv & Record<string, string | undefined>;

export function registerPlan(cli: CAC, env: PlanEnv = {}): void {
  cli
    .command("plan [requests]", "Lines, bytes, chunks per backend, input tokens and the cost (at batch prices, or --tier) of a request file")
    .option("--price-table <file>", "JSON price table to use instead of the bundled, dated one")
    .option("--tier <tier>", "Price at batch (default), flex or standard prices; lines asking for service_tier flex are priced at flex unless batch")
    .option("--max-cost <usd>", "Exit 1 if the estimated cost is above this")
    .option("--output-tokens <n>", "Assume n output tokens per request (default: each request's max_tokens, the worst case)")
    .option("--enqueued-token-limit <tokens>", "OpenAI's enqueued-token limit for the model: say how many chunks can be in flight at once")
    .option("--max-chunk-lines <n>", "Plan chunks of at most n lines, as submit --max-chunk-lines makes them")
    .option("--json", "Print the plan as JSON")
    .option("--skip-bad", "Report and leave out bad lines instead of failing")
    .option("--backend <name>", "Request cache: count the lines this backend's cached answers cover (default openai-batch)")
    .option("--base-url <url>", "Request cache: the base URL the requests would go to (default: the backend's env, e.g. OPENAI_BASE_URL)")
    .option("--from <file>", "Request cache, --backend replay: the recording")
    .option("--anthropic-version <date>", "Request cache, --backend anthropic-batch: the API version")
    .option("--cache [dir]", "Request cache directory (default: BATCHLINE_CACHE, else $XDG_CACHE_HOME/batchline/responses, else ~/.cache/batchline/responses)")
    .option("--no-cache", "Leave the request cache out of the plan")
    .option("--cache-key-ignore <fields>", "As for submit: custom_id (default; the pass stays in), body.<field>, or none")
    .example("batchline plan batch_requests_step2.jsonl --max-cost 50")
    .example("batchline plan batch_requests_step2.jsonl --enqueued-token-limit 2000000")
    .option(...INPUT_OPTION)
    .action(async (positional: string | undefined, options: CostOptions & PlanCacheOptions & { json?: boolean; input?: string; skipBad?: boolean }) => {
      const requests = inputPath(positional, options, "plan");
      // plan reads the file twice when it refuses (the plan, then the refusal): stdin is kept in a temp file
      const stdin = requests === "-" ? await spoolStdin() : undefined;
      try {
        await planCommand(stdin?.path ?? requests, options, env, stdin ? "<stdin>" : undefined);
      } finally {
        await stdin?.cleanup();
      }
    });
}

async function planCommand(requests: string, options: CostOptions & PlanCacheOptions & { json?: boolean; skipBad?: boolean }, env: PlanEnv, label?: string): Promise<void> {
  await checkInputFile(requests, "request file");
  maxCostOf(options);
  const plan = await planWith(requests, options, label);
  const cached = options.skipBad ? undefined : await cachePlan(requests, options, env);
  // The plan is printed before a refusal, so the user sees what the number is made of.
  const lines = [...formatPlan(plan), ...(cached ? [formatCachePlan(cached, plan.lines)] : [])];
  process.stdout.write((options.json ? JSON.stringify(cached ? { ...plan, cache: cached } : plan) : lines.join("\n")) + "\n");
  checkMaxCost(plan, options);
}
