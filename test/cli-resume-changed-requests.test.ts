/**
 * Direct backends key resume on the request itself: after `requests rewrite --model other`, a
 * submit to the same -o sends every changed line again and keeps none of the old model's answers;
 * an unchanged request is never sent twice (from the output of a finished run, or a journal).
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startChatServer } from "./chat-server.ts";
import { parseLines, runCli, tempDir } from "./helpers.ts";
import { writeContractRequests } from "./submitter-contract.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

type Out = { custom_id: string; response: { body: { model: string } } | null };

describe("resume keyed on the request", () => {
  it("openai-compatible: a changed request is sent again, an unchanged one is not", async () => {
    const chat = await startChatServer();
    try {
      const requests = join(dir, "requests.jsonl");
      await writeContractRequests(requests, 3); // 6 lines, model m-1
      const out = join(dir, "out.jsonl");
      const submit = (file: string) => runCli(["submit", "openai-compatible", file, "-o", out, "--base-url", chat.baseURL]);
      const first = await submit(requests);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /6 sent, 0 already answered/);

      const same = await submit(requests);
      assert.equal(same.code, 0, same.stderr);
      assert.match(same.stderr, /0 sent, 6 already answered/, "an unchanged request is not sent again");

      const other = join(dir, "requests-other.jsonl");
      const rw = await runCli(["requests", "rewrite", "-i", requests, "--model", "m-2", "-o", other]);
      assert.equal(rw.code, 0, rw.stderr);
      const changed = await submit(other);
      assert.equal(changed.code, 0, changed.stderr);
      assert.match(changed.stderr, /6 sent, 0 already answered/, "every changed request is sent again");
      const models = (parseLines(await readFile(out, "utf8")) as Out[]).map((l) => l.response?.body.model);
      assert.deepEqual(models, Array(6).fill("m-2"), "no answer of the old model is kept");

      // Half changed: only the changed lines go out.
      const mixed = join(dir, "requests-mixed.jsonl");
      const a = (await readFile(requests, "utf8")).trim().split("\n");
      const b = (await readFile(other, "utf8")).trim().split("\n");
      await writeFile(mixed, [...b.slice(0, 3), ...a.slice(3)].join("\n") + "\n");
      const half = await submit(mixed);
      assert.equal(half.code, 0, half.stderr);
      assert.match(half.stderr, /3 sent, 3 already answered/);
      assert.deepEqual((parseLines(await readFile(out, "utf8")) as Out[]).map((l) => l.response?.body.model), ["m-2", "m-2", "m-2", "m-1", "m-1", "m-1"]);
    } finally {
      await chat.close();
    }
  });
});
