/**
 * openai-compatible `--service-tier flex` (OpenAI flex processing) and `--max-cost` kept while a
 * direct run sends, through the CLI against the local chat server (its flex model follows
 * OpenAI's flex guide: 429 Resource Unavailable when it lacks capacity, 400 for a model without flex).
 */
import assert from "node:assert/strict";
import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startChatServer } from "./chat-server.ts";
import { parseLines, runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

/** USD per 1M tokens chosen so that one chat-server answer (7 in + 3 out) costs $0.01 at standard and $0.005 at flex. */
const TABLE = { date: "2026-01-01", batch_discount: 0.5, models: { m: { input: 1000, output: 1000 }, "m-flex": { input: 1000, output: 1000 } } };

async function requestsFile(name: string, n: number, model: string, extra: Record<string, unknown> = {}): Promise<string> {
  const path = join(dir, name);
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ custom_id: `r${i}`, method: "POST", url: "/v1/chat/completions", body: { model, messages: [{ role: "user", content: `p${i}` }], max_tokens: 2, ...extra } }));
  await writeFile(path, lines.join("\n") + "\n");
  return path;
}

const exists = (p: string) => access(p).then(() => true, () => false);

describe("openai-compatible --service-tier flex", () => {
  let table = "";
  before(async () => {
    table = join(dir, "prices.json");
    await writeFile(table, JSON.stringify(TABLE));
  });

  it("sends service_tier flex, retries 429 Resource Unavailable until served, and cost prices the answers at flex", async () => {
    const chat = await startChatServer({ flexModels: ["m-flex"], flexUnavailable: 2 });
    try {
      const requests = await requestsFile("flex.jsonl", 3, "m-flex");
      const out = join(dir, "flex-out.jsonl");
      const r = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL, "--service-tier", "flex", "--retry-backoff", "0.01"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(chat.flexCalls, 9, "every attempt asked for flex: 2 unavailable + 1 served per request");
      assert.match(r.stderr, /6 flex 429 \(resource unavailable\) answer\(s\) retried/);
      const lines = parseLines(await readFile(out, "utf8")) as { response: { status_code: number; body: { service_tier: string } } }[];
      assert.deepEqual(lines.map((l) => [l.response.status_code, l.response.body.service_tier]), [[200, "flex"], [200, "flex"], [200, "flex"]]);
      const cost = await runCli(["cost", out, "--price-table", table, "--json"]);
      assert.equal(cost.code, 0, cost.stderr);
      const report = JSON.parse(cost.stdout) as { totalUSD: number; rows: { tier: string }[] };
      assert.deepEqual(report.rows.map((row) => row.tier), ["flex"]);
      assert.ok(Math.abs(report.totalUSD - 3 * 0.005) < 1e-12, String(report.totalUSD));
    } finally {
      await chat.close();
    }
  });

  it("a model without flex is a 400 answer, not retried; --service-tier is refused for batch backends and unknown tiers", async () => {
    const chat = await startChatServer({ flexModels: ["m-flex"] });
    try {
      const requests = await requestsFile("noflex.jsonl", 1, "m");
      const r = await runCli(["submit", "openai-compatible", requests, "-o", join(dir, "noflex-out.jsonl"), "--base-url", chat.baseURL, "--service-tier", "flex"]);
      assert.equal(r.code, 1);
      assert.equal(chat.flexCalls, 1);
      assert.match(r.stderr, /1 of 1 line\(s\) failed \(http_400 1\)/);
      const batch = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "never.jsonl"), "--service-tier", "flex"], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } });
      assert.equal(batch.code, 1);
      assert.match(batch.stderr, /^batchline: --service-tier is for openai-compatible \(synchronous calls\), not openai-batch/m);
      const bad = await runCli(["submit", "openai-compatible", requests, "-o", join(dir, "never2.jsonl"), "--base-url", chat.baseURL, "--service-tier", "cheap"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--service-tier cheap: expected auto, default, flex, priority/);
    } finally {
      await chat.close();
    }
  });

  it("plan prices lines that ask for flex at the flex price, and --tier picks the prices", async () => {
    const flexLines = await requestsFile("plan-flex.jsonl", 2, "m", { service_tier: "flex" });
    const standard = await runCli(["plan", flexLines, "--price-table", table, "--tier", "standard", "--json"]);
    assert.equal(standard.code, 0, standard.stderr);
    const plain = await requestsFile("plan-plain.jsonl", 2, "m");
    const standardPlain = await runCli(["plan", plain, "--price-table", table, "--tier", "standard", "--json"]);
    const flexPlan = JSON.parse(standard.stdout) as { tier: string; maxCost: number; models: { flexLines: number }[] };
    const plainPlan = JSON.parse(standardPlain.stdout) as { maxCost: number };
    assert.equal(flexPlan.tier, "standard");
    assert.equal(flexPlan.models[0]!.flexLines, 2);
    assert.ok(Math.abs(flexPlan.maxCost - plainPlan.maxCost / 2) < 1e-12, `${flexPlan.maxCost} is half of ${plainPlan.maxCost}`);
    const text = await runCli(["plan", flexLines, "--price-table", table, "--tier", "standard"]);
    assert.match(text.stdout, /standard price \(m\): .*\(2 line\(s\) asking for service_tier flex at flex prices\)/);
    assert.match(text.stdout, /estimated cost at standard prices/);
    const bad = await runCli(["plan", plain, "--tier", "cheap"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--tier cheap: expected batch, flex, standard/);
  });
});

describe("openai-compatible --max-cost", () => {
  it("stops sending before spend plus what is in flight would pass it, says where, and a re-run with more continues", async () => {
    const table = join(dir, "prices-max.json");
    await writeFile(table, JSON.stringify(TABLE));
    const chat = await startChatServer();
    try {
      // each request: at most ~8 input + 2 output tokens = $0.01; each answer reports 10 tokens = $0.01
      const requests = await requestsFile("budget.jsonl", 10, "m");
      const out = join(dir, "budget-out.jsonl");
      const args = ["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL, "--price-table", table];
      const stopped = await runCli([...args, "--max-cost", "0.035"]);
      assert.equal(stopped.code, 1);
      assert.equal(chat.total(), 3, "three answers ($0.03) and no fourth: it could have passed $0.035");
      assert.match(stopped.stderr, /--max-cost 0\.035 is kept while sending/);
      assert.match(stopped.stderr, /batchline: --max-cost 0\.035: stopped sending at .*budget\.jsonl:4 \(custom_id=r3\): \$0\.0300 spent .*3 of 10 answered, 7 not sent\. The answers are kept in .*budget-out\.jsonl\.partial\.jsonl: run the same command with a higher --max-cost/);
      assert.equal(await exists(out), false, "no output until the run is complete");

      const again = await runCli([...args, "--max-cost", "0.035"]);
      assert.equal(again.code, 1, "the earlier answers count against the same limit");
      assert.equal(chat.total(), 3);

      const rest = await runCli([...args, "--max-cost", "1"]);
      assert.equal(rest.code, 0, rest.stderr);
      assert.equal(chat.total(), 10, "only the 7 not sent were sent");
      const lines = parseLines(await readFile(out, "utf8")) as { custom_id: string; response: { status_code: number } }[];
      assert.deepEqual(lines.map((l) => l.custom_id), Array.from({ length: 10 }, (_, i) => `r${i}`));
      assert.ok(lines.every((l) => l.response.status_code === 200));
    } finally {
      await chat.close();
    }
  });
});
