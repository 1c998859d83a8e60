/** openai-compatible specifics: concurrency, Retry-After, timeouts, request errors, rate-limit buckets. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TokenBucket } from "../src/internal/rate-limit.ts";
import { estimateTokens, retryAfterMs } from "../src/submitters/openai-compatible.ts";
import { startChatServer } from "./chat-server.ts";
import { parseLines, runCli, tempDir } from "./helpers.ts";
import { writeContractRequests } from "./submitter-contract.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

interface Out {
  custom_id: string;
  response: { status_code: number } | null;
  error: { code: string; message: string } | null;
}

describe("submit openai-compatible", () => {
  it("keeps at most --concurrency requests in flight", async () => {
    const chat = await startChatServer({ latencyMs: 30 });
    try {
      const requests = join(dir, "conc.jsonl");
      await writeContractRequests(requests, 20);
      const r = await runCli(["submit", "openai-compatible", requests, "-o", join(dir, "conc-out.jsonl"), "--base-url", chat.baseURL, "--concurrency", "3"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(chat.total(), 40);
      assert.equal(chat.maxInFlight, 3, "the pool was kept full, and never over the limit");
    } finally {
      await chat.close();
    }
  });

  it("retries 429s honouring Retry-After, and 5xx, until they succeed", async () => {
    for (const [status, retryAfter] of [[429, "0.05"], [503, undefined]] as const) {
      const chat = await startChatServer({ failMatch: /__pass1$/, failTimes: 2, failStatus: status, ...(retryAfter ? { retryAfter } : {}) });
      try {
        const requests = join(dir, `retry${status}.jsonl`);
        const ids = await writeContractRequests(requests, 3);
        const out = join(dir, `retry${status}-out.jsonl`);
        const r = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL, "--max-retries", "3", "--retry-backoff", "0.02"], { env: { OPENAI_API_KEY: "" } });
        assert.equal(r.code, 0, r.stderr);
        const lines = parseLines(await readFile(out, "utf8")) as Out[];
        assert.deepEqual(lines.map((l) => l.custom_id), ids);
        assert.ok(lines.every((l) => l.response?.status_code === 200), `all succeed after ${status}s`);
        for (const id of ids) assert.equal(chat.calls.get(id), id.endsWith("__pass1") ? 3 : 1, id);
      } finally {
        await chat.close();
      }
    }
  });

  it("gives up after --max-retries and records the last HTTP answer; a 400 is not retried", async () => {
    const chat = await startChatServer({ failMatch: /-1000__pass0$/, failTimes: 99, failStatus: 500, badMatch: /-1001__pass0$/ });
    try {
      const requests = join(dir, "giveup.jsonl");
      await writeContractRequests(requests, 2);
      const out = join(dir, "giveup-out.jsonl");
      const r = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL, "--max-retries", "2", "--retry-backoff", "0.02"]);
      assert.equal(r.code, 1, "lines failed after retries: exit 1, with the counts");
      assert.match(r.stderr, /batchline: 2 of \d+ line\(s\) failed \((http_500 1, http_400 1|http_400 1, http_500 1)\)/);
      const byId = Object.fromEntries((parseLines(await readFile(out, "utf8")) as Out[]).map((l) => [l.custom_id, l]));
      assert.equal(byId["org__repo-1000__pass0"]!.response?.status_code, 500);
      assert.equal(chat.calls.get("org__repo-1000__pass0"), 3, "1 try + 2 retries");
      assert.equal(byId["org__repo-1001__pass0"]!.response?.status_code, 400);
      assert.equal(chat.calls.get("org__repo-1001__pass0"), 1, "client errors are answers, not retried");
      assert.match(r.stderr, /2 failed \((http_500 1, http_400 1|http_400 1, http_500 1)\)/);
    } finally {
      await chat.close();
    }
  });

  it("times out a request that hangs and retries it", async () => {
    const chat = await startChatServer({ hangMatch: /-1000__pass1$/ });
    try {
      const requests = join(dir, "hang.jsonl");
      await writeContractRequests(requests, 1);
      const out = join(dir, "hang-out.jsonl");
      const r = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL, "--timeout", "0.3", "--max-retries", "1", "--retry-backoff", "0.02"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok((parseLines(await readFile(out, "utf8")) as Out[]).every((l) => l.response?.status_code === 200));
      assert.equal(chat.calls.get("org__repo-1000__pass1"), 2);
    } finally {
      await chat.close();
    }
  });

  it("records a connection failure as request_failed, and a re-run against a live server fills it in", async () => {
    const requests = join(dir, "down.jsonl");
    const ids = await writeContractRequests(requests, 1);
    const out = join(dir, "down-out.jsonl");
    const r = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", "http://127.0.0.1:9/v1", "--max-retries", "0"]);
    assert.equal(r.code, 1, "every line failed: exit 1");
    assert.match(r.stderr, /batchline: 2 of 2 line\(s\) failed \(request_failed 2\)/);
    assert.ok((parseLines(await readFile(out, "utf8")) as Out[]).every((l) => l.error?.code === "request_failed"));
    const chat = await startChatServer();
    try {
      const again = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL]);
      assert.equal(again.code, 0, again.stderr);
      const lines = parseLines(await readFile(out, "utf8")) as Out[];
      assert.deepEqual(lines.map((l) => l.custom_id), ids, "each id once: the successes replaced the failures");
      assert.ok(lines.every((l) => l.response?.status_code === 200));
      const third = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL]);
      assert.match(third.stderr, /0 sent, 2 already answered/);
      assert.equal(chat.total(), 2, "nothing answered is sent again");
    } finally {
      await chat.close();
    }
  });

  it("refuses to run while another live submit holds the same output, and takes over a dead one's lock", async () => {
    const chat = await startChatServer();
    try {
      const requests = join(dir, "locked.jsonl");
      await writeContractRequests(requests, 1);
      const out = join(dir, "locked-out.jsonl");
      const { hostname } = await import("node:os");
      const { writeFile } = await import("node:fs/promises");
      await writeFile(`${out}.lock`, JSON.stringify({ pid: process.pid, host: hostname() }));
      const held = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL]);
      assert.equal(held.code, 1);
      assert.match(held.stderr, new RegExp(`locked-out\\.jsonl is in use by process ${process.pid}`));
      assert.equal(chat.total(), 0, "nothing was sent");
      await writeFile(`${out}.lock`, JSON.stringify({ pid: 2 ** 22 + 4321, host: hostname() }));
      const stale = await runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL]);
      assert.equal(stale.code, 0, stale.stderr);
      assert.match(stale.stderr, /taking over the stale lock/);
      await assert.rejects(readFile(`${out}.lock`), { code: "ENOENT" }, "released at the end");
    } finally {
      await chat.close();
    }
  });

  it("needs a base URL", async () => {
    const r = await runCli(["submit", "openai-compatible", join(dir, "down.jsonl"), "-o", join(dir, "x.jsonl")], { env: { OPENAI_BASE_URL: "" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs --base-url/);
  });
});

describe("rate-limit pieces", () => {
  it("a token bucket grants its per-minute capacity at once, then makes callers wait", async () => {
    const bucket = new TokenBucket(5);
    const controller = new AbortController();
    let granted = 0;
    const takes = Array.from({ length: 6 }, () => bucket.take(1, controller.signal).then(() => granted++));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(granted, 5, "the sixth waits for a refill (12 s at 5/min)");
    controller.abort(new Error("stop"));
    await assert.rejects(takes[5]!, /stop/);
  });

  it("reads Retry-After in seconds, as a date, and retry-after-ms", () => {
    assert.equal(retryAfterMs({ "retry-after": "2" }), 2000);
    assert.equal(retryAfterMs({ "retry-after-ms": "150", "retry-after": "9" }), 150);
    const soon = retryAfterMs({ "retry-after": new Date(Date.now() + 5000).toUTCString() })!;
    assert.ok(soon > 3000 && soon <= 5000);
    assert.equal(retryAfterMs({}), undefined);
  });

  it("estimates tokens from the prompt and the completion budget", () => {
    const t = estimateTokens({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "m", messages: [{ role: "user", content: "x".repeat(400) }], max_tokens: 50 } });
    assert.equal(t, 150);
  });
});
