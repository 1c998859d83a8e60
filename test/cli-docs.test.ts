/** The README's examples run as written after `npm ci` (npx batchline); the repo ignores what runs leave behind. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT, runCli, tempDir } from "./helpers.ts";

describe("docs and leftovers", () => {
  it("every command line in the README's code blocks says npx batchline", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
    const bare = blocks.flatMap((b) => b.split("\n")).filter((l) => /(^|[\s|&(])batchline /.test(l) && !/npx batchline /.test(l) && !/^\s*#/.test(l) && !/^src\//.test(l));
    assert.deepEqual(bare, [], "bare `batchline` is not on PATH after npm ci");
  });

  it(".gitignore covers the demo's workdir and bench data", () => {
    for (const path of ["batchline-demo/save/preds_0.jsonl", "test/bench/data/big.jsonl"]) {
      const r = spawnSync("git", ["check-ignore", "-q", path], { cwd: ROOT });
      assert.equal(r.status, 0, `${path} is not ignored`);
    }
  });

  it("a request file refused while chunking leaves no empty <out>.chunks/", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const bad = join(dir, "bad.jsonl");
      await writeFile(bad, '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}\n{"custom_id":"b"}\n');
      const r = await runCli(["submit", "openai-batch", bad, "-o", join(dir, "out", "out.jsonl")], { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bad\.jsonl:2 \(custom_id=b\): not a valid batch request line/);
      assert.deepEqual(await readdir(join(dir, "out")), [], "no out.jsonl.chunks/ (nor anything else)");
    } finally {
      await cleanup();
    }
  });

  it("schema request uses standard JSON Schema keywords (a pattern, not zod's starts_with format)", async () => {
    const r = await runCli(["schema", "request"]);
    assert.equal(r.code, 0, r.stderr);
    const schema = JSON.parse(r.stdout) as { properties: { url: { pattern?: string; format?: string } } };
    assert.equal(schema.properties.url.format, undefined);
    assert.ok(new RegExp(schema.properties.url.pattern!).test("/v1/chat/completions"));
    assert.ok(!new RegExp(schema.properties.url.pattern!).test("v1/chat/completions"));
  });
});
