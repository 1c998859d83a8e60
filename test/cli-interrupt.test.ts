/**
 * Ctrl-C (SIGINT) and SIGTERM: one line saying what was interrupted and that the same command
 * resumes it, exit 130/143, and the lock released. After SIGKILL the lock stays, and the next run
 * takes it over (its process is gone).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type BatchServer, startBatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import { CLI, FIXTURES, tempDir } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");
const never: Executor = () => new Promise(() => {});

let dir = "";
let cleanup = async () => {};
let server: BatchServer;
before(async () => {
  ({ dir, cleanup } = await tempDir());
  // Each status lasts a minute: every batch is still validating when the CLI is stopped.
  server = await startBatchServer({ executor: never, faults: { stepDelayMs: 60_000 } });
});
after(async () => {
  await server.close();
  await cleanup();
});

const exists = (path: string) => access(path).then(() => true, () => false);

/** Starts a submit and resolves once it holds its lock and polls its batch. */
async function startSubmit(out: string): Promise<{ child: ChildProcess; exit: Promise<number | null>; stderr: () => string }> {
  const polls = server.stats.batchPolls;
  const child = spawn(process.execPath, [CLI, "submit", "openai-batch", REQUESTS, "-o", out, "--poll-interval", "0.05"], {
    env: { ...process.env, OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: server.baseURL },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const holder = async () => JSON.parse(await readFile(`${out}.lock`, "utf8").catch(() => "{}")).pid;
  for (let i = 0; i < 400 && (server.stats.batchPolls === polls || (await holder()) !== child.pid); i++) await sleep(25);
  assert.equal(await holder(), child.pid, `the submit holds its lock\n${err}`);
  assert.ok(server.stats.batchPolls > polls, `and polls its batch\n${err}`);
  return { child, exit, stderr: () => err };
}

describe("interrupting a submit", () => {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`${signal}: one line, exit ${code}, lock released`, async () => {
      const out = join(dir, signal, "out.jsonl");
      const run = await startSubmit(out);
      run.child.kill(signal);
      assert.equal(await run.exit, code);
      const lines = run.stderr().trimEnd().split("\n");
      assert.equal(lines.at(-1), `batchline: submit interrupted (${signal}); run the same command again to resume it`);
      assert.doesNotMatch(run.stderr(), /^ {4}at /m);
      assert.equal(await exists(`${out}.lock`), false, "the lock is gone");
      assert.ok(await exists(`${out}.state.json`), "the state to resume from is kept");
    });
  }

  it("SIGKILL leaves the lock; the next run takes it over", async () => {
    const out = join(dir, "kill", "out.jsonl");
    const first = await startSubmit(out);
    first.child.kill("SIGKILL");
    await first.exit;
    assert.ok(await exists(`${out}.lock`), "a killed process cannot release its lock");
    const second = await startSubmit(out);
    assert.match(second.stderr(), /taking over the stale lock of process \d+/);
    second.child.kill("SIGINT");
    assert.equal(await second.exit, 130);
    assert.equal(await exists(`${out}.lock`), false);
  });
});
