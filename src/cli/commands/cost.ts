/** `batchline cost <output.jsonl>`: what a run's answers cost, from the usage the provider reported. */
import type { CAC } from "cac";
import { checkInputFile } from "../../core/file-checks.ts";
import { BUNDLED_PRICES, type PriceTable, loadPriceTable } from "../../submitters/prices.ts";
import { costOfOutput, formatCost, tierOfOutput } from "../../submitters/usage-cost.ts";
import { stringOption } from "../options.ts";

interface CostCommandOptions {
  backend?: string;
  tier?: string;
  priceTable?: string;
  json?: boolean;
}

async function costCommand(output: string, options: CostCommandOptions): Promise<void> {
  await checkInputFile(output, "output file");
  const path = stringOption(options.priceTable);
  const prices: PriceTable = path ? await loadPriceTable(path) : BUNDLED_PRICES;
  const report = await costOfOutput(output, { prices, tier: await tierOfOutput(output, { tier: stringOption(options.tier), backend: stringOption(options.backend) }) });
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
