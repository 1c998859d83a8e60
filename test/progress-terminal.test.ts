/**
 * Progress as a person sees it (issue 18): `submit` and `pipeline` under a real pseudo-terminal
 * (util-linux `script`), the screen rebuilt by a headless terminal emulator after every write.
 * The double is `batchline serve`'s Batch API with an executor that takes a while per line, so
 * the batches move through validating, in_progress (counts growing) and finalizing over many polls.
 * Also: not on a terminal, status lines come per interval and per state change, never per poll.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type BatchServer, startBatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import type { Faults } from "../src/server/faults.ts";
import { recordedServer } from "./agentless-batch-server.ts";
import { CLI, FIXTURES, ROOT, tempDir } from "./helpers.ts";
import { runInTerminal } from "./terminal.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl"); // 6 lines
const AGENTLESS = join(FIXTURES, "agentless");

/** Answers each line after `ms`, so a batch's counts grow over several polls. */
const slow = (ms: number): Executor => async (request) => {
  await sleep(ms);
  return {
    response: { status_code: 200, request_id: `req_${request.custom_id}`, body: { id: "chatcmpl-x", object: "chat.completion", model: request.body.model, choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } } },
    error: null,
  };
};

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

let counter = 0;
async function withServer(faults: Faults, fn: (server: BatchServer, out: string) => Promise<void>): Promise<void> {
  // One line at a time per batch, 60 ms each: 3 lines take ~0.2 s in in_progress.
  const server = await startBatchServer({ executor: slow(60), faults: { stepDelayMs: 80, ...faults }, concurrency: 1 });
  try {
    await fn(server, join(dir, `run${counter++}`, "out.jsonl"));
  } finally {
    await server.close();
  }
}

