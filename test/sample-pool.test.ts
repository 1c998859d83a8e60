/**
 * proc_step2's plumbing for worker threads: records holding JSON encoded on a worker
 * (src/core/raw-json.ts) are written byte for byte as JSON.stringify writes them, and the pool
 * that sends each file to the workers once (src/agentless/sample-pool.ts) builds what
 * `buildSample` builds inline, whatever it keeps or drops.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EncodedJson, encodeJson, jsonLine } from "../src/core/raw-json.ts";
import { type SampleJob, type SampleResult, buildSample } from "../src/agentless/build-sample.ts";
import { SamplePool } from "../src/agentless/sample-pool.ts";

const TEXTS = ['plain', 'quote " and backslash \\ ', "é 😀 \u2028 \u0000 tab\t", "\u0000encoded-json-not-a-mark", ""];

describe("jsonLine", () => {
  it("writes EncodedJson values as JSON.stringify writes the strings", () => {
    const plain = { a: TEXTS[0], list: TEXTS, nested: { x: [TEXTS[2], 1, null], y: TEXTS[3] }, same: TEXTS[1] };
    const enc = (s: string) => new EncodedJson(encodeJson(s));
    const shared = enc(TEXTS[1]!);
    const encoded = { a: enc(TEXTS[0]!), list: TEXTS.map(enc), nested: { x: [enc(TEXTS[2]!), 1, null], y: enc(TEXTS[3]!) }, same: shared };
    const expected = `${JSON.stringify(plain)}\n`;
    assert.equal(jsonLine(encoded).toString("utf8"), expected);
    assert.equal(jsonLine(plain).toString("utf8"), expected);
    assert.equal(`${JSON.stringify(encoded)}\n`, expected, "JSON.stringify outside jsonLine decodes them");
    // the same encoded value twice in one record, and in two records
    assert.equal(jsonLine({ p: shared, q: shared }).toString("utf8"), `${JSON.stringify({ p: TEXTS[1], q: TEXTS[1] })}\n`);
  });
});

/** A file of `n` lines and an answer editing line `k`. */
function job(source: string | undefined, key: string, n: number, k: number): SampleJob {
  const text = Array.from({ length: n }, (_, i) => `x_${i} = ${i}  # é`).join("\n") + "\n";
  const answer = ["```python", `### ${key}`, "<<<<<<< SEARCH", `x_${k} = ${k}  # é`, "=======", `x_${k} = ${k + 1000}  # changed`, ">>>>>>> REPLACE", "```"].join("\n");
  return { role: "bugfixer", ...(source === undefined ? {} : { source }), answer, files: { [key]: text }, repoPaths: { [key]: key } };
}

function decoded(r: SampleResult): unknown {
  if (!r.ok || r.role !== "bugfixer") return r;
  const text = (b: Uint8Array) => JSON.parse(Buffer.from(b).toString("utf8")) as string;
  return { ...r, files: r.files.map((f) => ({ path: f.path, old: text(f.oldJson), new: text(f.newJson) })) };
}

describe("SamplePool", () => {
  it("builds what buildSample builds inline, with a cache far too small to keep anything", async () => {
    const jobs: SampleJob[] = [];
    for (let i = 0; i < 24; i++) jobs.push(job(i % 5 === 4 ? undefined : `inst-${i % 3}`, `pkg/mod${i % 2}.py`, 40 + (i % 3), i % 7));
    const expected = jobs.map((j) => decoded(buildSample(j)));
    for (const cacheChars of [1, 1 << 20]) {
      const pool = new SamplePool(2, { cacheChars });
      try {
        const got = await Promise.all(jobs.map((j) => pool.build(j)));
        assert.deepEqual(got.map(decoded), expected, `cacheChars ${cacheChars}`);
      } finally {
        await pool.close();
      }
    }
    assert.ok((expected[0] as { ok: boolean }).ok);
  });
});
