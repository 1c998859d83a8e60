/** `batchline plan`, `submit --max-cost`, and `batchline serve` as a process (upstream and replay). */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { getEncoding } from "js-tiktoken";
import { batchPrice, BUNDLED_PRICES } from "../src/submitters/prices.ts";
import { countInputTokens, encodingFor } from "../src/submitters/plan.ts";
import { startChatServer } from "./chat-server.ts";
import { CLI, FIXTURES, parseLines, runCli, tempDir } from "./helpers.ts";
import { writeContractRequests } from "./submitter-contract.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

describe("plan", () => {
  it("counts OpenAI tokens with the model family's tokenizer and estimates others", () => {
    const text = "def f(x):\n    return x  # café “q”\n";
    const exact = countInputTokens({ model: "gpt-4.1-mini", messages: [{ role: "user", content: text }] });
    assert.equal(exact.exact, true);
    const o200k = getEncoding("o200k_base");
    assert.equal(exact.tokens, o200k.encode("user").length + o200k.encode(text).length + 3 + 3);
    assert.equal(encodingFor("openai/gpt-4o-2024-08-06"), "o200k_base");
    assert.equal(encodingFor("gpt-4-turbo"), "cl100k_base");
    const est = countInputTokens({ model: "deepseek-ai/DeepSeek-V3.2", messages: [{ role: "user", content: "x".repeat(400) }] });
    assert.deepEqual(est, { tokens: Math.ceil(404 / 4) + 6, exact: false });
  });

  it("prices by the longest matching model prefix, at the batch discount", () => {
    assert.deepEqual(batchPrice(BUNDLED_PRICES, "gpt-4o-mini-2024-07-18"), { key: "gpt-4o-mini", input: 0.075, output: 0.3 });
    assert.equal(batchPrice(BUNDLED_PRICES, "openai/gpt-4.1")!.key, "gpt-4.1");
    assert.equal(batchPrice(BUNDLED_PRICES, "mystery-model"), undefined);
  });

  it("reports lines, chunks, tokens and cost, and --max-cost refuses a file above it", async () => {
    const requests = join(dir, "gpt.jsonl");
    await writeContractRequests(requests, 50);
    const text = (await readFile(requests, "utf8")).replaceAll('"model":"m-1"', '"model":"gpt-4.1-mini"');
    await writeFile(requests, text);
    const r = await runCli(["plan", requests, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.equal(plan.lines, 100);
    assert.deepEqual(plan.chunks, { "openai-batch": 1, "anthropic-batch": 1, "gemini-batch": 1 });
    assert.equal(plan.models[0].maxOutputTokens, 6400);
    assert.equal(plan.models[0].tokenizer, "o200k_base");
    assert.ok(Math.abs(plan.maxCost - (plan.models[0].inputTokens * 0.2 + 6400 * 0.8) / 1e6) < 1e-12);

    const refused = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "never.jsonl"), "--max-cost", "0.001"], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is above --max-cost 0\.001; nothing was sent/);
    await assert.rejects(readFile(join(dir, "never.jsonl.state.json")), { code: "ENOENT" });

    const table = join(dir, "prices.json");
    await writeFile(table, JSON.stringify({ date: "2026-11-01", models: { "gpt-4.1-mini": { input: 0, output: 0 } } }));
    const free = await runCli(["plan", requests, "--price-table", table, "--max-cost", "0"]);
    assert.equal(free.code, 0, free.stderr);
    assert.match(free.stdout, /table of 2026-11-01/);
    const bad = await runCli(["plan", requests, "--price-table", FIXTURES]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cannot read the price table/);
  });

  it("--enqueued-token-limit says how many chunks of a model fit in flight, and which chunk never can", async () => {
    const requests = join(dir, "gpt-limit.jsonl");
    await writeContractRequests(requests, 3); // 6 lines of one model
    const text = (await readFile(requests, "utf8")).replaceAll('"model":"m-1"', '"model":"gpt-4.1-mini"');
    await writeFile(requests, text);
    const perLine = text.trimEnd().split("\n").map((l) => countInputTokens(JSON.parse(l).body).tokens);
    const pairs = [0, 2, 4].map((i) => perLine[i]! + perLine[i + 1]!);
    const limit = Math.max(...pairs) + Math.min(...pairs) - 1; // one chunk of two lines at a time, never two
    const r = await runCli(["plan", requests, "--max-chunk-lines", "2", "--enqueued-token-limit", String(limit)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`gpt-4\\.1-mini: ${perLine.reduce((a, b) => a + b, 0).toLocaleString("en-US")} tokens enqueued in 3 chunk\\(s\\), largest ${Math.max(...pairs).toLocaleString("en-US")}: 1 of 3 chunk\\(s\\) can be in flight at once`));
    const json = JSON.parse((await runCli(["plan", requests, "--max-chunk-lines", "2", "--enqueued-token-limit", String(Math.max(...pairs) - 1), "--json"])).stdout);
    assert.deepEqual({ ...json.enqueued.models[0], tokens: undefined, largestChunk: undefined }, { model: "gpt-4.1-mini", chunks: 3, tokens: undefined, largestChunk: undefined, inFlight: 0, overLimit: pairs.filter((p) => p > Math.max(...pairs) - 1).length, suggestChunkLines: 1 });
    const all = await runCli(["plan", requests, "--enqueued-token-limit", "100000000"]);
    assert.match(all.stdout, /all 1 chunk\(s\) can be in flight at once/);
    const bad = await runCli(["plan", requests, "--enqueued-token-limit", "lots"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^batchline: --enqueued-token-limit lots: expected a whole number of tokens/);
  });
});

