/**
 * A direct submit through the request cache stores each success as it arrives, not in a pass after
 * the run: a run that stops early (here --max-cost) keeps what it was paid for in the cache, so the
 * next run, even into another output, does not send it again. Through the CLI, against the test
 * chat server.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startChatServer } from "./chat-server.ts";
import { runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const line = (id: string, prompt: string, maxTokens: number) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }], max_tokens: maxTokens } });

describe("request cache, direct backend (CLI)", () => {
  it("a run stopped by --max-cost keeps the answers it got in the cache; the next run sends only the rest", async () => {
    const chat = await startChatServer();
    try {
      const cache = join(dir, "cache");
      const requests = join(dir, "requests.jsonl");
      // b's worst case (100,000 output tokens) does not fit under the limit; a's does.
      await writeFile(requests, [line("a", "alpha", 16), line("b", "beta", 100_000), line("c", "gamma", 16)].join("\n") + "\n");
      const submit = (out: string, maxCost: string) => runCli(["submit", "openai-compatible", requests, "-o", join(dir, out), "--base-url", chat.baseURL, "--cache", cache, "--max-cost", maxCost]);

      const stopped = await submit("first.jsonl", "0.0001");
      assert.equal(stopped.code, 1, stopped.stderr);
      assert.match(stopped.stderr, /--max-cost 0\.0001: stopped sending at .*requests\.jsonl:2 \(custom_id=b\)/);
      assert.deepEqual([...chat.calls.entries()].sort(), [["alpha", 1]]);

      // Another output, a limit that fits: a comes from the cache, b and c are sent.
      const rest = await submit("second.jsonl", "1");
      assert.equal(rest.code, 0, rest.stderr);
      assert.match(rest.stderr, /1 of 3 line\(s\) answered from/);
      assert.deepEqual([...chat.calls.entries()].sort(), [["alpha", 1], ["beta", 1], ["gamma", 1]]);
      const out = (await readFile(join(dir, "second.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { custom_id: string; response: { body: { choices: { message: { content: string } }[] } } });
      assert.deepEqual(out.map((o) => [o.custom_id, o.response.body.choices[0]!.message.content]), [["a", "echo: alpha"], ["b", "echo: beta"], ["c", "echo: gamma"]]);
    } finally {
      await chat.close();
    }
  });
});
