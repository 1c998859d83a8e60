/** `batchline plan`: lines, bytes, chunks, tokens and cost of a request file before it is sent. */
import type { CAC } from "cac";
import { BatchlineError, UsageError } from "../../core/errors.ts";
import { type Plan, formatPlan, planRequests } from "../../submitters/plan.ts";
import { BUNDLED_PRICES, type PriceTable, loadPriceTable } from "../../submitters/prices.ts";
import { stringOption } from "../options.ts";

/** Options shared by `plan` and `submit --max-cost`. */
export interface CostOptions {
  priceTable?: string;
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

/** Plans a request file; with --max-cost, throws when the worst case (or the --output-tokens assumption) is above it. */
export async function checkCost(path: string, options: CostOptions): Promise<Plan> {
  const outputTokens = options.outputTokens === undefined ? undefined : Number(options.outputTokens);
  if (outputTokens !== undefined && !(Number.isInteger(outputTokens) && outputTokens >= 0)) throw new UsageError(`--output-tokens ${options.outputTokens}: expected a whole number per request`);
  const enqueuedTokenLimit = options.enqueuedTokenLimit === undefined ? undefined : Number(options.enqueuedTokenLimit);
  if (enqueuedTokenLimit !== undefined && !(Number.isInteger(enqueuedTokenLimit) && enqueuedTokenLimit > 0)) throw new UsageError(`--enqueued-token-limit ${options.enqueuedTokenLimit}: expected a whole number of tokens (your organization's limit for the model)`);
  const maxChunkLines = options.maxChunkLines === undefined ? undefined : Number(options.maxChunkLines);
  if (maxChunkLines !== undefined && !(Number.isInteger(maxChunkLines) && maxChunkLines > 0)) throw new UsageError(`--max-chunk-lines ${options.maxChunkLines}: expected a whole number of lines > 0`);
  const plan = await planRequests(path, {
    prices: await prices(options),
    ...(outputTokens !== undefined ? { outputTokens } : {}),
    ...(enqueuedTokenLimit !== undefined ? { enqueuedTokenLimit } : {}),
    ...(maxChunkLines !== undefined ? { maxChunkLines } : {}),
  });
  const limit = maxCostOf(options);
  if (limit !== undefined) {
    if (plan.unpriced.length > 0) throw new BatchlineError(`--max-cost ${limit}: no price for ${plan.unpriced.join(", ")}; add it with --price-table <file>`);
    if (plan.maxCost > limit) {
      throw new BatchlineError(`estimated cost up to $${plan.maxCost.toFixed(2)} (input $${plan.inputCost.toFixed(2)} + output at max_tokens) is above --max-cost ${limit}; nothing was sent (use --output-tokens N to assume N output tokens per request)`);
    }
  }
  return plan;
}

export function registerPlan(cli: CAC): void {
  cli
    .command("plan <requests>", "Lines, bytes, chunks per backend, input tokens and the cost at batch prices of a request file")
    .option("--price-table <file>", "JSON price table to use instead of the bundled, dated one")
    .option("--max-cost <usd>", "Exit 1 if the estimated cost is above this")
    .option("--output-tokens <n>", "Assume n output tokens per request (default: each request's max_tokens, the worst case)")
    .option("--enqueued-token-limit <tokens>", "OpenAI's enqueued-token limit for the model: say how many chunks can be in flight at once")
    .option("--max-chunk-lines <n>", "Plan chunks of at most n lines, as submit --max-chunk-lines makes them")
    .option("--json", "Print the plan as JSON")
    .example("batchline plan batch_requests_step2.jsonl --max-cost 50")
    .example("batchline plan batch_requests_step2.jsonl --enqueued-token-limit 2000000")
    .action(async (requests: string, options: CostOptions & { json?: boolean }) => {
      const plan = await checkCost(requests, options).catch(async (err: unknown) => {
        // Print the plan before refusing, so the user sees what the number is made of.
        if (err instanceof BatchlineError && maxCostOf(options) !== undefined && !(err instanceof UsageError)) {
          const p = await planRequests(requests, { prices: await prices(options) }).catch(() => undefined);
          if (p) process.stdout.write((options.json ? JSON.stringify(p) : formatPlan(p).join("\n")) + "\n");
        }
        throw err;
      });
      process.stdout.write((options.json ? JSON.stringify(plan) : formatPlan(plan).join("\n")) + "\n");
    });
}
