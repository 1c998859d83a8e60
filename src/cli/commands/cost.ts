/** `batchline cost <output.jsonl>`: what a run's answers cost, from the usage the provider reported. */
import type { CAC } from "cac";
import { access } from "node:fs/promises";
import { UsageError } from "../../core/errors.ts";
import { checkInputFile } from "../../core/file-checks.ts";
import { BUNDLED_PRICES, PRICE_TIERS, type PriceTable, type PriceTier, loadPriceTable } from "../../submitters/prices.ts";
import { loadState, statePathFor } from "../../submitters/state.ts";
import { requestHashesPathFor } from "../../submitters/direct-runner.ts";
import { BACKENDS } from "../../submitters/index.ts";
import { costOfOutput, formatCost, tierOfBackend } from "../../submitters/usage-cost.ts";
import { stringOption } from "../options.ts";

interface CostCommandOptions {
  backend?: string;
  tier?: string;
  priceTable?: string;
  json?: boolean;
}

const exists = (path: string) => access(path).then(() => true, () => false);

/** The tier the output was served at: --tier, else --backend's, else what the files beside it say (a batch state file, a direct run's hashes). */
async function tierOf(output: string, options: CostCommandOptions): Promise<PriceTier> {
  const tier = stringOption(options.tier);
  if (tier !== undefined) {
    if (!(PRICE_TIERS as readonly string[]).includes(tier)) throw new UsageError(`--tier ${tier}: expected ${PRICE_TIERS.join(", ")}`);
    return tier as PriceTier;
  }
  const backend = stringOption(options.backend);
  if (backend !== undefined) {
    if (!Object.hasOwn(BACKENDS, backend)) throw new UsageError(`--backend ${backend}: expected one of ${Object.keys(BACKENDS).join(", ")}`);
    return tierOfBackend(backend);
  }
  const state = await loadState(statePathFor(output));
  if (state) return tierOfBackend(state.backend);
  if (await exists(requestHashesPathFor(output))) return "standard";
  throw new UsageError(`cannot tell which backend wrote ${output} (no ${statePathFor(output)} or ${requestHashesPathFor(output)} beside it): give --backend <name> or --tier batch|flex|standard`);
}

async function costCommand(output: string, options: CostCommandOptions): Promise<void> {
  await checkInputFile(output, "output file");
  const path = stringOption(options.priceTable);
  const prices: PriceTable = path ? await loadPriceTable(path) : BUNDLED_PRICES;
  const report = await costOfOutput(output, { prices, tier: await tierOf(output, options) });
  process.stdout.write((options.json ? JSON.stringify(report) : formatCost(report).join("\n")) + "\n");
}

export function registerCost(cli: CAC): void {
  cli
    .command("cost <output>", "What an output file's answers cost, from the usage each one reports (cache reads and writes, reasoning, long context, batch/flex/standard price)")
    .option("--backend <name>", "The backend that wrote the output (default: read from <output>.state.json, or openai-compatible when <output>.sha256.jsonl is beside it)")
    .option("--tier <tier>", "Price every line at batch, flex or standard prices (default: the backend's; a direct line that says service_tier flex is flex)")
    .option("--price-table <file>", "JSON price table to use instead of the bundled, dated one")
    .option("--json", "Print the report as JSON")
    .example("batchline cost batch_output_step1.jsonl")
    .example("batchline cost out.jsonl --backend openai-compatible --json")
    .action((output: string, options: CostCommandOptions) => costCommand(output, options));
}
