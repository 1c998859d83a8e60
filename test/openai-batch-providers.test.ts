/**
 * openai-batch against other OpenAI-format batch providers, through the CLI: Groq (its double,
 * from Groq's docs: routes under /openai/v1, chat-only batches, 24h-7d windows), and the providers
 * whose batch routes are not OpenAI's, refused before anything is sent.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type GroqDouble, startGroqDouble } from "./groq-double.ts";
import { parseLines, runCli, tempDir, echoExecutor } from "./helpers.ts";

const echo = echoExecutor;

let dir = "";
let cleanup = async () => {};
let groq: GroqDouble;
before(async () => {
  ({ dir, cleanup } = await tempDir());
  groq = await startGroqDouble(echo);
});
after(async () => {
  await groq.close();
  await cleanup();
});

const chat = (id: string) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "llama-3.1-8b-instant", messages: [{ role: "user", content: id }] } });
const poll = ["--poll-interval", "0.02", "--max-poll-interval", "0.1"];

describe("openai-batch --provider", () => {
  it("groq: a 7d completion window goes through and every answer comes back", async () => {
    const requests = join(dir, "groq.jsonl");
    await writeFile(requests, ["a", "b", "c"].map(chat).join("\n") + "\n");
    const out = join(dir, "groq-out.jsonl");
    const r = await runCli(["submit", "openai-batch", requests, "-o", out, "--provider", "groq", "--completion-window", "7d", ...poll], { env: { OPENAI_API_KEY: "gsk-test", OPENAI_BASE_URL: groq.baseURL } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(groq.windows, ["7d"]);
    const lines = parseLines(await readFile(out, "utf8")) as { custom_id: string; response: { status_code: number } }[];
    assert.deepEqual(lines.map((l) => [l.custom_id, l.response.status_code]), [["a", 200], ["b", 200], ["c", 200]]);
  });

  it("groq: a line Groq's batches do not take stops the run before anything is uploaded", async () => {
    const requests = join(dir, "groq-embed.jsonl");
    await writeFile(requests, `${chat("a")}\n${JSON.stringify({ custom_id: "e", method: "POST", url: "/v1/embeddings", body: { model: "m", input: "x" } })}\n`);
    const before = groq.uploads;
    const r = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "groq-embed-out.jsonl"), "--provider", "groq", ...poll], { env: { OPENAI_API_KEY: "gsk-test", OPENAI_BASE_URL: groq.baseURL } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /groq-embed\.jsonl:2 \(custom_id=e\).*groq's Batch API does not take \/v1\/embeddings lines/);
    assert.equal(groq.uploads, before, "nothing was uploaded");
  });

  it("a window the provider does not take, and providers whose batch API is not OpenAI's, are refused up front", async () => {
    const requests = join(dir, "one.jsonl");
    await writeFile(requests, chat("a") + "\n");
    const env = { OPENAI_API_KEY: "k", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" };
    const openai = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "x1.jsonl"), "--completion-window", "7d"], { env });
    assert.equal(openai.code, 1);
    assert.match(openai.stderr, /^batchline: --completion-window 7d: openai takes only 24h\n$/);
    const tooLong = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "x2.jsonl"), "--provider", "groq", "--completion-window", "8d"], { env });
    assert.match(tooLong.stderr, /--completion-window 8d: groq takes 24h to 7d/);
    // detected from the base URL's host; refused before any network call
    const mistral = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "x3.jsonl"), "--base-url", "https://api.mistral.ai/v1"], { env });
    assert.equal(mistral.code, 1);
    assert.match(mistral.stderr, /^batchline: \[openai-batch\] mistral's batch API is not OpenAI's: jobs at \/v1\/batch\/jobs/m);
    const openrouter = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "x4.jsonl"), "--provider", "openrouter"], { env });
    assert.match(openrouter.stderr, /openrouter's batch API is not OpenAI's: POST \/api\/beta\/batches takes the requests inline/);
    const unknown = await runCli(["submit", "openai-batch", requests, "-o", join(dir, "x5.jsonl"), "--provider", "acme"], { env });
    assert.match(unknown.stderr, /--provider acme: expected one of openai, groq, together, mistral, fireworks, anthropic, gemini, openrouter/);
    const direct = await runCli(["submit", "openai-compatible", requests, "-o", join(dir, "x6.jsonl"), "--base-url", "http://127.0.0.1:9/v1", "--provider", "groq"]);
    assert.match(direct.stderr, /--provider is for openai-batch/);
  });
});