const FAST_POLLS = ["--poll-interval", "0.03", "--max-poll-interval", "0.03", "--create-interval", "0"];
const BLOCK_HEAD = /^\[openai-batch\] \S*requests\.jsonl: \[[#-]{24}\] (\d+)\/6 done \(\d+%\), (\d+) failed/;
const BLOCK_STATES = /^ {2}batches: ((?:\d+ \w+(?:, )?)+) \| round 0/;
const INTERNAL_KEY = /\bbl\w{6,}-r\d+-c\d{3}\b/;

/** The total of a `2 in_progress, 1 completed` tally. */
const tally = (text: string) => text.split(", ").reduce((n, part) => n + Number(part.split(" ")[0]), 0);

describe("submit on a terminal", () => {
  it("keeps one status block redrawn in place: counts, bar, batches by state, round; then the summary takes its place", async () => {
    await withServer({}, async (server, out) => {
      const r = await runInTerminal(["submit", "openai-batch", REQUESTS, "-o", out, "--max-chunk-lines", "3", ...FAST_POLLS], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } });
      assert.equal(r.code, 0, r.raw);
      const withBlock = r.screens.filter((s) => s.some((l) => BLOCK_HEAD.test(l)));
      assert.ok(withBlock.length >= 3, `the block was drawn ${withBlock.length} times`);
      // Redrawn in place: while the batches progress, the screen holds exactly the two rows of the block.
      const heights = new Set(withBlock.map((s) => s.length));
      assert.deepEqual([...heights], [2], `screen heights while running: ${[...heights].join(", ")}\n${withBlock.map((s) => s.join("\n")).join("\n--\n")}`);
      const done = withBlock.map((s) => Number(BLOCK_HEAD.exec(s[0]!)![1]));
      assert.ok(new Set(done).size >= 2 && done.at(-1)! > done[0]!, `the counts moved: ${done.join(" ")}`);
      for (const s of withBlock) {
        const states = BLOCK_STATES.exec(s[1]!);
        assert.ok(states, `second row: ${s[1]}`);
        assert.equal(tally(states[1]!), 2, `both batches are counted by state: ${s[1]}`);
      }
      assert.ok(withBlock.some((s) => /\bin_progress\b/.test(s[1]!)), "a poll saw the batches in progress");
      // At the end the block is gone and the summary line stands alone.
      assert.deepEqual(r.screens.at(-1), [`${out}: 6 lines, 6 succeeded, 0 failed; 2 batch(es) in 1 round(s)`]);
      assert.doesNotMatch(r.raw, INTERNAL_KEY, "no internal chunk key is shown");
    });
  });

  it("prints events (an expired batch, a retry round) once above the block and keeps them", async () => {
    await withServer({ expireAfterLines: 4 }, async (server, out) => {
      const r = await runInTerminal(["submit", "openai-batch", REQUESTS, "-o", out, "--retry-failed", "1", ...FAST_POLLS], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } });
      assert.equal(r.code, 0, r.raw);
      const last = r.screens.at(-1)!;
      const expired = last.filter((l) => /^\[openai-batch\] chunk 1\/1: batch batch_\w+ expired: 4 completed, 2 failed; results downloaded$/.test(l));
      assert.equal(expired.length, 1, last.join("\n"));
      assert.equal(last.filter((l) => l === "[openai-batch] round 1: resubmitting 2 line(s) that did not succeed").length, 1, last.join("\n"));
      // round 1's batch has 2 lines and the expiry comes after 4: it completes, which is routine (not shown).
      assert.ok(!last.some((l) => BLOCK_HEAD.test(l)), "the block is gone at the end");
      // While round 1 ran, the block sat below the kept lines and said so.
      assert.ok(r.screens.some((s) => s.some((l) => /^ {2}batches: .*\| round 1 of 1/.test(l)) && s[0]!.includes("expired")), "round 1 shown under the kept event");
      assert.doesNotMatch(r.raw, INTERNAL_KEY);
    });
  });

  it("-v adds one line per batch, with its chunk number, batch id, state and counts", async () => {
    await withServer({}, async (server, out) => {
      const r = await runInTerminal(["submit", "openai-batch", REQUESTS, "-o", out, "--max-chunk-lines", "3", "-v", ...FAST_POLLS], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } });
      assert.equal(r.code, 0, r.raw);
      const rows = r.screens.flat();
      assert.ok(rows.some((l) => /^ {4}chunk 1\/2 batch_\w+ in_progress \d\/3$/.test(l)), rows.join("\n"));
      assert.ok(rows.some((l) => /^ {4}chunk 2\/2 batch_\w+ \w+ \d\/3$/.test(l)));
      // Routine messages show with -v, with user-facing names.
      assert.match(r.raw, /\[openai-batch\] chunk 2\/2: created batch batch_\w+ \(deepseek-ai\/DeepSeek-V3\.2, 3 lines\)/);
      assert.doesNotMatch(r.raw, INTERNAL_KEY);
    });
  });
});

