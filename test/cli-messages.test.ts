/** What `plan` and `validate` say: the assumption the estimate rests on, a refusal that suggests only what was not given, stdin. */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl"); // 6 requests, deepseek-ai/DeepSeek-V3.2, max_tokens 32768

let dir = "";
let cleanup = async () => {};
let table = "";
before(async () => {
  ({ dir, cleanup } = await tempDir());
  table = join(dir, "prices.json");
  await writeFile(table, JSON.stringify({ date: "2026-11-01", models: { "DeepSeek-V3.2": { input: 1, output: 10 } } }));
});
after(() => cleanup());

describe("plan messages", () => {
  it("says which output assumption the estimate uses", async () => {
    const worst = await runCli(["plan", REQUESTS, "--price-table", table]);
    assert.equal(worst.code, 0, worst.stderr);
    assert.match(worst.stdout, /if every request uses its whole max_tokens/);
    assert.match(worst.stdout, /\(estimate: 4 characters per token\)/);
    assert.doesNotMatch(worst.stdout, /\(estimate \(/);
    const assumed = await runCli(["plan", REQUESTS, "--price-table", table, "--output-tokens", "100"]);
    assert.equal(assumed.code, 0, assumed.stderr);
    assert.match(assumed.stdout, /if every request writes 100 output tokens \(--output-tokens\)/);
    assert.doesNotMatch(assumed.stdout, /whole max_tokens/);
  });

  it("a --max-cost refusal suggests --output-tokens only when it was not given", async () => {
    const worst = await runCli(["plan", REQUESTS, "--price-table", table, "--max-cost", "0.0001"]);
    assert.equal(worst.code, 1);
    assert.match(worst.stderr, /output at max_tokens\) is above --max-cost 0\.0001; nothing was sent \(use --output-tokens N/);
    const assumed = await runCli(["plan", REQUESTS, "--price-table", table, "--max-cost", "0.0001", "--output-tokens", "100"]);
    assert.equal(assumed.code, 1);
    assert.match(assumed.stderr, /output at 100 tokens per request\) is above --max-cost 0\.0001; nothing was sent\n$/);
    assert.match(assumed.stdout, /if every request writes 100 output tokens/, "the plan printed is the one refused");
  });

  it("plans stdin with -, naming it <stdin>", async () => {
    const r = await runCli(["plan", "-", "--json"], { input: await readFile(REQUESTS) });
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { file: string; lines: number };
    assert.equal(plan.file, "<stdin>");
    assert.equal(plan.lines, 6);
    const bad = await runCli(["plan", "-"], { input: '{"custom_id":"a"}\n' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^batchline: <stdin>:1 \(custom_id=a\): not a valid batch request line/);
  });

  it("validate: an output line with neither a response nor an error is a bad line, not an unknown outcome", async () => {
    const file = join(dir, "null-null.jsonl");
    await writeFile(file, '{"id":"b1","custom_id":"a","response":null,"error":null}\n{"id":"b2","custom_id":"b","response":null,"error":{"code":"batch_expired","message":"x"}}\n');
    const r = await runCli(["validate", file, "--kind", "output"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /null-null\.jsonl:1 \(custom_id=a\): neither a response nor an error/);
    assert.doesNotMatch(r.stdout, /unknown/);
    assert.match(r.stderr, /^batchline: 1 problem\(s\) in /);
  });
});
