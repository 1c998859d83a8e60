/**
 * The request cache through the CLI: a pipeline run twice sends nothing the second time and writes
 * the same files; failures are not stored; concurrent submits share one cache; a writer killed
 * mid-write leaves a readable cache; the key ignores custom_id but keeps the pass; --no-cache
 * sends everything; `cache stats|prune|verify`; plan's cache line; the default location.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { recordedServer } from "./agentless-batch-server.ts";
import { startChatServer } from "./chat-server.ts";
import { startGeminiDouble } from "./gemini-double.ts";
import { FIXTURES, ROOT, readTree, runCli, tempDir } from "./helpers.ts";
import { openDatabase } from "../src/internal/sqlite.ts";

const F = join(FIXTURES, "agentless");
let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

interface Out {
  custom_id: string;
  response: { status_code: number; body: { choices: { message: { content: string } }[] } } | null;
  error: unknown;
}

const line = (id: string, prompt: string, extra: Record<string, unknown> = {}) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }], max_tokens: 16, ...extra } });
const outLines = async (path: string) => (await readFile(path, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Out);

describe("request cache (CLI)", () => {
  // (instances 102 and 103: every request of theirs succeeds, so the first run stores them all)
  it("a pipeline run twice: the second run sends nothing and writes the same files; --no-cache sends everything again", async () => {
    const cache = join(dir, "pipeline-cache");
    const server = await recordedServer(0);
    const args = (workdir: string, ...more: string[]) => ["pipeline", "agentless-bugfixer", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2", "--backend", "openai-batch", "--poll-interval", "0.05", "--max-poll-interval", "0.2", "--rounds", "0", "--start", "acme__minicalc-102", "--end", "acme__minicalc-104", "--workdir", workdir, ...more];
    const env = { OPENAI_API_KEY: "sk-test-secret-key", OPENAI_BASE_URL: server.baseURL, BATCHLINE_CACHE: cache };
    try {
      const first = await runCli(args(join(dir, "run1")), { env });
      assert.equal(first.code, 0, first.stderr);
      const sentFirst = server.requests();
      assert.ok(sentFirst > 0);
      const second = await runCli(args(join(dir, "run2")), { env });
      assert.equal(second.code, 0, second.stderr);
      assert.equal(server.requests(), sentFirst, "the second run sent nothing");
      assert.match(second.stderr, /^pipeline: submit_step1: cache: all 4 line\(s\) answered from .*; nothing to send$/m);
      assert.match(second.stderr, /^pipeline: submit_step2: cache: all 3 line\(s\) answered from .*; nothing to send$/m);
      const report = JSON.parse(await readFile(join(dir, "run2", "report.json"), "utf8"));
      assert.deepEqual([report.steps.submit_step1.fromCache, report.steps.submit_step2.fromCache], [4, 3]);
      // Every step's file and save/; not the batch's own work files (<output>.chunks/), which only a run that sent has.
      const files = async (w: string) => new Map([...(await readTree(w))].filter(([p]) => (p.endsWith(".jsonl") || p.startsWith("save/")) && !p.includes(".chunks/")));
      const [a, b] = [await files(join(dir, "run1")), await files(join(dir, "run2"))];
      assert.ok(a.size > 5);
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [path, text] of a) assert.equal(b.get(path), text, `${path} differs`);
      // The key is never stored: nothing in the cache directory holds it.
      const db = await readFile(join(cache, "responses.sqlite"));
      assert.equal(db.includes("sk-test-secret-key"), false);
      const third = await runCli(args(join(dir, "run3"), "--no-cache"), { env });
      assert.equal(third.code, 0, third.stderr);
      assert.equal(server.requests(), 2 * sentFirst, "--no-cache sent every request again");
    } finally {
      await server.closeAll();
    }
  });

  it("submit: failures are not stored, a cached answer carries the new custom_id, the pass stays in the key, --cache-key-ignore none", async () => {
    const cache = join(dir, "submit-cache");
    const chat = await startChatServer({ badMatch: /^bad/ });
    try {
      const first = join(dir, "first.jsonl");
      await writeFile(first, [line("a", "alpha"), line("b", "bad one"), line("c", "gamma")].join("\n") + "\n");
      const submit = (requests: string, out: string, ...more: string[]) => runCli(["submit", "openai-compatible", requests, "-o", out, "--base-url", chat.baseURL, "--cache", cache, "--max-retries", "0", ...more]);
      const r1 = await submit(first, join(dir, "first-out.jsonl"));
      assert.equal(r1.code, 1, "one line failed");
      assert.equal(chat.total(), 3);
      // The same requests again: the two successes come from the cache, the failure is sent again.
      const r2 = await submit(first, join(dir, "first-again.jsonl"));
      assert.equal(r2.code, 1);
      assert.deepEqual([chat.calls.get("alpha"), chat.calls.get("bad one"), chat.calls.get("gamma")], [1, 2, 1]);
      assert.match(r2.stderr, /2 answered from the cache, 1 sent/);
      const [fresh, again] = [await readFile(join(dir, "first-out.jsonl"), "utf8"), await readFile(join(dir, "first-again.jsonl"), "utf8")].map((t) => t.split("\n"));
      assert.equal(again![0], fresh![0], "a cached line is written as the fresh one was");
      assert.equal(again![2], fresh![2]);
      assert.match(again![1]!, /"custom_id":"b","response":\{"status_code":400/);

      // Other ids, same bodies: answered from the cache under the new ids. A second pass of the same body is a new sample: sent.
      const second = join(dir, "second.jsonl");
      await writeFile(second, [line("x__pass0", "alpha"), line("y", "gamma"), line("x__pass1", "alpha")].join("\n") + "\n");
      const r3 = await submit(second, join(dir, "second-out.jsonl"));
      assert.equal(r3.code, 0, r3.stderr);
      assert.equal(chat.calls.get("alpha"), 2, "x__pass0 shares pass 0 with a; x__pass1 is sent");
      assert.equal(chat.calls.get("gamma"), 1);
      const out = await outLines(join(dir, "second-out.jsonl"));
      assert.deepEqual(out.map((l) => l.custom_id), ["x__pass0", "y", "x__pass1"]);
      assert.equal(out[0]!.response!.body.choices[0]!.message.content, "echo: alpha");

      // --cache-key-ignore none: the custom_id is part of the key, so new ids are sent.
      const r4 = await submit(second, join(dir, "second-none.jsonl"), "--cache-key-ignore", "none");
      assert.equal(r4.code, 0, r4.stderr);
      assert.equal(chat.calls.get("gamma"), 2);
      const bad = await submit(second, join(dir, "x.jsonl"), "--cache-key-ignore", "metadata");
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /^batchline: --cache-key-ignore metadata: expected/m);

      // Another base URL is another answerer: nothing from the cache.
      const other = await startChatServer();
      try {
        const r5 = await runCli(["submit", "openai-compatible", second, "-o", join(dir, "other.jsonl"), "--base-url", other.baseURL, "--cache", cache]);
        assert.equal(r5.code, 0, r5.stderr);
        assert.equal(other.total(), 3);
      } finally {
        await other.close();
      }

      // --no-cache: everything is sent, nothing read.
      const before = chat.total();
      const r6 = await submit(first, join(dir, "nocache.jsonl"), "--no-cache");
      assert.equal(r6.code, 1);
      assert.equal(chat.total(), before + 3);

      // plan: how many lines the cache answers for this backend and base URL, and what they would have cost.
      const plan = await runCli(["plan", first, "--backend", "openai-compatible", "--base-url", chat.baseURL, "--cache", cache]);
      assert.equal(plan.code, 0, plan.stderr);
      // gpt-4o-mini at batch prices: 7 input tokens at $0.075/1M + 3 output at $0.30/1M, twice.
      const cost = (2 * (7 * 0.075 + 3 * 0.3)) / 1e6;
      assert.match(plan.stdout, new RegExp(`^cache \\(openai-compatible, .*\\): 2 of 3 requests would be answered from the cache, not sent; they would have cost \\$${cost.toFixed(4).replace(".", "\\.")} at batch prices$`, "m"));
      const json = JSON.parse((await runCli(["plan", first, "--backend", "openai-compatible", "--base-url", chat.baseURL, "--cache", cache, "--json"])).stdout);
      assert.equal(json.cache.lines, 2);
      assert.ok(Math.abs(json.cache.cost - cost) < 1e-12);
      const other2 = await runCli(["plan", first, "--backend", "openai-batch", "--cache", cache]);
      assert.match(other2.stdout, /^cache \(openai-batch, .*\): 0 of 3 requests/m);
      // submit --max-cost prices only what the cache does not answer, at openai-compatible's standard
      // prices (~$0.0000108 a line at worst here), and keeps the limit while sending: 1 line fits under $0.00002.
      const sentBefore = chat.total();
      const capped = await submit(first, join(dir, "capped.jsonl"), "--max-cost", "0.00002");
      assert.match(capped.stderr, /^plan: up to \$0\.00 at standard prices \(table of [0-9-]+\) for the 1 line\(s\) the request cache does not answer \(2 do not cost anything\), --max-cost 0\.00002 is kept while sending$/m);
      assert.equal(chat.total(), sentBefore + 1);
      const stoppedCost = await submit(first, join(dir, "capped2.jsonl"), "--max-cost", "0.000001", "--no-cache");
      assert.equal(stoppedCost.code, 1);
      assert.match(stoppedCost.stderr, /--max-cost 0\.000001: stopped sending at .*:1 \(custom_id=[^)]+\).* 0 of 3 answered, 3 not sent/);
      assert.equal(chat.total(), sentBefore + 1);
      const off = await runCli(["plan", first, "--no-cache"]);
      assert.doesNotMatch(off.stdout, /^cache/m);
    } finally {
      await chat.close();
    }
  });

  it("two submits at once share one cache: both finish, each answer is stored once", async () => {
    const cache = join(dir, "concurrent-cache");
    const chat = await startChatServer({ latencyMs: 5 });
    try {
      const requests = join(dir, "conc.jsonl");
      await writeFile(requests, Array.from({ length: 200 }, (_, i) => line(`q${i}`, `prompt ${i}`)).join("\n") + "\n");
      const run = (out: string) => runCli(["submit", "openai-compatible", requests, "-o", join(dir, out), "--base-url", chat.baseURL, "--cache", cache]);
      const [a, b] = await Promise.all([run("conc-a.jsonl"), run("conc-b.jsonl")]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const stats = await runCli(["cache", "stats", "--cache", cache, "--json"]);
      assert.equal(stats.code, 0, stats.stderr);
      assert.equal(JSON.parse(stats.stdout).entries, 200);
      const verify = await runCli(["cache", "verify", "--cache", cache]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /200 entries, all readable/);
      const again = await run("conc-c.jsonl");
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /all 200 answered from the cache/);
    } finally {
      await chat.close();
    }
  });

  it("a writer killed mid-write (SIGKILL) leaves a readable cache that verify passes and submit uses", async () => {
    const cache = join(dir, "killed-cache");
    const script = join(dir, "writer.ts");
    // Stores entries in a loop, through the cache's own store, until killed.
    await writeFile(
      script,
      `import { ResponseCache } from ${JSON.stringify(join(ROOT, "src/cache/response-cache.ts"))};
import { keyOf } from ${JSON.stringify(join(ROOT, "src/cache/request-key.ts"))};
const cache = ResponseCache.open(process.argv[2]);
const answer = (i) => JSON.stringify({ id: "r" + i, custom_id: "c" + i, response: { status_code: 200, request_id: "q", body: { text: "x".repeat(2000) } }, error: null });
for (let round = 0; ; round++) {
  const batch = Array.from({ length: 200 }, (_, j) => { const i = round * 200 + j; const material = "m" + i; return { key: keyOf(material), material, answer: answer(i), backend: "test", model: null }; });
  cache.putMany(batch, 200);
  if (round === 2) process.stdout.write("writing\\n");
}
`,
    );
    const child = spawn(process.execPath, [script, cache], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.on("data", (d: Buffer) => d.toString().includes("writing") && resolve()));
    await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
    const verify = await runCli(["cache", "verify", "--cache", cache]);
    assert.equal(verify.code, 0, verify.stderr);
    const n = Number(/(\d+) entries, all readable/.exec(verify.stdout)?.[1]);
    assert.ok(n >= 600 && n % 200 === 0, `whole transactions only: ${n}`);
    const chat = await startChatServer();
    try {
      const requests = join(dir, "after-kill.jsonl");
      await writeFile(requests, line("k", "after the kill") + "\n");
      const r = await runCli(["submit", "openai-compatible", requests, "-o", join(dir, "after-kill-out.jsonl"), "--base-url", chat.baseURL, "--cache", cache]);
      assert.equal(r.code, 0, r.stderr);
      const stats = JSON.parse((await runCli(["cache", "stats", "--cache", cache, "--json"])).stdout);
      assert.equal(stats.entries, n + 1);
    } finally {
      await chat.close();
    }
  });

  it("cache stats, prune --older-than and verify (which finds a damaged entry)", async () => {
    const cache = join(dir, "maint-cache");
    const recording = join(dir, "recording.jsonl");
    const requests = join(dir, "maint.jsonl");
    await writeFile(requests, [line("a", "one"), line("b", "two")].join("\n") + "\n");
    const answer = (id: string) => JSON.stringify({ id: `r-${id}`, custom_id: id, response: { status_code: 200, request_id: `q-${id}`, body: { usage: { prompt_tokens: 5, completion_tokens: 2 } } }, error: null });
    await writeFile(recording, [answer("a"), answer("b")].join("\n") + "\n");
    const r = await runCli(["submit", "replay", requests, "-o", join(dir, "maint-out.jsonl"), "--from", recording, "--cache", cache]);
    assert.equal(r.code, 0, r.stderr);
    const stats = await runCli(["cache", "stats", "--cache", cache]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /: 2 answer\(s\), [0-9.]+ MB on disk/);
    assert.match(stats.stdout, /^ {2}replay gpt-4o-mini: 2$/m);
    const keep = await runCli(["cache", "prune", "--cache", cache, "--older-than", "30d"]);
    assert.equal(keep.code, 0, keep.stderr);
    assert.match(keep.stdout, /removed 0 answer\(s\) .*; 2 left/);

    // Damage one entry behind the cache's back: verify names it and exits 1.
    const db = openDatabase(join(cache, "responses.sqlite"));
    db.prepare("UPDATE entries SET answer = ? WHERE rowid = (SELECT MIN(rowid) FROM entries)").run("{not json");
    db.close();
    const bad = await runCli(["cache", "verify", "--cache", cache]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^cache verify: entry [0-9a-f]{64}: its answer does not match its sha256$/m);
    assert.match(bad.stderr, /^batchline: .*1 of 2 entries are bad/m);

    const all = await runCli(["cache", "prune", "--cache", cache, "--older-than", "0s"]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /removed 2 answer\(s\) .*; 0 left/);
    const refused = await runCli(["cache", "prune", "--cache", cache, "--older-than", "soon"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^batchline: --older-than soon: expected a duration like 30d/m);
    const unknown = await runCli(["cache", "clear", "--cache", cache]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^batchline: cache clear: expected stats, prune or verify$/m);
  });

  it("--skip-bad with the cache: bad lines are reported once and left out, the good ones answered from the cache", async () => {
    const cache = join(dir, "skip-cache");
    const requests = join(dir, "skip.jsonl");
    await writeFile(requests, [line("a", "one"), "{oops", line("b", "two"), line("a", "again")].join("\n") + "\n");
    const recording = join(dir, "skip-rec.jsonl");
    await writeFile(recording, ["a", "b"].map((id) => JSON.stringify({ id: `r-${id}`, custom_id: id, response: { status_code: 200, request_id: "q", body: {} }, error: null })).join("\n") + "\n");
    const submit = (out: string) => runCli(["submit", "replay", requests, "-o", join(dir, out), "--from", recording, "--cache", cache, "--skip-bad"]);
    const first = await submit("skip1.jsonl");
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /submit: skipped 2 bad line\(s\)/);
    const second = await submit("skip2.jsonl");
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /submit: skipped 2 bad line\(s\)/);
    assert.match(second.stderr, /all 2 answered from the cache/);
    const [one, two] = [await readFile(join(dir, "skip1.jsonl"), "utf8"), await readFile(join(dir, "skip2.jsonl"), "utf8")];
    assert.equal(two, one);
    assert.deepEqual((await outLines(join(dir, "skip2.jsonl"))).map((l) => l.custom_id), ["a", "b"]);
  });

  it("gemini-batch gets the cache like every backend: the same lines again create no job; a new line goes alone", async () => {
    const cache = join(dir, "gemini-cache");
    const double = await startGeminiDouble();
    try {
      const gline = (id: string) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "gemini-2.5-flash", messages: [{ role: "user", content: id }], max_tokens: 32 } });
      const requests = join(dir, "gemini.jsonl");
      await writeFile(requests, ["g1", "g2", "g3"].map(gline).join("\n") + "\n");
      const env = { GEMINI_API_KEY: "k", GOOGLE_API_KEY: "", GEMINI_BASE_URL: double.baseURL };
      const submit = (file: string, out: string) => runCli(["submit", "gemini-batch", file, "-o", join(dir, out), "--cache", cache, "--poll-interval", "0.02", "--max-poll-interval", "0.05", "--create-interval", "0"], { env });
      const first = await submit(requests, "gemini-1.jsonl");
      assert.equal(first.code, 0, first.stderr);
      assert.equal(double.creates, 1);
      const second = await submit(requests, "gemini-2.jsonl");
      assert.equal(second.code, 0, second.stderr);
      assert.equal(double.creates, 1, "no job created");
      assert.equal(await readFile(join(dir, "gemini-2.jsonl"), "utf8"), await readFile(join(dir, "gemini-1.jsonl"), "utf8"));
      const more = join(dir, "gemini-more.jsonl");
      await writeFile(more, ["g1", "g2", "g3", "g4"].map(gline).join("\n") + "\n");
      const third = await submit(more, "gemini-3.jsonl");
      assert.equal(third.code, 0, third.stderr);
      assert.equal(double.creates, 2);
      const job = [...double.jobs.values()].at(-1)!;
      assert.deepEqual(job.requests.map((r) => r.key), ["g4"], "only the new line was sent");
      assert.deepEqual((await outLines(join(dir, "gemini-3.jsonl"))).map((l) => l.custom_id), ["g1", "g2", "g3", "g4"]);
    } finally {
      await double.close();
    }
  });

  it("the default cache is $XDG_CACHE_HOME/batchline/responses, else ~/.cache/batchline/responses; BATCHLINE_CACHE=off turns it off", async () => {
    const recording = join(dir, "rec-default.jsonl");
    const requests = join(dir, "default.jsonl");
    await writeFile(requests, line("a", "one") + "\n");
    await writeFile(recording, JSON.stringify({ id: "r", custom_id: "a", response: { status_code: 200, request_id: "q", body: {} }, error: null }) + "\n");
    const submit = (out: string, env: NodeJS.ProcessEnv) => runCli(["submit", "replay", requests, "-o", join(dir, out), "--from", recording], { env: { BATCHLINE_CACHE: undefined, ...env } });
    const xdg = join(dir, "xdg");
    assert.equal((await submit("d1.jsonl", { XDG_CACHE_HOME: xdg })).code, 0);
    assert.ok(existsSync(join(xdg, "batchline", "responses", "responses.sqlite")));
    const home = join(dir, "home");
    assert.equal((await submit("d2.jsonl", { XDG_CACHE_HOME: undefined, HOME: home })).code, 0);
    assert.ok(existsSync(join(home, ".cache", "batchline", "responses", "responses.sqlite")));
    const off = join(dir, "home-off");
    assert.equal((await submit("d3.jsonl", { XDG_CACHE_HOME: undefined, HOME: off, BATCHLINE_CACHE: "off" })).code, 0);
    assert.equal(existsSync(join(off, ".cache")), false);
    const stats = await runCli(["cache", "stats"], { env: { BATCHLINE_CACHE: undefined, XDG_CACHE_HOME: xdg } });
    assert.match(stats.stdout, /xdg\/batchline\/responses: 1 answer/);
  });
});
