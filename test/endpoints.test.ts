/**
 * Every endpoint the OpenAI Batch API accepts, end to end: `validate` takes it, `requests rewrite
 * --url` converts chat and Responses bodies into each other (and refuses what cannot move),
 * `submit openai-batch` sends it through `batchline serve`, which forwards each line to the same
 * path upstream.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BATCH_URLS } from "../schemas/batch-request.ts";
import { validateBatchFile } from "../src/core/validate.ts";
import { startBatchServer } from "../src/server/batch-server.ts";
import { upstreamExecutor } from "../src/server/executors.ts";
import { chunks, parseLines, readBody, runCli, tempDir } from "./helpers.ts";
import { readJsonlLines } from "../src/core/jsonl.ts";

/** One valid body per endpoint, with the fields its create-request schema requires. */
const BODIES: Record<(typeof BATCH_URLS)[number], Record<string, unknown>> = {
  "/v1/chat/completions": { model: "gpt-4.1-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 50 },
  "/v1/responses": { model: "gpt-5-mini", input: "hi", max_output_tokens: 50 },
  "/v1/embeddings": { model: "text-embedding-3-small", input: ["a", "b", "c"] },
  "/v1/completions": { model: "gpt-3.5-turbo-instruct", prompt: "def add(a, b):", max_tokens: 20 },
  "/v1/moderations": { model: "omni-moderation-latest", input: "some text" },
  "/v1/images/generations": { model: "gpt-image-1", prompt: "a lighthouse at dusk" },
  "/v1/images/edits": { model: "gpt-image-1", prompt: "add a boat", image: "https://example.invalid/lighthouse.png" },
  "/v1/videos": { model: "sora-2", prompt: "waves on rocks" },
};

const request = (id: string, url: string, body: Record<string, unknown>) => JSON.stringify({ custom_id: id, method: "POST", url, body });
const idOf = (url: string) => url.slice(4).replaceAll("/", "-");

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

describe("every Batch API endpoint", () => {
  it("validate accepts each endpoint's request lines and names a missing required field", async () => {
    for (const [url, body] of Object.entries(BODIES)) {
      const report = await validateBatchFile(readJsonlLines(chunks(request("x", url, body) + "\n", 7)), { file: "f.jsonl" });
      assert.equal(report.problemCount, 0, `${url}: ${JSON.stringify(report.problems)}`);
    }
    const path = join(dir, "missing.jsonl");
    await writeFile(path, request("no-input", "/v1/embeddings", { model: "text-embedding-3-small" }) + "\n");
    const r = await runCli(["validate", path]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /missing\.jsonl:1 \(custom_id=no-input\): a \/v1\/embeddings body needs body\.input/);
  });

  it("submit openai-batch sends each endpoint through serve, which forwards it to the same path upstream; openai-compatible too", async () => {
    const seen: { path: string; body: Record<string, unknown> }[] = [];
    const upstream = createServer(async (req, res) => {
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      seen.push({ path: req.url ?? "", body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "answer", path: req.url, model: body.model, usage: { prompt_tokens: 3, total_tokens: 3 } }));
    });
    upstream.listen(0, "127.0.0.1");
    await new Promise((r) => upstream.once("listening", r));
    const server = await startBatchServer({ executor: upstreamExecutor({ baseURL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` }) });
    try {
      const requests = join(dir, "all-endpoints.jsonl");
      await writeFile(requests, Object.entries(BODIES).map(([url, body]) => request(idOf(url), url, body) + "\n").join(""));
      const out = join(dir, "all-endpoints-out.jsonl");
      const r = await runCli(["submit", "openai-batch", requests, "-o", out, "--poll-interval", "0.02", "--create-interval", "0"], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(seen.map((s) => s.path).sort(), [...BATCH_URLS].sort(), "each line went to its own path upstream");
      for (const s of seen) assert.deepEqual(s.body, BODIES[s.path as keyof typeof BODIES], `${s.path}: the body went through unchanged`);
      const batches = [...server.batches.values()];
      assert.deepEqual(batches.map((b) => b.endpoint).sort(), [...BATCH_URLS].sort(), "one batch per endpoint, created with that endpoint");
      const lines = parseLines(await readFile(out, "utf8")) as { custom_id: string; response: { status_code: number; body: { path: string } } }[];
      assert.equal(lines.length, BATCH_URLS.length);
      for (const l of lines) assert.equal(l.response.body.path, `/v1/${l.custom_id.replaceAll("-", "/")}`);

      // The direct OpenAI-format backend sends each line to its own path too.
      seen.length = 0;
      const direct = await runCli(["submit", "openai-compatible", requests, "-o", join(dir, "direct-out.jsonl"), "--base-url", `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`]);
      assert.equal(direct.code, 0, direct.stderr);
      assert.deepEqual(seen.map((s) => s.path).sort(), [...BATCH_URLS].sort());
    } finally {
      await server.close();
      upstream.close();
    }
  });
});

describe("requests rewrite --url between chat and the Responses API", () => {
  const chat = {
    model: "gpt-4.1-mini",
    messages: [
      { role: "system", content: "You fix bugs." },
      { role: "user", content: [{ type: "text", text: "Fix it." }, { type: "image_url", image_url: { url: "https://example.invalid/a.png", detail: "low" } }] },
    ],
    max_tokens: 512,
    temperature: 0.2,
    reasoning_effort: "low",
    response_format: { type: "json_schema", json_schema: { name: "edit", schema: { type: "object" }, strict: true } },
    tools: [{ type: "function", function: { name: "run", description: "run tests", parameters: { type: "object" } } }],
    tool_choice: { type: "function", function: { name: "run" } },
  };

  it("moves a chat body to /v1/responses and back, and --max-tokens sets max_output_tokens", async () => {
    const path = join(dir, "chat.jsonl");
    await writeFile(path, request("c1", "/v1/chat/completions", chat) + "\n");
    const r = await runCli(["requests", "rewrite", "-i", path, "--url", "/v1/responses"]);
    assert.equal(r.code, 0, r.stderr);
    const [line] = parseLines(r.stdout) as { url: string; body: Record<string, unknown> }[];
    assert.equal(line!.url, "/v1/responses");
    assert.deepEqual(line!.body, {
      model: "gpt-4.1-mini",
      input: [
        { role: "system", content: "You fix bugs." },
        { role: "user", content: [{ type: "input_text", text: "Fix it." }, { type: "input_image", image_url: "https://example.invalid/a.png", detail: "low" }] },
      ],
      max_output_tokens: 512,
      temperature: 0.2,
      reasoning: { effort: "low" },
      text: { format: { type: "json_schema", name: "edit", schema: { type: "object" }, strict: true } },
      tools: [{ type: "function", name: "run", description: "run tests", parameters: { type: "object" } }],
      tool_choice: { type: "function", name: "run" },
    });
    const responses = join(dir, "responses.jsonl");
    await writeFile(responses, r.stdout);
    assert.equal((await runCli(["validate", responses])).code, 0);
    const back = await runCli(["requests", "rewrite", "-i", responses, "--url", "/v1/chat/completions", "--max-tokens", "100"]);
    assert.equal(back.code, 0, back.stderr);
    const [again] = parseLines(back.stdout) as { body: Record<string, unknown> }[];
    const { max_tokens: _cap, ...rest } = chat;
    assert.deepEqual(again!.body, { ...rest, max_completion_tokens: 100 }, "the round trip gives the chat body back (max_tokens as max_completion_tokens)");
    const capped = await runCli(["requests", "rewrite", "-i", responses, "--max-tokens", "64"]);
    assert.equal((parseLines(capped.stdout)[0] as { body: { max_output_tokens: number } }).body.max_output_tokens, 64);
  });

  it("a Responses body with a plain string input and instructions becomes system + user messages", async () => {
    const path = join(dir, "resp.jsonl");
    await writeFile(path, request("r1", "/v1/responses", { model: "gpt-5-mini", instructions: "Be brief.", input: "Which file?", max_output_tokens: 300 }) + "\n");
    const r = await runCli(["requests", "rewrite", "-i", path, "--url", "/v1/chat/completions"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((parseLines(r.stdout)[0] as { body: unknown }).body, { model: "gpt-5-mini", max_completion_tokens: 300, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Which file?" }] });
  });

  it("refuses what cannot move: a field without an equivalent, or another endpoint", async () => {
    const path = join(dir, "chat-n.jsonl");
    await writeFile(path, [request("ok", "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: "x" }] }), request("two", "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: "x" }], n: 2 })].join("\n") + "\n");
    const r = await runCli(["requests", "rewrite", "-i", path, "-o", join(dir, "n-out.jsonl"), "--url", "/v1/responses"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: .*chat-n\.jsonl:2 \(custom_id=two\): body\.n has no \/v1\/responses equivalent/m);
    const e = await runCli(["requests", "rewrite", "-i", path, "-o", join(dir, "e-out.jsonl"), "--url", "/v1/embeddings"]);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /chat-n\.jsonl:1 \(custom_id=ok\): a \/v1\/chat\/completions body cannot become a \/v1\/embeddings body/);
  });
});
