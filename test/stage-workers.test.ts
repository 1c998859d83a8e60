/**
 * `requests rewrite --workers N` (src/internal/stage-workers.ts): the same output bytes, skipped
 * lines, messages and exit code as one thread, on an input of several batches with CRLF endings,
 * blank lines, a BOM, bad lines and a line the stage refuses.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const request = (i: number) => JSON.stringify({ custom_id: `inst-${i}__pass0`, method: "POST", url: "/v1/chat/completions", body: { model: "m", messages: [{ role: "user", content: `fix ${i} “é” ${"x".repeat(1200 + (i % 300))}` }], max_tokens: 100 } });

/** About 4 MiB: four batches or more. */
async function input(name: string, edit: (lines: string[]) => void): Promise<string> {
  const lines = Array.from({ length: 3000 }, (_, i) => request(i));
  edit(lines);
  const path = join(dir, name);
  await writeFile(path, "\uFEFF" + lines.map((l, i) => (i % 5 === 0 ? `${l}\r\n` : `${l}\n`)).join(""));
  return path;
}

async function both(args: (out: string) => string[]) {
  const runs = [];
  for (const workers of ["1", "3"]) {
    const out = join(dir, `out-${workers}-${Math.random().toString(36).slice(2)}.jsonl`);
    const r = await runCli([...args(out), "--workers", workers, "-q"]);
    runs.push({ ...r, out: await readFile(out, "utf8").catch(() => null), failures: await readFile(`${out}.failures.jsonl`, "utf8").catch(() => null) });
  }
  return runs;
}

describe("requests rewrite --workers", () => {
  it("writes the same bytes as one thread, in input order", async () => {
    const path = await input("good.jsonl", (lines) => lines.splice(1000, 0, "", "   "));
    const [one, three] = await both((out) => ["requests", "rewrite", "-i", path, "-o", out, "--model", "gpt-4.1-mini", "--max-tokens", "4096"]);
    assert.equal(one!.code, 0, one!.stderr);
    assert.equal(three!.code, 0, three!.stderr);
    assert.equal(three!.out, one!.out);
    const ids = one!.out!.trim().split("\n").map((l) => (JSON.parse(l) as { custom_id: string; body: { model: string } }));
    assert.equal(ids.length, 3000);
    assert.equal(ids[2999]!.custom_id, "inst-2999__pass0");
    assert.equal(ids[0]!.body.model, "gpt-4.1-mini");
    // stdin arrives in pipe-sized chunks that share buffers: they are copied, not moved, and give the same bytes
    const piped = await runCli(["requests", "rewrite", "-i", "-", "--model", "gpt-4.1-mini", "--max-tokens", "4096", "--workers", "2", "-q"], { input: await readFile(path) });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, one!.out);
  });

  it("skips and reports the same bad lines with --skip-bad, and stops at the same line without it", async () => {
    const path = await input("bad.jsonl", (lines) => {
      lines[10] = "{not json";
      lines[1500] = "\uFEFF" + lines[1500]!; // a BOM inside the file is not JSON
      lines[2600] = JSON.stringify({ custom_id: "no-body", method: "POST", url: "/v1/chat/completions" });
    });
    const [one, three] = await both((out) => ["requests", "rewrite", "-i", path, "-o", out, "--max-tokens", "64", "--skip-bad", "--failures", `${out}.failures.jsonl`]);
    assert.equal(one!.code, 0, one!.stderr);
    assert.deepEqual([three!.code, three!.stderr, three!.out, three!.failures], [one!.code, one!.stderr, one!.out, one!.failures]);
    assert.deepEqual(one!.failures!.trim().split("\n").map((l) => (JSON.parse(l) as { line: number }).line), [11, 1501, 2601]);
    const stop = await both((out) => ["requests", "rewrite", "-i", path, "-o", out, "--max-tokens", "64"]);
    assert.equal(stop[0]!.code, 1);
    assert.match(stop[0]!.stderr, /^batchline: .*bad\.jsonl:11: not valid JSON/);
    assert.deepEqual([stop[1]!.code, stop[1]!.stderr], [stop[0]!.code, stop[0]!.stderr]);
  });

  it("writes outputs much longer than their input lines (a long --model on short lines)", async () => {
    const path = join(dir, "short.jsonl");
    await writeFile(path, Array.from({ length: 40 }, (_, i) => JSON.stringify({ custom_id: `c${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "m", messages: [] } }) + "\n").join(""));
    const model = `model-é-${"m".repeat(100_000)}`;
    const [one, three] = await both((out) => ["requests", "rewrite", "-i", path, "-o", out, "--model", model]);
    assert.equal(one!.code, 0, one!.stderr);
    assert.deepEqual([three!.code, three!.out], [one!.code, one!.out]);
    assert.equal(one!.out!.split("\n").length, 41);
    assert.equal((JSON.parse(one!.out!.split("\n")[39]!) as { body: { model: string } }).body.model, model);
  });

  it("refuses a bad --workers value", async () => {
    const r = await runCli(["requests", "rewrite", "-i", "-", "--workers", "0", "--model", "m"], { input: "" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--workers 0: expected a whole number >= 1, or auto/);
  });
});
