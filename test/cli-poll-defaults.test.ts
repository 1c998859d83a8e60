/**
 * The CLI's poll defaults are seconds: `submit openai-batch` without --poll-interval waits 5 s
 * between polls. Counted through a local Batch API whose batch stays in progress.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startBatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import { CLI, FIXTURES, tempDir } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");
const never: Executor = () => new Promise(() => {});

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

/** Polls the CLI makes in the `watchMs` after its batch was created. */
async function pollsIn(watchMs: number, extra: string[], out: string): Promise<number> {
  // Each status lasts a minute: the batch is still validating when the CLI is stopped.
  const server = await startBatchServer({ executor: never, faults: { stepDelayMs: 60_000 } });
  const child = spawn(process.execPath, [CLI, "submit", "openai-batch", REQUESTS, "-o", out, "-q", ...extra], {
    env: { ...process.env, OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: server.baseURL },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  try {
    for (let i = 0; i < 400 && server.stats.batchesCreated === 0; i++) await sleep(25);
    assert.equal(server.stats.batchesCreated, 1, "the CLI created its batch");
    const before = server.stats.batchPolls;
    await sleep(watchMs);
    return server.stats.batchPolls - before;
  } finally {
    child.kill("SIGTERM");
    await exited;
    await server.close();
  }
}

describe("submit openai-batch poll interval", () => {
  it("polls once in the first second by default (5 s between polls, not 5 ms)", async () => {
    const polls = await pollsIn(1200, [], join(dir, "default", "out.jsonl"));
    assert.ok(polls <= 1, `${polls} polls in 1.2 s with the default interval`);
  });

  it("counts what --poll-interval asks for (so the count above means something)", async () => {
    const polls = await pollsIn(1200, ["--poll-interval", "0.1", "--max-poll-interval", "0.1"], join(dir, "fast", "out.jsonl"));
    assert.ok(polls >= 5, `${polls} polls in 1.2 s at 0.1 s`);
  });
});