async function startServe(args: string[]): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const [first] = (await once(child.stdout!, "data")) as [Buffer];
  return { url: first.toString().trim(), child, stderr: () => err };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const done = once(child, "exit");
  child.kill("SIGINT");
  const [code] = (await done) as [number | null];
  return code;
}

describe("batchline serve (as a process)", () => {
  it("runs batches through an upstream chat server for the openai-batch submitter", async () => {
    const chat = await startChatServer({ latencyMs: 5 });
    const serve = await startServe(["--upstream", chat.baseURL, "--concurrency", "4", "--step-delay-ms", "20"]);
    try {
      assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const requests = join(dir, "up.jsonl");
      const ids = await writeContractRequests(requests, 5);
      const out = join(dir, "up-out.jsonl");
      const r = await runCli(["submit", "openai-batch", requests, "-o", out, "--poll-interval", "0.02"], { env: { OPENAI_API_KEY: "local", OPENAI_BASE_URL: serve.url } });
      assert.equal(r.code, 0, r.stderr);
      const lines = parseLines(await readFile(out, "utf8")) as { custom_id: string; response: { body: { choices: { message: { content: string } }[] } } }[];
      assert.deepEqual(lines.map((l) => l.custom_id), ids);
      for (const l of lines) assert.equal(l.response.body.choices[0]!.message.content, `echo: ${l.custom_id}`);
      assert.equal(chat.total(), 10);
      assert.match(serve.stderr(), /completed \(10 completed, 0 failed of 10\)/);
    } finally {
      assert.equal(await stop(serve.child), 0, "a graceful stop exits 0");
      await chat.close();
    }
  });

  it("answers from a replay file and applies fault flags given on the command line", async () => {
    const serve = await startServe(["--replay", join(FIXTURES, "batch/output-round1.jsonl"), "--line-error", "503=sympy", "--shuffle", "-q"]);
    try {
      const out = join(dir, "replay-out.jsonl");
      const r = await runCli(["submit", "openai-batch", join(FIXTURES, "batch/requests.jsonl"), "-o", out, "--poll-interval", "0.02"], { env: { OPENAI_API_KEY: "local", OPENAI_BASE_URL: serve.url } });
      assert.equal(r.code, 1, "replayed failures are failures: exit 1");
      const lines = parseLines(await readFile(out, "utf8")) as { custom_id: string; response: { status_code: number } | null; error: { code: string } | null }[];
      const byId = Object.fromEntries(lines.map((l) => [l.custom_id, l]));
      assert.equal(byId["sympy__sympy-20590__pass0"]!.response!.status_code, 503);
      assert.equal(byId["django__django-11099__pass0"]!.error!.code, "batch_expired", "the recorded failure is replayed as it was");
      assert.equal(byId["django__django-11099__pass1"]!.response!.status_code, 200);
    } finally {
      await stop(serve.child);
    }
  });

  it("refuses bad flags with one line", async () => {
    const both = await runCli(["serve"]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /needs exactly one of --upstream .* or --replay/);
    const bad = await runCli(["serve", "--upstream", "http://127.0.0.1:9/v1", "--line-error", "200=x"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--line-error 200=x: expected STATUS\[xTIMES\]=REGEX/);
  });
});

describe("openai-batch backend against serve", () => {
  it("reads the openai-poll-after-ms hint and request counts on retrieve", async () => {
    const { startBatchServer } = await import("../src/server/batch-server.ts");
    const openaiBatch = (await import("../src/submitters/openai-batch.ts")).default;
    const server = await startBatchServer({ executor: async () => ({ response: { status_code: 200, request_id: "r", body: {} }, error: null }), faults: { pollAfterMs: 123, stepDelayMs: 50 } });
    try {
      const backend = openaiBatch({ apiKey: "k", baseURL: server.baseURL });
      const chunk = { key: "bl-test-r0-c000", path: join(FIXTURES, "batch/requests.jsonl"), lines: 6, bytes: 2334, model: "deepseek-ai/DeepSeek-V3.2", endpoint: "/v1/chat/completions" };
      const fileId = await backend.upload!(chunk);
      assert.equal(await backend.findUpload!({ ...chunk, key: "requests" }), fileId, "an upload is found by its file name and size");
      const batchId = await backend.create(chunk, fileId);
      const first = await backend.retrieve(batchId);
      assert.equal(first.pollAfterMs, 123);
      assert.equal(first.phase, "running");
      let st = first;
      while (st.phase === "running") st = await backend.retrieve(batchId);
      assert.deepEqual([st.phase, st.counts], ["ended", { total: 6, completed: 6, failed: 0 }]);
      assert.equal(await backend.findBatch(chunk, undefined), batchId, "a batch is found by its chunk key in metadata");
    } finally {
      await server.close();
    }
  });
});
