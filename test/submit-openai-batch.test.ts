/**
 * openai-batch end to end: the CLI's `submit` (the real `openai` SDK over HTTP) against
 * `batchline serve`'s server on 127.0.0.1, with every fault switch the server has.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { BatchRequest } from "../schemas/batch-request.ts";
import { type BatchServer, startBatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import type { Faults } from "../src/server/faults.ts";
import { countInputTokens } from "../src/submitters/plan.ts";
import { CLI, FIXTURES, parseLines, runCli, tempDir, echoExecutor } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");

const echo = echoExecutor;

interface OutLine {
  custom_id: string;
  response: { status_code: number; body: { choices: { message: { content: string } }[] } } | null;
  error: { code: string; message: string } | null;
}

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

let counter = 0;
async function withServer(faults: Faults, fn: (server: BatchServer, out: string) => Promise<void>): Promise<void> {
  const server = await startBatchServer({ executor: echo, faults, concurrency: 4 });
  try {
    await fn(server, join(dir, `run${counter++}`, "out.jsonl"));
  } finally {
    await server.close();
  }
}

const submit = (server: BatchServer, out: string, extra: string[] = [], input?: string) =>
  runCli(["submit", "openai-batch", input === undefined ? REQUESTS : "-", "-o", out, "--poll-interval", "0.02", "--max-poll-interval", "0.1", ...extra], {
    env: { OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: server.baseURL },
    ...(input !== undefined ? { input } : {}),
  });

const requestIds = async () => parseLines(await readFile(REQUESTS, "utf8")).map((r) => (r as { custom_id: string }).custom_id);
const outLines = async (out: string) => parseLines(await readFile(out, "utf8")) as OutLine[];

function assertEveryIdOnce(lines: OutLine[], ids: string[]): void {
  assert.deepEqual(lines.map((l) => l.custom_id).sort(), [...ids].sort(), "every custom_id exactly once");
}

describe("submit openai-batch", () => {
  it("uploads, creates, polls, downloads and writes every custom_id once, in request order", async () => {
    await withServer({ stepDelayMs: 30 }, async (server, out) => {
      const r = await submit(server, out);
      assert.equal(r.code, 0, r.stderr);
      const lines = await outLines(out);
      assert.deepEqual(lines.map((l) => l.custom_id), await requestIds());
      for (const l of lines) assert.equal(l.response?.body.choices[0]!.message.content, `answer to ${l.custom_id}`);
      assert.match(r.stderr, /6 lines, 6 succeeded, 0 failed; 1 batch\(es\) in 1 round\(s\)/);
      assert.equal(server.stats.uploads, 1);
      const state = JSON.parse(await readFile(`${out}.state.json`, "utf8"));
      assert.equal(state.done, true);
      assert.doesNotMatch(JSON.stringify(state), /test-key/, "the key never reaches the state file");

      const before = await readFile(out);
      const again = await submit(server, out);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(await readFile(out), before, "a re-run gives the same bytes");
      assert.equal(server.stats.uploads, 1, "and uploads nothing");
      assert.equal(server.stats.batchesCreated, 1, "and creates nothing");
    });
  });

  it("splits into chunks by --max-chunk-lines and by model, one batch each", async () => {
    await withServer({}, async (server, out) => {
      const lines = (await readFile(REQUESTS, "utf8")).trimEnd().split("\n");
      lines[5] = lines[5]!.replace('"model": "deepseek-ai/DeepSeek-V3.2"', '"model": "other-model"');
      const r = await submit(server, out, ["--max-chunk-lines", "2"], lines.join("\n") + "\n");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(server.stats.batchesCreated, 4, "5 lines of one model in chunks of 2, and 1 of another");
      const models = [...server.batches.values()].map((b) => b.model).sort();
      assert.deepEqual(models, ["deepseek-ai/DeepSeek-V3.2", "deepseek-ai/DeepSeek-V3.2", "deepseek-ai/DeepSeek-V3.2", "other-model"]);
      assertEveryIdOnce(await outLines(out), await requestIds());
    });
  });

  it("resumes after SIGKILL without uploading or creating again", async () => {
    await withServer({ stepDelayMs: 600 }, async (server, out) => {
      const child = spawn(process.execPath, [CLI, "submit", "openai-batch", REQUESTS, "-o", out, "--poll-interval", "0.02", "-q"], {
        env: { ...process.env, OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL },
        stdio: "ignore",
      });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      for (let i = 0; i < 200; i++) {
        const text = await readFile(`${out}.state.json`, "utf8").catch(() => "");
        if (text.includes('"batchId"')) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      child.kill("SIGKILL");
      await exited;
      assert.equal(server.stats.batchesCreated, 1);
      assert.equal([...server.batches.values()][0]!.status === "completed", false, "killed while the batch was still running");

      const r = await submit(server, out);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /resuming from/);
      assert.equal(server.stats.uploads, 1);
      assert.equal(server.stats.batchesCreated, 1);
      assertEveryIdOnce(await outLines(out), await requestIds());
    });
  });

  it("finds an upload and a batch whose ids a crash kept out of the state file", async () => {
    await withServer({ stepDelayMs: 300 }, async (server, out) => {
      const child = spawn(process.execPath, [CLI, "submit", "openai-batch", REQUESTS, "-o", out, "--poll-interval", "0.02", "-q"], {
        env: { ...process.env, OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL },
        stdio: "ignore",
      });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      let state: { rounds: { chunks: Record<string, unknown>[] }[] } | undefined;
      for (let i = 0; i < 200 && !state; i++) {
        const text = await readFile(`${out}.state.json`, "utf8").catch(() => "");
        if (text.includes('"batchId"')) state = JSON.parse(text);
        else await new Promise((r) => setTimeout(r, 25));
      }
      child.kill("SIGKILL");
      await exited;
      // The moment between the API call and the state write: started, but no id recorded.
      const chunk = state!.rounds[0]!.chunks[0]!;
      delete chunk.uploadId;
      delete chunk.batchId;
      assert.equal(chunk.uploadStarted, true);
      assert.equal(chunk.createStarted, true);
      await writeFile(`${out}.state.json`, JSON.stringify(state));

      const r = await submit(server, out);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /found the upload file-\w+ of an interrupted run/);
      assert.match(r.stderr, /found the batch batch_\w+ of an interrupted run/);
      assert.equal(server.stats.uploads, 1);
      assert.equal(server.stats.batchesCreated, 1);
      assertEveryIdOnce(await outLines(out), await requestIds());
    });
  });

  it("--retry-failed resubmits only the lines that did not succeed", async () => {
    const transient500 = { lineErrors: [{ match: /__pass1$/, status: 500, times: 1 }] };
    await withServer(transient500, async (server, out) => {
      const r = await submit(server, out);
      assert.equal(r.code, 1, "the 500s stay without retries: exit 1");
      assert.equal((await outLines(out)).filter((l) => l.response?.status_code === 500).length, 3, "without retries the 500s stay");
    });
    await withServer(transient500, async (server, out) => {
      const r = await submit(server, out, ["--retry-failed", "2"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = await outLines(out);
      assertEveryIdOnce(lines, await requestIds());
      assert.ok(lines.every((l) => l.response?.status_code === 200), "the retry round's successes replace the failures");
      const state = JSON.parse(await readFile(`${out}.state.json`, "utf8"));
      assert.equal(state.rounds.length, 2, "one retry round was enough; no empty third round");
      assert.equal(state.rounds[1].chunks[0].lines, 3, "only the 3 failed lines were resubmitted");
      assert.equal(server.stats.uploads, 2);
    });
  });

  it("keeps the partial results of an expired batch and retries the rest", async () => {
    await withServer({ expireAfterLines: 2 }, async (server, out) => {
      const r = await submit(server, out);
      assert.equal(r.code, 1, "lines that failed after every round make the exit code 1");
      assert.match(r.stderr, /batchline: \d+ of 6 line\(s\) failed \(batch_expired \d+\)/);
      const lines = await outLines(out);
      assertEveryIdOnce(lines, await requestIds());
      assert.ok(lines.filter((l) => l.response?.status_code === 200).length >= 2);
      assert.ok(lines.some((l) => l.error?.code === "batch_expired"));
      assert.match(r.stderr, /batch_expired/);
    });
  });

  it("reports a batch that failed validation with its line errors, and exits 1", async () => {
    await withServer({ failValidation: true }, async (server, out) => {
      const r = await submit(server, out);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`batch batch_\\w+ failed: ${REQUESTS.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:1: invalid_request: injected fault`));
      assert.match(r.stderr, /batchline: 1 batch\(es\) failed as a whole/);
      const lines = await outLines(out);
      assertEveryIdOnce(lines, await requestIds());
      assert.ok(lines.every((l) => l.error?.code === "batch_failed"));
    });
  });

  it("reports token_limit_exceeded once the retries of a batch refused for it are spent", async () => {
    await withServer({ tokenLimitExceeded: true }, async (server, out) => {
      const r = await submit(server, out, ["--token-limit-retries", "2", "--token-limit-backoff", "0.01"]);
      assert.equal(r.code, 1);
      assert.equal(server.stats.batchesCreated, 3, "created once, then again twice");
      assert.equal(server.stats.uploads, 1, "the upload is reused");
      assert.equal((r.stderr.match(/enqueued-token limit of \S+ is reached/g) ?? []).length, 2);
      assert.match(r.stderr, /failed: token_limit_exceeded: Enqueued token limit reached/);
      assert.ok((await outLines(out)).every((l) => /token_limit_exceeded/.test(l.error!.message)));
    });
  });

  it("staggers creates under an enqueued-token limit and creates a refused batch again after a backoff", async () => {
    // Three chunks of two lines; the limit lets one chunk be in progress at a time, as OpenAI's does per model.
    const requests = parseLines(await readFile(REQUESTS, "utf8")) as { body: BatchRequest["body"] }[];
    const pairs = [0, 2, 4].map((i) => countInputTokens(requests[i]!.body).tokens + countInputTokens(requests[i + 1]!.body).tokens);
    const limit = Math.max(...pairs) + Math.min(...pairs) - 1;
    await withServer({ enqueuedTokenLimit: limit, stepDelayMs: 40 }, async (server, out) => {
      const r = await submit(server, out, ["--max-chunk-lines", "2", "--create-interval", "0.01", "--token-limit-backoff", "0.05"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = await outLines(out);
      assertEveryIdOnce(lines, await requestIds());
      assert.ok(lines.every((l) => l.response?.status_code === 200), "every line succeeded in the end");
      assert.match(r.stderr, /enqueued-token limit of \S+ is reached .*creating it again in/);
      assert.ok(server.stats.batchesCreated > 3, `refused batches were created again (${server.stats.batchesCreated} creates)`);
      assert.equal(server.stats.uploads, 3, "each chunk uploaded once");
      const failed = [...server.batches.values()].filter((b) => b.status === "failed");
      assert.ok(failed.length > 0 && failed.every((b) => b.errors?.data[0]?.code === "token_limit_exceeded"));
    });
  });

  it("survives 429s and 500s on polls and downloads, and a shuffled output", async () => {
    for (const flakyStatus of [429, 500]) {
      await withServer({ flakyEvery: 2, flakyStatus, shuffle: true, stepDelayMs: 20 }, async (server, out) => {
        const r = await submit(server, out);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(server.stats.faultsInjected > 0, "faults were injected");
        const lines = await outLines(out);
        assert.deepEqual(lines.map((l) => l.custom_id), await requestIds(), "request order, whatever the server's order");
      });
    }
  });

  it("writes a failure line for every id of an all-failed batch that has no output file", async () => {
    await withServer({ lineErrors: [{ match: /./, status: 400 }] }, async (server, out) => {
      const r = await submit(server, out);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /batchline: 6 of 6 line\(s\) failed \(http_400 6\)/);
      const batch = [...server.batches.values()][0]!;
      assert.equal(batch.output_file_id, null);
      assert.notEqual(batch.error_file_id, null);
      const lines = await outLines(out);
      assertEveryIdOnce(lines, await requestIds());
      assert.ok(lines.every((l) => l.response?.status_code === 400));
    });
  });

  it("batch status, cancel and download work on the state file; a cancelled batch keeps its results", async () => {
    // The first line is answered at once; the second waits for the test's gate, so the cancel
    // lands while the batch is in progress, with one result in and one in flight.
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const gated: Executor = async (request, signal) => {
      if (request.custom_id.endsWith("__pass1")) await gate;
      return echo(request, signal);
    };
    const server = await startBatchServer({ executor: gated, concurrency: 1 });
    const out = join(dir, "cancel", "out.jsonl");
    try {
      const env = { OPENAI_API_KEY: "k" };
      const child = spawn(process.execPath, [CLI, "submit", "openai-batch", REQUESTS, "-o", out, "--poll-interval", "0.05", "-q"], {
        env: { ...process.env, ...env, OPENAI_BASE_URL: server.baseURL },
        stdio: "ignore",
      });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      for (let i = 0; i < 400; i++) {
        const batch = [...server.batches.values()][0];
        const state = await readFile(`${out}.state.json`, "utf8").catch(() => "");
        if (batch && batch.request_counts.completed >= 1 && state.includes('"batchId"')) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const status = await runCli(["batch", "status", `${out}.state.json`], { env });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^round 0 chunk 1\/1 batch_\w+ in_progress 1 completed, 0 failed of 6$/m);
      const cancel = await runCli(["batch", "cancel", `${out}.state.json`], { env });
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.match(cancel.stderr, /cancel requested: batch_\w+/);
      openGate();
      assert.equal(await exited, 1, "submit finishes with what the cancelled batch has, and exits 1 for the cancelled lines");
      assert.equal([...server.batches.values()][0]!.status, "cancelled");
      const lines = await outLines(out);
      assertEveryIdOnce(lines, await requestIds());
      assert.equal(lines.filter((l) => l.response?.status_code === 200).length, 2, "the answered lines are kept");
      assert.equal(lines.filter((l) => l.error?.code === "batch_cancelled").length, 4);

      const partial = join(dir, "partial.jsonl");
      const dl = await runCli(["batch", "download", `${out}.state.json`, "-o", partial], { env });
      assert.equal(dl.code, 0, dl.stderr);
      assert.equal((await outLines(partial)).length, 6);
    } finally {
      openGate();
      await server.close();
    }
  });

  it("batch cancel cancels every batch still running and skips an ended one with a note", async () => {
    // Three chunks of two lines: the first chunk's lines are answered at once, the others wait for the gate.
    const ids = await requestIds();
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const gated: Executor = async (request, signal) => {
      if (!ids.slice(0, 2).includes(request.custom_id)) await gate;
      return echo(request, signal);
    };
    const server = await startBatchServer({ executor: gated, concurrency: 1 });
    const out = join(dir, "cancel-many", "out.jsonl");
    try {
      const env = { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL };
      const child = spawn(process.execPath, [CLI, "submit", "openai-batch", REQUESTS, "-o", out, "--max-chunk-lines", "2", "--create-interval", "0", "--poll-interval", "0.05", "-q"], { env: { ...process.env, ...env }, stdio: "ignore" });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      for (let i = 0; i < 400; i++) {
        const batches = [...server.batches.values()];
        const state = await readFile(`${out}.state.json`, "utf8").catch(() => "");
        if (batches.length === 3 && batches[0]!.status === "completed" && (state.match(/"batchId"/g) ?? []).length === 3) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const [first, second, third] = [...server.batches.values()];
      const cancel = await runCli(["batch", "cancel", `${out}.state.json`], { env });
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.match(cancel.stderr, new RegExp(`note: ${first!.id} is already completed; nothing to cancel`));
      assert.match(cancel.stderr, new RegExp(`cancel requested: ${second!.id}, ${third!.id}`));
      assert.ok(["cancelling", "cancelled"].includes(second!.status) && ["cancelling", "cancelled"].includes(third!.status));
      openGate();
      assert.equal(await exited, 1, "the cancelled lines are failures: submit exits 1");
      const again = await runCli(["batch", "cancel", `${out}.state.json`], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /nothing to cancel: no batch is still running/);
    } finally {
      openGate();
      await server.close();
    }
  });

  it("API errors name the status once (no \"404 404\")", async () => {
    await withServer({}, async (server, out) => {
      assert.equal((await submit(server, out)).code, 0);
      // As if the job were still running, against a server that does not know its batch.
      const state = JSON.parse(await readFile(`${out}.state.json`, "utf8"));
      for (const chunk of state.rounds[0].chunks) delete chunk.results;
      await writeFile(`${out}.state.json`, JSON.stringify(state));
      const other = await startBatchServer({ executor: echo });
      try {
        const r = await runCli(["batch", "status", `${out}.state.json`, "--base-url", other.baseURL], { env: { OPENAI_API_KEY: "k" } });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /^batchline: \[openai-batch\] polling batch batch_\w+ failed: 404 No such Batch object: batch_\w+$/m);
        assert.doesNotMatch(r.stderr, /404 404/);
      } finally {
        await other.close();
      }
    });
  });

  it("refuses a changed request file for the same output, and names bad request lines before uploading", async () => {
    await withServer({}, async (server, out) => {
      assert.equal((await submit(server, out)).code, 0);
      const changed = (await readFile(REQUESTS, "utf8")).replace("Issue for", "Issue about");
      const r = await submit(server, out, [], changed);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /changed since .*state\.json was written/);

      const bad = join(dir, "dup.jsonl");
      const text = await readFile(REQUESTS, "utf8");
      await writeFile(bad, text + text.split("\n")[0] + "\n");
      const d = await runCli(["submit", "openai-batch", bad, "-o", join(dir, "dup-out.jsonl")], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } });
      assert.equal(d.code, 1);
      assert.match(d.stderr, /dup\.jsonl:7 \(custom_id=astropy__astropy-12907__pass0\): duplicate custom_id \(first on line 1\)/);
      assert.equal(server.stats.uploads, 1, "nothing was uploaded for the bad file");
      const left = await readdir(dir);
      assert.ok(!left.includes("dup-out.jsonl") && !left.includes("dup-out.jsonl.state.json"), "no state or output for a refused file");
    });
  });

  it("needs a key, and a file output", async () => {
    const r = await runCli(["submit", "openai-batch", REQUESTS, "-o", join(dir, "x.jsonl")], { env: { OPENAI_API_KEY: "" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing API key: set OPENAI_API_KEY/);
    const s = await runCli(["submit", "openai-batch", REQUESTS, "-o", "-"], { env: { OPENAI_API_KEY: "k" } });
    assert.match(s.stderr, /submit needs -o <output\.jsonl>/);
  });
});
