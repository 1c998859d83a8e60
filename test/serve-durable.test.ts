/**
 * `batchline serve` as a service: state under --data-dir survives SIGKILL (the batch resumes,
 * answered lines are not sent again), SIGTERM drains lines in flight and exits 0, expiry counts
 * from the original created_at, cancelling finishes after a restart, keys guard everything off
 * loopback, and one upstream limit is shared fairly by all running batches. Everything runs
 * through the CLI, with the `openai` SDK as the client and a local upstream that counts calls.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { openDatabase } from "../src/internal/sqlite.ts";
import { type ChatServer, startChatServer } from "./chat-server.ts";
import { CLI, parseLines, runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Serve {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<[number | null, string | null]>;
}

async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const exited = once(child, "exit") as Promise<[number | null, string | null]>;
  const [first] = (await Promise.race([once(child.stdout!, "data"), exited.then(() => assert.fail(`serve exited: ${err}`))])) as [Buffer];
  return { url: first.toString().trim(), child, stderr: () => err, exited };
}

/** Chat requests whose prompt is the custom_id (the upstream double counts calls per prompt). */
async function writeRequests(path: string, prefix: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}`);
  await writeFile(path, ids.map((id) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "m-1", messages: [{ role: "user", content: id }] } }) + "\n").join(""));
  return ids;
}

async function createBatch(client: OpenAI, path: string): Promise<OpenAI.Batches.Batch> {
  const { createReadStream } = await import("node:fs");
  const file = await client.files.create({ file: createReadStream(path), purpose: "batch" });
  return client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const ended = (b: OpenAI.Batches.Batch) => ["completed", "failed", "expired", "cancelled"].includes(b.status);

async function waitEnded(client: OpenAI, id: string): Promise<OpenAI.Batches.Batch> {
  return waitFor(`batch ${id} to end`, async () => {
    const b = await client.batches.retrieve(id);
    return ended(b) ? b : undefined;
  });
}

/** The custom_ids of a batch's output and error files. */
async function resultIds(client: OpenAI, batch: OpenAI.Batches.Batch): Promise<{ out: { custom_id: string }[]; errors: { custom_id: string; error: { code: string } | null }[] }> {
  const read = async (id: string | null | undefined) => (id ? (parseLines(await (await client.files.content(id)).text()) as never[]) : []);
  return { out: await read(batch.output_file_id), errors: await read(batch.error_file_id) };
}

function killed(serve: Serve): Promise<unknown> {
  serve.child.kill("SIGKILL");
  return serve.exited;
}

describe("serve --data-dir: durable state", () => {
  let chat: ChatServer;
  before(async () => (chat = await startChatServer({ latencyMs: 40 })));
  after(() => chat.close());

  it("resumes a batch after SIGKILL: answered lines are not sent again, every custom_id once", async () => {
    const data = join(dir, "kill");
    const requests = join(dir, "kill.jsonl");
    const ids = await writeRequests(requests, "kill", 100);
    const concurrency = 4;
    let serve = await startServe(["--upstream", chat.baseURL, "--data-dir", data, "--concurrency", String(concurrency)]);
    let client = new OpenAI({ apiKey: "local", baseURL: serve.url, maxRetries: 0 });
    const batch = await createBatch(client, requests);
    const fileId = batch.input_file_id;
    await waitFor("a few answers", async () => ((await client.batches.retrieve(batch.id)).request_counts!.completed >= 8 ? true : undefined));
    await killed(serve);
    const sentBeforeKill = [...chat.calls.keys()].filter((k) => k.startsWith("kill-")).length;
    assert.ok(sentBeforeKill < ids.length, "killed mid-batch");

    serve = await startServe(["--upstream", chat.baseURL, "--data-dir", data, "--concurrency", String(concurrency)]);
    client = new OpenAI({ apiKey: "local", baseURL: serve.url, maxRetries: 0 });
    try {
      assert.match(serve.stderr(), /1 unfinished batch\(es\) resumed/);
      assert.equal((await client.files.retrieve(fileId)).id, fileId, "the uploaded file is still there");
      const done = await waitEnded(client, batch.id);
      assert.equal(done.status, "completed");
      assert.equal(done.created_at, batch.created_at);
      assert.deepEqual(done.request_counts, { total: 100, completed: 100, failed: 0 });
      const { out, errors } = await resultIds(client, done);
      assert.deepEqual(out.map((l) => l.custom_id).sort(), ids, "every custom_id exactly once");
      assert.equal(errors.length, 0);
      const calls = ids.reduce((n, id) => n + (chat.calls.get(id) ?? 0), 0);
      assert.ok(calls <= ids.length + concurrency, `upstream called ${calls} times for ${ids.length} lines (at most ${concurrency} in flight at the kill)`);
      assert.equal(done.usage!.total_tokens, 1000, "usage counts each line once");
      assert.equal((await readdir(data)).filter((n) => n.includes(".tmp-")).length, 0, "no temp files left");
    } finally {
      serve.child.kill("SIGTERM");
      assert.deepEqual(await serve.exited, [0, null]);
    }
  });

  it("expires from the original created_at with partial results, and finishes cancelling, after a restart", async () => {
    const data = join(dir, "expire");
    const a = join(dir, "exp-a.jsonl");
    const b = join(dir, "exp-b.jsonl");
    const idsA = await writeRequests(a, "expa", 40);
    const idsB = await writeRequests(b, "expb", 40);
    let serve = await startServe(["--upstream", chat.baseURL, "--data-dir", data, "--concurrency", "2", "-q"]);
    let client = new OpenAI({ apiKey: "local", baseURL: serve.url, maxRetries: 0 });
    const batchA = await createBatch(client, a);
    const batchB = await createBatch(client, b);
    await waitFor("answers in both", async () => {
      const [x, y] = await Promise.all([client.batches.retrieve(batchA.id), client.batches.retrieve(batchB.id)]);
      return x.request_counts!.completed >= 2 && y.request_counts!.completed >= 2 ? true : undefined;
    });
    await killed(serve);
    // While the server was down, A's 24 h passed, and B had been cancelled just before the kill.
    const db = openDatabase(join(data, "serve.db"));
    db.prepare("UPDATE batches SET object = json_set(object, '$.created_at', 1000, '$.expires_at', 1000 + 86400) WHERE id = ?").run(batchA.id);
    db.prepare("UPDATE batches SET object = json_set(object, '$.status', 'cancelling', '$.cancelling_at', 2000) WHERE id = ?").run(batchB.id);
    db.close();

    serve = await startServe(["--upstream", chat.baseURL, "--data-dir", data, "--concurrency", "2", "-q"]);
    client = new OpenAI({ apiKey: "local", baseURL: serve.url, maxRetries: 0 });
    try {
      const expired = await waitEnded(client, batchA.id);
      assert.equal(expired.status, "expired");
      assert.equal(expired.created_at, 1000);
      const ra = await resultIds(client, expired);
      assert.ok(ra.out.length >= 2, "the answers from before the kill are in the output file");
      assert.ok(ra.errors.every((l) => l.error?.code === "batch_expired"));
      assert.deepEqual([...ra.out, ...ra.errors].map((l) => l.custom_id).sort(), idsA, "every custom_id once across output and error file");
      assert.deepEqual(expired.request_counts, { total: 40, completed: ra.out.length, failed: ra.errors.length });

      const cancelled = await waitEnded(client, batchB.id);
      assert.equal(cancelled.status, "cancelled");
      const rb = await resultIds(client, cancelled);
      assert.ok(rb.out.length >= 2);
      assert.ok(rb.errors.every((l) => l.error?.code === "batch_cancelled"));
      assert.deepEqual([...rb.out, ...rb.errors].map((l) => l.custom_id).sort(), idsB);
      const sentAfter = idsA.concat(idsB).reduce((n, id) => n + (chat.calls.get(id) ?? 0), 0);
      assert.ok(sentAfter <= rb.out.length + ra.out.length + 4, "nothing new was sent for the expired or cancelling batch");
    } finally {
      serve.child.kill("SIGINT");
      assert.deepEqual(await serve.exited, [0, null]);
    }
  });

  it("SIGTERM: no new batches (503), lines in flight finish and are kept, exit 0", async () => {
    const slow = await startChatServer({ latencyMs: 400 });
    const data = join(dir, "term");
    const requests = join(dir, "term.jsonl");
    const ids = await writeRequests(requests, "term", 12);
    let serve = await startServe(["--upstream", slow.baseURL, "--data-dir", data, "--concurrency", "3"]);
    let client = new OpenAI({ apiKey: "local", baseURL: serve.url, maxRetries: 0 });
    try {
      const batch = await createBatch(client, requests);
      await waitFor("3 calls in flight", async () => (slow.total() >= 3 ? true : undefined));
      const inputFile = batch.input_file_id;
      serve.child.kill("SIGTERM");
      await waitFor("health to say stopping", async () => ((await fetch(serve.url.replace(/\/v1$/, "/health"))).status === 503 ? true : undefined), 2000);
      await assert.rejects(client.batches.create({ input_file_id: inputFile, endpoint: "/v1/chat/completions", completion_window: "24h" }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 503 && (e.error as { code?: string }).code === "server_shutting_down");
      await client.files.delete(inputFile); // a running batch keeps its input, across the restart too
      assert.deepEqual(await serve.exited, [0, null], serve.stderr());
      const sent = slow.total();
      assert.ok(sent >= 3 && sent < ids.length, `stopped mid-batch after ${sent} calls`);
      assert.match(serve.stderr(), /serve stopped \(SIGTERM\); unfinished batches continue/);

      serve = await startServe(["--upstream", slow.baseURL, "--data-dir", data, "--concurrency", "3", "-q"]);
      client = new OpenAI({ apiKey: "local", baseURL: serve.url, maxRetries: 0 });
      const done = await waitEnded(client, batch.id);
      assert.equal(done.status, "completed");
      const { out } = await resultIds(client, done);
      assert.deepEqual(out.map((l) => l.custom_id).sort(), ids);
      assert.equal(slow.total(), ids.length, "the lines in flight at SIGTERM finished and were kept: none was sent twice");
    } finally {
      serve.child.kill("SIGKILL");
      await serve.exited;
      await slow.close();
    }
  });
});

describe("serve: keys and shared limits", () => {
  it("refuses a non-loopback bind without a key, in one line", async () => {
    const r = await runCli(["serve", "--upstream", "http://127.0.0.1:9/v1", "--host", "0.0.0.0"], { env: { BATCHLINE_SERVE_API_KEY: "" } });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "batchline: serve --host 0.0.0.0: refusing to listen beyond loopback without a key; set BATCHLINE_SERVE_API_KEY (or --api-key / --api-keys-file)\n");
  });

  it("answers 401 in OpenAI's shape without the right key; several keys see only their own objects", async () => {
    const keys = join(dir, "keys.txt");
    await writeFile(keys, "# team keys\nkey-alice-0001\n\nkey-bob-00002\n");
    const data = join(dir, "auth");
    await writeFile(join(dir, "none.jsonl"), "");
    const serve = await startServe(["--replay", join(dir, "none.jsonl"), "--api-keys-file", keys, "--data-dir", data, "-q"]);
    try {
      const health = await fetch(serve.url.replace(/\/v1$/, "/health"));
      assert.equal(health.status, 200, "/health needs no key");
      assert.equal(((await health.json()) as { status: string }).status, "ok");
      const bare = await fetch(`${serve.url}/batches`);
      assert.equal(bare.status, 401);
      assert.deepEqual(Object.keys(((await bare.json()) as { error: object }).error).sort(), ["code", "message", "param", "type"]);
      const wrong = new OpenAI({ apiKey: "key-mallory-9", baseURL: serve.url, maxRetries: 0 });
      await assert.rejects(wrong.files.list(), (e: InstanceType<typeof OpenAI.APIError>) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === "invalid_api_key" && !e.message.includes("mallory"));

      const alice = new OpenAI({ apiKey: "key-alice-0001", baseURL: serve.url, maxRetries: 0 });
      const bob = new OpenAI({ apiKey: "key-bob-00002", baseURL: serve.url, maxRetries: 0 });
      const requests = join(dir, "auth.jsonl");
      await writeRequests(requests, "auth", 2);
      const batch = await createBatch(alice, requests);
      assert.equal((await alice.batches.retrieve(batch.id)).id, batch.id);
      await assert.rejects(bob.batches.retrieve(batch.id), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 404);
      await assert.rejects(bob.files.retrieve(batch.input_file_id), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 404);
      await assert.rejects(bob.batches.create({ input_file_id: batch.input_file_id, endpoint: "/v1/chat/completions", completion_window: "24h" }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 404);
      assert.equal((await bob.batches.list()).data.length, 0);
      assert.equal((await bob.files.list()).data.length, 0);
      assert.deepEqual((await alice.batches.list()).data.map((b) => b.id), [batch.id]);
      const stored = await readFile(join(data, "serve.db"));
      for (const key of ["key-alice-0001", "key-bob-00002"]) assert.equal(stored.includes(key), false, "no key in the store");
    } finally {
      serve.child.kill("SIGTERM");
      await serve.exited;
    }
  });

  it("two batches share one upstream limit, and both make progress from the start", async () => {
    const chat = await startChatServer({ latencyMs: 20 });
    const xdg = join(dir, "xdg");
    const serve = await startServe(["--upstream", chat.baseURL, "--concurrency", "3", "--data-dir", "-q"], { XDG_DATA_HOME: xdg });
    try {
      const client = new OpenAI({ apiKey: "local", baseURL: serve.url, maxRetries: 0 });
      const a = join(dir, "fair-a.jsonl");
      const b = join(dir, "fair-b.jsonl");
      await writeRequests(a, "faira", 24);
      await writeRequests(b, "fairb", 24);
      const [ba, bb] = await Promise.all([createBatch(client, a), createBatch(client, b)]);
      const [da, db] = await Promise.all([waitEnded(client, ba.id), waitEnded(client, bb.id)]);
      assert.deepEqual([da.status, db.status], ["completed", "completed"]);
      assert.ok(chat.maxInFlight <= 3, `upstream saw ${chat.maxInFlight} calls at once; the limit is 3 for all batches together`);
      assert.equal(chat.maxInFlight, 3, "the limit is used");
      const order = [...chat.calls.keys()];
      assert.ok(order.indexOf("fairb-000") < order.lastIndexOf("faira-023") - 6, `the second batch started long before the first ended: ${order.join(" ")}`);
      assert.ok((await readdir(join(xdg, "batchline/serve"))).includes("serve.db"), "--data-dir with no value keeps state under $XDG_DATA_HOME/batchline/serve");
    } finally {
      serve.child.kill("SIGTERM");
      await serve.exited;
      await chat.close();
    }
  });
});
