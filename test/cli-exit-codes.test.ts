/**
 * Exit codes of `submit`: 1 when any line failed after every retry (with the counts), whatever the
 * backend; an empty request file gets the same answer from every backend (an empty output, exit
 * 0, a note); `validate` of an empty file says it is empty.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startBatchServer, type BatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");
const OUTPUT = join(FIXTURES, "batch/output-round1.jsonl");
const echo: Executor = async (request) => ({ response: { status_code: 200, request_id: "r", body: { choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] } }, error: null });

let dir = "";
let cleanup = async () => {};
let server: BatchServer;
before(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startBatchServer({ executor: echo });
});
after(async () => {
  await server.close();
  await cleanup();
});

describe("submit exit codes", () => {
  it("replay: exits 1 with the counts when lines failed (a recording with failures)", async () => {
    const out = join(dir, "replayed.jsonl");
    const r = await runCli(["submit", "replay", REQUESTS, "-o", out, "--from", OUTPUT]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^batchline: \d+ of 6 line\(s\) failed \([^)]+\); each is a failure line in .*replayed\.jsonl/m);
    assert.equal((await readFile(out, "utf8")).split("\n").length, 7, "the output still has every line");
  });

  it("an empty request file: an empty output, exit 0 and a note, from every backend", async () => {
    const empty = join(dir, "empty.jsonl");
    await writeFile(empty, "");
    const env = { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL, ANTHROPIC_API_KEY: "k", ANTHROPIC_BASE_URL: "http://127.0.0.1:9" };
    for (const [backend, extra] of [
      ["openai-batch", []],
      ["anthropic-batch", []],
      ["openai-compatible", ["--base-url", "http://127.0.0.1:9/v1"]],
      ["replay", ["--from", OUTPUT]],
    ] as const) {
      const out = join(dir, backend, "out.jsonl");
      const r = await runCli(["submit", backend, empty, "-o", out, ...extra], { env });
      assert.equal(r.code, 0, `${backend}: ${r.stderr}`);
      assert.equal(await readFile(out, "utf8"), "", backend);
      assert.match(r.stderr, /0 lines \(.*empty\.jsonl has no requests; wrote an empty output\)/, backend);
    }
    assert.equal(server.stats.uploads, 0, "nothing uploaded");
  });

  it("validate says a file is empty", async () => {
    const empty = join(dir, "empty2.jsonl");
    await writeFile(empty, "");
    const r = await runCli(["validate", empty]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /empty2\.jsonl: empty file \(no lines\)/);
  });
});
