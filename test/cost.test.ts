/** `batchline cost`: spend from each answer's reported usage, per tier, through the CLI. */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempDir } from "./helpers.ts";

const TABLE = {
  date: "2026-01-01",
  batch_discount: 0.5,
  flex_discount: 0.75,
  models: { "m-a": { input: 2, cached_input: 0.5, cache_write: 2.5, output: 10, long_context: { above: 1000, input: 4, cached_input: 1, cache_write: 5, output: 20 } } },
};

const ok = (id: string, body: Record<string, unknown>) => ({ id: `r-${id}`, custom_id: id, response: { status_code: 200, request_id: `q-${id}`, body }, error: null });
const LINES = [
  // Chat Completions: 600 uncached + 300 cached in, 100 out (60 of them reasoning) -> 600*2 + 300*0.5 + 100*10 = 2350
  ok("a", { model: "m-a", usage: { prompt_tokens: 900, completion_tokens: 100, prompt_tokens_details: { cached_tokens: 300 }, completion_tokens_details: { reasoning_tokens: 60 } } }),
  // anthropic-batch's translation, prompt over 1000 -> long context: 500*4 + 1000 read *1 + 500 write *5 + 100*20 = 7500
  ok("b", { model: "m-a", usage: { prompt_tokens: 2000, completion_tokens: 100, prompt_tokens_details: { cached_tokens: 1000 }, cache_creation_input_tokens: 500, cache_read_input_tokens: 1000 } }),
  // Responses usage: 100*2 + 10*10 = 300
  ok("c", { model: "m-a", usage: { input_tokens: 100, output_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } } }),
  { id: "r-d", custom_id: "d", response: null, error: { code: "batch_expired", message: "expired" } },
  ok("e", { model: "zzz", usage: { prompt_tokens: 10, completion_tokens: 10 } }),
  // served as flex on a direct run: 100 * 2 * (1 - 0.75) = 50; on a batch backend the batch price: 100
  ok("f", { model: "m-a", service_tier: "flex", usage: { prompt_tokens: 100, completion_tokens: 0 } }),
];

describe("batchline cost", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let output: string;
  let table: string;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    output = join(dir, "out.jsonl");
    table = join(dir, "prices.json");
    await writeFile(output, LINES.map((l) => JSON.stringify(l)).join("\n") + "\n");
    await writeFile(table, JSON.stringify(TABLE));
  });
  after(() => cleanup());

  it("prices cached input, cache writes, reasoning and long context at the backend's tier", async () => {
    const direct = await runCli(["cost", output, "--backend", "openai-compatible", "--price-table", table, "--json"]);
    assert.equal(direct.code, 0, direct.stderr);
    const report = JSON.parse(direct.stdout);
    assert.equal(report.lines, 6);
    assert.equal(report.linesWithUsage, 5);
    assert.deepEqual(report.unpriced, ["zzz"]);
    assert.ok(Math.abs(report.totalUSD - (2350 + 7500 + 300 + 50) / 1e6) < 1e-12, String(report.totalUSD));
    const standard = report.rows.find((r: { tier: string; model: string }) => r.tier === "standard" && r.model === "m-a");
    assert.equal(standard.lines, 3);
    assert.equal(standard.longContextLines, 1);
    assert.equal(standard.cachedInputTokens, 1300);
    assert.equal(standard.cacheWriteTokens, 500);
    assert.equal(standard.reasoningTokens, 60);
    assert.ok(report.rows.some((r: { tier: string }) => r.tier === "flex"));

    const batch = await runCli(["cost", output, "--backend", "openai-batch", "--price-table", table, "--json"]);
    assert.equal(batch.code, 0, batch.stderr);
    assert.ok(Math.abs(JSON.parse(batch.stdout).totalUSD - ((2350 + 7500 + 300) / 2 + 100) / 1e6) < 1e-12);

    const text = await runCli(["cost", output, "--tier", "batch", "--price-table", table]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /m-a \[batch\]: 4 lines, 3,100 input \(1,300 cached, 500 cache writes\), 210 output \(60 reasoning\), 1 at long-context rates -> \$0\.0052/);
    assert.match(text.stdout, /zzz \[batch\]: 1 lines.*no price in the table/);
    assert.match(text.stdout, /^total \$0\.0052 \(not counting zzz: no price\)$/m);
  });

  it("tells the backend from the files beside the output, and refuses to guess", async () => {
    const guess = await runCli(["cost", output, "--price-table", table]);
    assert.equal(guess.code, 1);
    assert.match(guess.stderr, /^batchline: cannot tell which backend wrote .*give --backend <name> or --tier batch\|flex\|standard\n$/);
    await writeFile(`${output}.sha256.jsonl`, "");
    const direct = await runCli(["cost", output, "--price-table", table, "--json"]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.ok(JSON.parse(direct.stdout).rows.every((r: { tier: string }) => r.tier !== "batch"));
    const bad = await runCli(["cost", output, "--tier", "cheap"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--tier cheap: expected batch, flex, standard/);
  });

  it("prices the bundled table's Anthropic cache writes at 1.25x input", async () => {
    const anthropic = join(dir, "anthropic.jsonl");
    await writeFile(anthropic, JSON.stringify(ok("x", { model: "claude-sonnet-4-5-20250929", usage: { prompt_tokens: 1_000_000, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 0 }, cache_creation_input_tokens: 1_000_000, cache_read_input_tokens: 0 } })) + "\n");
    // 1M cache-write tokens is over the 200K long-context threshold: $7.50 per 1M at standard, half in a batch
    const r = await runCli(["cost", anthropic, "--backend", "anthropic-batch", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).totalUSD, 3.75);
  });
});