describe("submit not on a terminal", () => {
  it("prints a status line per interval and per state change, never one per poll", async () => {
    await withServer({}, async (server, out) => {
      // One batch of 6 lines at 60 ms each: about half a second in in_progress, polled every 30 ms.
      const lines: { at: number; text: string }[] = [];
      const started = Date.now();
      const child = spawn(process.execPath, [CLI, "submit", "openai-batch", REQUESTS, "-o", out, "--progress-interval", "0.25", ...FAST_POLLS], { cwd: ROOT, env: { ...process.env, OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL }, stdio: ["ignore", "ignore", "pipe"] });
      let partial = "";
      child.stderr.on("data", (d: Buffer) => {
        const parts = (partial + d.toString("utf8")).split("\n");
        partial = parts.pop()!;
        for (const text of parts) lines.push({ at: Date.now() - started, text });
      });
      const code = await new Promise((resolve) => child.on("close", resolve));
      assert.equal(code, 0, lines.map((l) => l.text).join("\n"));
      assert.doesNotMatch(lines.map((l) => l.text).join("\n"), /\x1b\[/, "no escape sequences in a pipe");
      const status = lines.filter((l) => /^\[openai-batch\] \S+requests\.jsonl: \d+\/6 done \(\d+%\), \d+ failed/.test(l.text));
      const key = (text: string) => /; (batches: [^;]*; round \d+)/.exec(text)?.[1];
      assert.ok(status.every((l) => key(l.text) !== undefined), status.map((l) => l.text).join("\n"));
      // Two lines in a row with the same state are an interval apart (a pipe may bunch their arrival a little).
      for (let i = 1; i < status.length; i++) {
        if (key(status[i]!.text) === key(status[i - 1]!.text)) assert.ok(status[i]!.at - status[i - 1]!.at >= 150, `${status[i - 1]!.text} @${status[i - 1]!.at}\n${status[i]!.text} @${status[i]!.at}`);
      }
      const changes = status.filter((l, i) => i === 0 || key(l.text) !== key(status[i - 1]!.text)).length;
      const elapsed = lines.at(-1)!.at;
      assert.ok(status.length <= changes + Math.ceil(elapsed / 250), `${status.length} lines: ${changes} state changes in ${elapsed} ms`);
      assert.ok(server.stats.batchPolls > status.length, `${server.stats.batchPolls} polls, ${status.length} lines`);
      assert.ok(status.some((l) => /batches: 1 in_progress/.test(l.text)));
      assert.match(lines.at(-1)!.text, /out\.jsonl: 6 lines, 6 succeeded, 0 failed; 1 batch\(es\) in 1 round\(s\)$/);
    });
  });
});

describe("pipeline on a terminal", () => {
  it("shows the step it is on with that step's bar, and keeps one summary line per finished step", async () => {
    const server = await recordedServer(80);
    const workdir = join(dir, "pipeline");
    try {
      const r = await runInTerminal(
        ["pipeline", "agentless-bugfixer", "--dataset", join(AGENTLESS, "dataset.jsonl"), "--repostructure_dir", join(AGENTLESS, "repostructures"), "--passk", "2", "--backend", "openai-batch", ...FAST_POLLS, "--rounds", "0", "--workdir", workdir],
        { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } },
      );
      assert.equal(r.code, 0, r.raw);
      const last = r.screens.at(-1)!;
      for (const step of ["gen_step1", "submit_step1", "proc_step1_gen_step2", "submit_step2", "proc_step2"]) {
        // proc_step2 may also note its worker threads (fewer cores than --num_workers): not a summary line.
        assert.equal(last.filter((l) => l.startsWith(`pipeline: ${step}: `) && !l.includes(" worker thread(s), one per core")).length, 1, `one summary line for ${step}:\n${last.join("\n")}`);
      }
      assert.ok(!last.some((l) => / running$/.test(l)), "no 'running' lines on a terminal");
      assert.match(last.find((l) => l.startsWith("pipeline: submit_step1: "))!, /lines 6, succeeded 6, failed 0/);
      // While submit_step1 ran: the step's head, then its submit block; the screen's height did not change.
      const during = r.screens.filter((s) => s.some((l) => /^pipeline: submit_step1 \(submit, \d+ s\)$/.test(l)) && s.some((l) => l.includes("[openai-batch]")));
      assert.ok(during.length >= 2, `submit_step1 drawn ${during.length} times`);
      assert.equal(new Set(during.map((s) => s.length)).size, 1, during.map((s) => s.join("\n")).join("\n--\n"));
      const block = during.at(-1)!.slice(-3);
      assert.match(block[0]!, /^pipeline: submit_step1 \(submit, \d+ s\)$/);
      assert.match(block[1]!, /^ {2}\[openai-batch\] pipeline\/step1_requests\.jsonl: \[[#-]{24}\] \d\/6 done/);
      assert.match(block[2]!, /^ {4}batches: 1 \w+ \| round 0/);
      assert.doesNotMatch(r.raw, INTERNAL_KEY);
    } finally {
      await server.closeAll();
    }
  });
});

describe("stage progress counts lines", () => {
  it("the stage line gives the lines read, not 0", async () => {
    const { openInput } = await import("../src/cli/io.ts");
    const path = join(dir, "lines.jsonl");
    await writeFile(path, Array.from({ length: 5000 }, (_, i) => JSON.stringify({ custom_id: `r${i}`, text: "naïve ✓" })).join("\n") + "\n");
    const writes: string[] = [];
    const stream = { isTTY: false, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const input = await openInput(path, { label: "slice", progress: { stream, delay: 0, interval: 0 } });
    for await (const _ of input.chunks);
    input.progress.done();
    assert.match(writes.at(-1)!, /^slice: .* 100%, 5,000 lines, /);
  });
});
