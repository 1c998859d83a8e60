import assert from "node:assert/strict";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, parseLines, runCli, tempDir, tempLeftovers } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");
const ROUND1 = join(FIXTURES, "batch/output-round1.jsonl");
const ROUND2 = join(FIXTURES, "batch/output-round2.jsonl");

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const ids = (text: string) => parseLines(text).map((v) => (v as { custom_id: string }).custom_id);

describe("batchline --help", () => {
  it("lists every command with a description", async () => {
    const r = await runCli(["--help"]);
    assert.equal(r.code, 0);
    for (const cmd of ["validate", "slice", "demux", "merge", "schema", "requests"]) assert.match(r.stdout, new RegExp(`^  ${cmd}\\b.*\\S`, "m"), cmd);
  });

  it("gives each command its options, and each stage its own", async () => {
    const slice = await runCli(["slice", "--help"]);
    assert.match(slice.stdout, /--start, --start-file <id\|n>/);
    const stage = await runCli(["requests", "rewrite", "--help"]);
    assert.match(stage.stdout, /--max-tokens <value>\s+set the output-token cap: body\.max_tokens \(chat, completions\), max_output_tokens \(\/v1\/responses\)/);
  });

  it("fails with one line on an unknown command or option", async () => {
    const r = await runCli(["frobnicate"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "batchline: unknown command frobnicate (see batchline --help)\n");
    const o = await runCli(["slice", REQUESTS, "--bogus"]);
    assert.equal(o.code, 1);
    assert.equal(o.stderr, "batchline: unknown option --bogus; see --help\n");
  });
});

describe("batchline validate", () => {
  it("accepts a good request file and reports chunk counts per backend", async () => {
    const r = await runCli(["validate", REQUESTS, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.kind, "request");
    assert.equal(report.lines, 6);
    assert.deepEqual(report.models, { "deepseek-ai/DeepSeek-V3.2": 6 });
    assert.deepEqual(report.chunks, { "openai-batch": 1, "anthropic-batch": 1, "gemini-batch": 1 });
  });

  it("reports every kind of problem in a request file with file:line (custom_id) and exits 1", async () => {
    const path = join(dir, "bad-requests.jsonl");
    const good = (id: string, model = "m", url = "/v1/chat/completions") => JSON.stringify({ custom_id: id, method: "POST", url, body: { model, messages: [] } });
    await writeFile(path, [good("a"), good("b", "m", "/chat/completions"), "{oops", good("a"), good("c", "other"), JSON.stringify({ custom_id: "d", method: "GET", url: "/v1/chat/completions", body: {} })].join("\n") + "\n");
    const r = await runCli(["validate", path]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`${path}:2 \\(custom_id=b\\): url /chat/completions is not a Batch API endpoint \\(use /v1/chat/completions\\)`));
    assert.match(r.stdout, new RegExp(`${path}:3: not valid JSON`));
    assert.match(r.stdout, new RegExp(`${path}:4 \\(custom_id=a\\): duplicate custom_id \\(first on line 1\\)`));
    assert.match(r.stdout, new RegExp(`${path}:6 \\(custom_id=d\\): not a valid request line: .*at method.*at body\\.model`));
    assert.match(r.stdout, /2 models in one file \(m, other\)/);
    assert.match(r.stderr, /^batchline: 6 problem\(s\) in .*bad-requests\.jsonl; first: .*:2 \(custom_id=b\)/);
  });

  it("counts more chunks when a file passes the line limit, per model", async () => {
    const path = join(dir, "many.jsonl");
    const lines = Array.from({ length: 50_001 }, (_, i) => `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"${i % 2 ? "a" : "b"}","messages":[]}}`);
    await writeFile(path, lines.join("\n"));
    const r = await runCli(["validate", path, "--json", "--quiet"]);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.chunks, { "openai-batch": 2, "anthropic-batch": 2, "gemini-batch": 2 }, "two models need two chunks even under the limits");
    assert.ok(report.problems.some((p: { message: string }) => /2 models/.test(p.message)));
  });

  it("summarizes an output file's outcomes", async () => {
    const r = await runCli(["validate", ROUND1, "--kind", "output", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout).outcomes;
    assert.deepEqual(o, { succeeded: 4, httpErrors: 1, failed: 1, truncated: 1, emptyContent: 0, byCode: { http_500: 1, batch_expired: 1 } });
  });

  it("with --requests, checks every request is answered exactly once (join by custom_id)", async () => {
    const full = await runCli(["validate", ROUND1, "--requests", REQUESTS, "--json"]);
    assert.equal(full.code, 0, full.stderr);
    assert.deepEqual(JSON.parse(full.stdout).coverage, { requests: 6, answered: 6, succeeded: 4, missing: 0, unexpected: 0 });
    const path = join(dir, "partial-output.jsonl");
    const lines = (await readFile(ROUND1, "utf8")).trimEnd().split("\n");
    await writeFile(path, [lines[0], lines[0], lines[2], lines[3]!.replace("astropy__astropy-12907__pass1", "ghost__pass9")].join("\n") + "\n");
    const r = await runCli(["validate", path, "--requests", REQUESTS]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /answers: 2\/6 requests answered \(2 succeeded\), 4 missing, 1 answers to no request/);
    assert.match(r.stdout, /requests\.jsonl:2 \(custom_id=astropy__astropy-12907__pass1\): request has no line in .*partial-output\.jsonl/);
    assert.match(r.stdout, /partial-output\.jsonl:4 \(custom_id=ghost__pass9\): answer to no request/);
    assert.match(r.stdout, /partial-output\.jsonl:2 \(custom_id=sympy__sympy-20590__pass1\): duplicate custom_id \(first on line 1\)/);
  });

  it("checks error-file lines are failures", async () => {
    const r = await runCli(["validate", ROUND1, "--kind", "error"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /:1 \(custom_id=sympy__sympy-20590__pass1\): not a valid error line: an error line needs/);
  });
});

describe("batchline slice", () => {
  it("keeps a custom_id range, end exclusive, lines byte for byte", async () => {
    const r = await runCli(["slice", REQUESTS, "--start", "astropy__astropy-12907__pass1", "--end", "sympy__sympy-20590__pass0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.stdout), ["astropy__astropy-12907__pass1", "django__django-11099__pass0", "django__django-11099__pass1"]);
    const original = (await readFile(REQUESTS, "utf8")).split("\n");
    assert.ok(r.stdout.split("\n").filter(Boolean).every((l) => original.includes(l)), "lines are copied unchanged");
  });

  it("takes integer positions in the byte-sorted ids with the Python scripts' --start_file/--end_file names", async () => {
    const out = join(dir, "pos.jsonl");
    const r = await runCli(["slice", ROUND1, "--start_file", "1", "--end_file", "3", "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(await readFile(out, "utf8")), ["django__django-11099__pass0", "astropy__astropy-12907__pass1"], "file order kept; positions 1 and 2 of the sorted ids");
  });

  it("reads stdin with positions too", async () => {
    const r = await runCli(["slice", "-", "--start", "4"], { input: await readFile(REQUESTS) });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.stdout), ["sympy__sympy-20590__pass0", "sympy__sympy-20590__pass1"]);
  });

  it("splits a file into shards that add up to the whole file", async () => {
    const all: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await runCli(["slice", REQUESTS, "--shard", `${i}/3`]);
      assert.equal(r.code, 0, r.stderr);
      all.push(...ids(r.stdout));
    }
    assert.deepEqual(all.sort(), ids(await readFile(REQUESTS, "utf8")).sort());
  });

  it("fails on a line without custom_id naming file and line, leaving no output", async () => {
    const path = join(dir, "noid.jsonl");
    const out = join(dir, "noid-out.jsonl");
    await writeFile(path, '{"custom_id":"a"}\n{"nope":1}\n');
    const r = await runCli(["slice", path, "--start", "a", "-o", out]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `batchline: ${path}:2: line has no string custom_id (or instance_id)\n`);
    await assert.rejects(readFile(out), { code: "ENOENT" });
    assert.deepEqual(await tempLeftovers(dir), []);
  });

  it("rejects a bad shard", async () => {
    const r = await runCli(["slice", REQUESTS, "--shard", "3/3"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: --shard 3\/3: expected i\/n/);
  });
});

describe("batchline demux", () => {
  it("splits by pass into <name>_<pass>.jsonl", async () => {
    const outDir = join(dir, "demux");
    const r = await runCli(["demux", ROUND1, "-d", outDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(outDir)).sort(), ["output-round1_0.jsonl", "output-round1_1.jsonl"]);
    assert.deepEqual(ids(await readFile(join(outDir, "output-round1_0.jsonl"), "utf8")), ["django__django-11099__pass0", "astropy__astropy-12907__pass0", "sympy__sympy-20590__pass0"]);
    assert.deepEqual(ids(await readFile(join(outDir, "output-round1_1.jsonl"), "utf8")), ["sympy__sympy-20590__pass1", "astropy__astropy-12907__pass1", "django__django-11099__pass1"]);
  });

  it("strips the pass from custom_id when asked, and needs --name for stdin", async () => {
    const outDir = join(dir, "demux-strip");
    const r = await runCli(["demux", "-", "--name", "step2", "--strip-pass", "-d", outDir], { input: await readFile(ROUND2) });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(await readFile(join(outDir, "step2_1.jsonl"), "utf8")), ["astropy__astropy-12907", "sympy__sympy-20590"]);
    const noName = await runCli(["demux", "-"], { input: "" });
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /needs --name/);
  });

  it("writes no pass file at all when a later line is bad", async () => {
    const outDir = join(dir, "demux-bad");
    const path = join(dir, "demux-bad.jsonl");
    await writeFile(path, '{"custom_id":"a__pass0"}\n{"custom_id":"a__pass1"}\n[1,2\n');
    const r = await runCli(["demux", path, "-d", outDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /demux-bad\.jsonl:3: not valid JSON/);
    assert.deepEqual(await readdir(outDir).catch(() => []), []);
  });
});

describe("batchline merge", () => {
  it("keeps each custom_id once: a later success replaces a failure, never the reverse", async () => {
    const out = join(dir, "merged.jsonl");
    const r = await runCli(["merge", ROUND1, ROUND2, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    const merged = parseLines(await readFile(out, "utf8")) as { custom_id: string; id: string; response: { status_code: number } | null }[];
    assert.equal(merged.length, 6);
    assert.equal(new Set(merged.map((m) => m.custom_id)).size, 6);
    const byId = Object.fromEntries(merged.map((m) => [m.custom_id, m]));
    assert.equal(byId["django__django-11099__pass0"]!.id, "batch_req_007", "round 2 success replaces the expired line");
    assert.equal(byId["astropy__astropy-12907__pass1"]!.id, "batch_req_008", "round 2 success replaces the HTTP 500");
    assert.equal(byId["sympy__sympy-20590__pass1"]!.id, "batch_req_001", "a round 2 failure does not replace a success");
    assert.match(r.stderr, /6 custom_ids \(6 succeeded, 0 failed\) from 9 lines in 2 files/);
  });

  it("reads stdin as one of its inputs and names a bad line", async () => {
    const fromStdin = await runCli(["merge", "-", ROUND1, "-q"], { input: await readFile(ROUND1) });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    const path = join(dir, "bad-output.jsonl");
    await writeFile(path, '{"id":"x","custom_id":"a","response":{"status_code":"200"},"error":null}\n');
    const r = await runCli(["merge", ROUND1, path, "-o", join(dir, "m2.jsonl")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad-output\.jsonl:1 \(custom_id=a\): not a valid batch output line: .*status_code/);
  });

  it("with no custom_id repeated the output is every line in order; a repeat or a bad line found late (after MBs were copied) leaves the right file or none, and no temp file", async () => {
    const work = join(dir, "merge-late");
    await mkdir(work, { recursive: true });
    const success = (i: number, tag: string) => JSON.stringify({ id: `batch_req_${tag}${i}`, custom_id: `m-${i}`, response: { status_code: 200, request_id: `r${i}`, body: { choices: [{ message: { role: "assistant", content: "y".repeat(2000) } }] } }, error: null });
    const failure = (i: number) => JSON.stringify({ id: `batch_req_f${i}`, custom_id: `m-${i}`, response: null, error: { code: "batch_expired", message: "expired" } });
    const lines = Array.from({ length: 3000 }, (_, i) => (i % 5 === 0 ? failure(i) : success(i, "a"))); // ~6 MB
    const unique = join(work, "unique.jsonl");
    await writeFile(unique, lines.join("\r\n") + "\r\n\n"); // CRLF endings and a blank line are kept / dropped as before
    const once = await runCli(["merge", unique, "-o", join(work, "once.jsonl"), "-q"]);
    assert.equal(once.code, 0, once.stderr);
    assert.equal(await readFile(join(work, "once.jsonl"), "utf8"), lines.map((l) => `${l}\r\n`).join(""));
    // The last line answers m-0 again (a success replacing the first line's failure): known only at the end.
    const late = join(work, "late.jsonl");
    await writeFile(late, [...lines, success(0, "b")].join("\n") + "\n");
    const twice = await runCli(["merge", late, "-o", join(work, "twice.jsonl"), "-q"]);
    assert.equal(twice.code, 0, twice.stderr);
    const merged = parseLines(await readFile(join(work, "twice.jsonl"), "utf8")) as { id: string; custom_id: string }[];
    assert.equal(merged.length, 3000);
    assert.deepEqual(merged.map((m) => m.custom_id), [...lines.slice(1).map((_, i) => `m-${i + 1}`), "m-0"]);
    assert.equal(merged.at(-1)!.id, "batch_req_b0");
    const bad = join(work, "bad.jsonl");
    await writeFile(bad, [...lines, "{not json"].join("\n") + "\n");
    const refused = await runCli(["merge", bad, "-o", join(work, "bad-out.jsonl"), "-q"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad\.jsonl:3001: not valid JSON/);
    assert.deepEqual((await readdir(work)).sort(), ["bad.jsonl", "late.jsonl", "once.jsonl", "twice.jsonl", "unique.jsonl"], "no output and no temp file for the refused merge");
  });
});

describe("batchline schema", () => {
  it("prints JSON Schema generated from the zod schemas", async () => {
    const r = await runCli(["schema", "request"]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(s.required.sort(), ["body", "custom_id", "method", "url"]);
    assert.equal(s.additionalProperties, false);
    assert.equal(s.properties.method.const, "POST");
    const out = JSON.parse((await runCli(["schema", "output"])).stdout);
    assert.deepEqual(out.required.sort(), ["custom_id", "error", "id", "response"]);
    const bad = await runCli(["schema", "nope"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown schema nope; known schemas:/);
  });
});

describe("packaging", () => {
  it("the built bin (dist/, made by npm ci's prepare) runs", async () => {
    const { spawnSync } = await import("node:child_process");
    const { ROOT } = await import("./helpers.ts");
    const r = spawnSync(process.execPath, [join(ROOT, "dist/src/cli/main.js"), "--version"], { encoding: "utf8" });
    assert.equal(r.status, 0, `dist/src/cli/main.js did not run (run npm run build): ${r.stderr}`);
    assert.match(r.stdout, /^batchline\/\d+\.\d+\.\d+/);
  });
});

describe("unix pipes", () => {
  it("chains a stage and a command through stdin/stdout", async () => {
    const { spawn } = await import("node:child_process");
    const { CLI } = await import("./helpers.ts");
    const rewrite = spawn(process.execPath, [CLI, "requests", "rewrite", "-i", REQUESTS, "--model", "gpt-4.1-mini", "--max_tokens", "4096"]);
    const slice = spawn(process.execPath, [CLI, "slice", "-", "--shard", "0/1"], { stdio: [rewrite.stdout, "pipe", "pipe"] });
    let text = "";
    slice.stdout!.on("data", (d: Buffer) => (text += d));
    const code = await new Promise((resolve) => slice.on("close", resolve));
    assert.equal(code, 0);
    const lines = parseLines(text) as { body: { model: string; max_tokens: number; messages: { content: string }[] } }[];
    assert.equal(lines.length, 6);
    assert.ok(lines.every((l) => l.body.model === "gpt-4.1-mini" && l.body.max_tokens === 4096));
    assert.match(lines[0]!.body.messages[0]!.content, /naïve “quotes” and\r\nCRLF/, "non-ASCII and CRLF survive the round trip");
  });

  it("a stage's bad input line fails with file:line (custom_id) and leaves an existing output untouched", async () => {
    const path = join(dir, "rw-bad.jsonl");
    const out = join(dir, "rw-out.jsonl");
    await writeFile(out, "previous\n");
    const lines = (await readFile(REQUESTS, "utf8")).split("\n");
    lines[3] = lines[3]!.replace('"method": "POST"', '"method": "PUT"');
    await writeFile(path, lines.join("\n"));
    const r = await runCli(["requests", "rewrite", "-i", path, "-o", out, "--model", "x"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: .*rw-bad\.jsonl:4 \(custom_id=django__django-11099__pass1\): not a valid requests\/rewrite input: .* at method\n$/);
    assert.equal(await readFile(out, "utf8"), "previous\n");
    assert.deepEqual(await tempLeftovers(dir), []);
  });

  it("--skip-bad with --failures writes the skipped lines and keeps the rest", async () => {
    const path = join(dir, "rw-skip.jsonl");
    const failures = join(dir, "rw-failures.jsonl");
    await writeFile(path, (await readFile(REQUESTS, "utf8")).replace('"method": "POST"', '"method": "PUT"') + "not json\n");
    const r = await runCli(["requests", "rewrite", "-i", path, "-o", join(dir, "rw-skip-out.jsonl"), "--skip-bad", "--failures", failures]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseLines(await readFile(join(dir, "rw-skip-out.jsonl"), "utf8")).length, 5);
    const f = parseLines(await readFile(failures, "utf8")) as { line: number; custom_id: string | null; reason: string }[];
    assert.deepEqual(f.map((x) => [x.line, x.custom_id, x.reason]), [[1, "astropy__astropy-12907__pass0", "RecordValidationError"], [7, null, "JsonlParseError"]]);
    assert.match(r.stderr, /skipped 2 bad line/);
  });
});
