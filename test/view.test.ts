/**
 * `batchline view` without a browser: the byte-offset line index (cut into chunks of every size),
 * the JSON API over a save dir, the static report's escaping, and the CLI's refusals. The page
 * itself is tested in headless Chromium (view-browser.test.ts).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LineIndex } from "../src/view/line-index.ts";
import { openViewTarget, closeViewSource } from "../src/view/open-target.ts";
import { startViewServer } from "../src/view/server.ts";
import { scriptSafeJson } from "../src/view/static-report.ts";
import { CLI, FIXTURES, runCli, tempDir } from "./helpers.ts";
import { ANSWERS, DATASET, PYTHON, fixtureReposDir } from "./swe-testgen-fixtures.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

describe("LineIndex", () => {
  const text = '{"a":1}\n\n  \n{"b":"é→x"}\r\n{"c":"needle here"}\n{"d":"no"}\n{"e":"needle again, needle"}';
  for (const chunkBytes of [1, 2, 3, 7, 64, 1 << 22]) {
    it(`indexes lines, skips blank ones, keeps physical line numbers, reads and searches (chunks of ${chunkBytes} bytes)`, async () => {
      const file = join(dir, `lines-${chunkBytes}.jsonl`);
      await writeFile(file, text);
      const index = await LineIndex.open(file, { chunkBytes });
      try {
        assert.equal(index.count, 5);
        assert.deepEqual(await index.readRange(0, 10), [
          { index: 0, line: 1, text: '{"a":1}', utf8: true },
          { index: 1, line: 4, text: '{"b":"é→x"}', utf8: true },
          { index: 2, line: 5, text: '{"c":"needle here"}', utf8: true },
          { index: 3, line: 6, text: '{"d":"no"}', utf8: true },
          { index: 4, line: 7, text: '{"e":"needle again, needle"}', utf8: true },
        ]);
        assert.deepEqual(await index.search("needle"), { indices: [2, 4], next: null });
        assert.deepEqual(await index.search("needle", { limit: 1 }), { indices: [2], next: 3 });
        assert.deepEqual(await index.search("needle", { from: 3 }), { indices: [4], next: null });
        assert.deepEqual(await index.search("é→"), { indices: [1], next: null });
        assert.deepEqual(await index.search("absent"), { indices: [], next: null });
        await assert.rejects(index.read(5), RangeError);
      } finally {
        await index.close();
      }
    });
  }

  it("an empty file has no lines", async () => {
    const file = join(dir, "empty.jsonl");
    await writeFile(file, "");
    const index = await LineIndex.open(file);
    assert.equal(index.count, 0);
    assert.deepEqual(await index.search("x"), { indices: [], next: null });
    await index.close();
  });
});

describe("view API over a save dir", () => {
  it("counts passes with and without a patch per instance, votes, and refuses unknown instances; every response has the CSP", async () => {
    // a save dir on its own (what agentless proc_step2 --save_dir writes), made by the real stage
    const saveDir = join(dir, "save");
    const F = join(FIXTURES, "agentless");
    const r = await runCli(["agentless", "bugfixer", "--stage", "proc_step2", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--input_file", join(F, "bugfixer-step2-output.jsonl"), "--save_dir", saveDir, "--passk", "2"]);
    assert.equal(r.code, 0, r.stderr);
    const source = await openViewTarget(saveDir);
    const server = await startViewServer(source);
    try {
      const get = async (path: string) => {
        const res = await fetch(new URL(path, server.url));
        assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
        return { status: res.status, body: (res.headers.get("content-type")?.startsWith("application/json") ? await res.json() : await res.text()) as any };
      };
      assert.equal((await get("/api/mode")).body.mode, "run");
      const rows = (await get("/api/instances")).body as { instance_id: string; passes: number; with_patch: number; vote: string | null; failures: Record<string, number> }[];
      assert.deepEqual(
        rows.map((x) => [x.instance_id, x.passes, x.with_patch, x.vote, x.failures]),
        [
          ["acme__minicalc-101", 2, 1, "unanimous", { batch_cancelled: 1 }],
          ["acme__minicalc-102", 1, 0, "no_patch", { no_edit_applied: 1 }],
          ["acme__minicalc-103", 2, 1, "unanimous", { truncated: 1 }],
        ],
      );
      const overview = (await get("/api/overview")).body;
      assert.equal(overview.kind, "save_dir");
      assert.equal(overview.pipeline, null);
      assert.deepEqual([overview.totals.instances, overview.totals.with_patch, overview.totals.without_patch], [3, 2, 3]);
      const detail = (await get("/api/instance?id=acme__minicalc-103")).body;
      const pass1 = detail.passes.find((p: { custom_id: string }) => p.custom_id === "acme__minicalc-103__pass1");
      assert.match(pass1.patch, /^diff --git a\//);
      assert.equal(pass1.patch_field, "model_patch");
      assert.equal((await get("/api/instance?id=nope")).status, 404);
      assert.equal((await get("/static/diff2html.min.js")).status, 200);
      assert.equal((await get("/static/../../package.json")).status, 404);
    } finally {
      await server.close();
      await closeViewSource(source);
    }
  });
});

describe("view API over a testwriter save dir", () => {
  it("shows the reproduction test (test_patch) of each pass as its patch", async () => {
    const saveDir = join(dir, "testwriter");
    const F = join(FIXTURES, "agentless");
    const r = await runCli(["agentless", "testwriter", "--stage", "proc_step2", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--input_file", join(F, "testwriter-step2-output.jsonl"), "--save_dir", saveDir, "--step1_file", join(F, "testwriter-step1-output.jsonl")]);
    assert.equal(r.code, 0, r.stderr);
    const source = await openViewTarget(saveDir);
    try {
      assert.equal(source.mode, "run");
      if (source.mode !== "run") return;
      assert.deepEqual(source.run.rows().map((x) => [x.instance_id, x.passes, x.with_patch]), [["acme__minicalc-101", 1, 1], ["acme__minicalc-103", 1, 1]]);
      const pass = (await source.run.instance("acme__minicalc-101"))!.passes[0]!;
      assert.equal(pass.custom_id, "acme__minicalc-101__pass0");
      assert.equal(pass.patch_field, "test_patch");
      assert.match(pass.patch ?? "", /^diff --git a\/reproduce_bug\.py b\/reproduce_bug\.py\nnew file mode/);
    } finally {
      await closeViewSource(source);
    }
  });
});

describe("view API over a swe-testgen run", () => {
  it("puts every phase's request under its instance, with the generated test patch, the problem statement and the gold evaluation", async () => {
    const repos = fixtureReposDir();
    try {
      const r = await runCli(["pipeline", "swe-testgen", "--output", join(dir, "swe"), "--model", "openai/gpt-5", "--run-id", "v", "--backend", "replay", "--replay-answers", ANSWERS, "--dataset", DATASET, "--repos-dir", repos.dir, "--python", PYTHON, "--repo-select-num", "0", "--skip-coverage-fix"]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      repos.cleanup();
    }
    const source = await openViewTarget(join(dir, "swe", "v"));
    try {
      assert.equal(source.mode, "run");
      if (source.mode !== "run") return;
      const rows = source.run.rows();
      assert.deepEqual(rows.map((x) => [x.instance_id, x.generated, x.run]), [
        ["acme__calc-1", true, "success"],
        ["acme__shapes-3", true, "success"],
        ["acme__textutil-2", true, "success"],
      ]);
      assert.deepEqual(source.run.overview().runs, { success: 3 });
      const detail = (await source.run.instance("acme__calc-1"))!;
      assert.match(detail.problem_statement ?? "", /^clamp\(\) ignores the upper bound/);
      assert.match(detail.test_patch ?? "", /^diff --git a\/tests\/test_ops\.py/);
      assert.deepEqual(detail.run?.fields.FAIL_TO_PASS, ["tests/test_ops.py::test_clamp_high"]);
      const testGen = detail.passes.find((p) => p.custom_id === "acme__calc-1__test_gen_1")!;
      assert.deepEqual(testGen.records.map((x) => [x.file, x.role]), [["answers/test_gen_1.jsonl", "output"], ["requests/test_gen_1.jsonl", "request"]]);
      assert.ok(testGen.answer && testGen.answer.answer.length > 0);
    } finally {
      await closeViewSource(source);
    }
  });
});

describe("static report", () => {
  it("embedded JSON cannot end its script element", () => {
    const json = scriptSafeJson({ s: "</script><script>alert(1)</script>\u2028" });
    assert.doesNotMatch(json, /<|\u2028/);
    assert.deepEqual(JSON.parse(json), { s: "</script><script>alert(1)</script>\u2028" });
  });
});

describe("batchline view (CLI refusals)", () => {
  it("refuses what it cannot show, in one line", async () => {
    const notRun = join(dir, "not-a-run");
    await mkdir(notRun, { recursive: true });
    await writeFile(join(notRun, "notes.txt"), "hi");
    const jsonl = join(dir, "one.jsonl");
    await writeFile(jsonl, '{"a":1}\n');
    for (const [args, message] of [
      [["view", join(dir, "missing")], /^batchline: view: .*missing does not exist\n$/],
      [["view", notRun], /^batchline: view: .*not-a-run is neither a pipeline workdir .* nor a save dir/],
      [["view", jsonl, "--static"], /^batchline: view --static needs -o <report.html>\n$/],
      [["view", jsonl, "--static", "-o", join(dir, "r.html")], /^batchline: view --static takes a run directory/],
      [["view", jsonl, "-o", join(dir, "r.html")], /^batchline: view -o goes with --static\n$/],
      [["view", jsonl, "--port", "http"], /^batchline: --port http: expected a port number 0\.\.65535\n$/],
      [["view", jsonl, "--dataset", join(FIXTURES, "agentless", "dataset.jsonl")], /^batchline: view: --dataset goes with a run directory/],
      [["view", jsonl, "--bogus"], /bogus/],
      [["view", jsonl, notRun], /^batchline: view takes one path, got 2: .*one\.jsonl .*not-a-run\n$/],
    ] as const) {
      const r = await runCli([...args]);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });

  it("marks a JSONL line whose bytes are not UTF-8, and keeps a huge string whole", async () => {
    const file = join(dir, "bad-bytes.jsonl");
    const big = "y".repeat(300_000);
    await writeFile(file, Buffer.concat([Buffer.from('{"custom_id":"ok","s":"é"}\n{"custom_id":"bad","s":"'), Buffer.from([0xff, 0xfe]), Buffer.from(`"}\n{"custom_id":"big","s":"${big}"}\n`)]));
    const child = spawn(process.execPath, [CLI, "view", file], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const [first] = (await once(child.stdout, "data")) as [Buffer];
      const records = (await (await fetch(new URL("api/lines?from=0&n=50", first.toString().trim()))).json()) as { line: number; valid: boolean; utf8: boolean; value: { s: string } }[];
      assert.deepEqual(records.map((r) => [r.line, r.valid, r.utf8]), [[1, true, true], [2, true, false], [3, true, true]]);
      assert.equal(records[1]!.value.s, "\ufffd\ufffd");
      assert.equal(records[2]!.value.s, big);
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });

  it("--open hands the printed URL to the desktop's opener (xdg-open on Linux)", { skip: process.platform !== "linux" && "xdg-open is the Linux opener" }, async () => {
    const bin = join(dir, "bin");
    await mkdir(bin, { recursive: true });
    const opened = join(dir, "opened.txt");
    await writeFile(join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`, { mode: 0o755 });
    const jsonl = join(dir, "open.jsonl");
    await writeFile(jsonl, '{"a":1}\n');
    const child = spawn(process.execPath, [CLI, "view", jsonl, "--open"], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, stdio: ["ignore", "pipe", "pipe"] });
    try {
      const [first] = (await once(child.stdout, "data")) as [Buffer];
      const url = first.toString().trim();
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      let got = "";
      for (let i = 0; i < 100 && got === ""; i++) {
        got = await readFile(opened, "utf8").catch(() => "");
        if (got === "") await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(got, url);
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });

  it("--static copies nothing into the run directory", async () => {
    const saveDir = join(dir, "save-copy");
    await cp(join(dir, "save"), saveDir, { recursive: true });
    const before = JSON.stringify(await readFile(join(saveDir, "failures.jsonl"), "utf8"));
    const r = await runCli(["view", saveDir, "--static", "-o", join(dir, "save.html")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.stringify(await readFile(join(saveDir, "failures.jsonl"), "utf8")), before);
    const html = await readFile(join(dir, "save.html"), "utf8");
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    assert.equal((html.match(/<script>/g) ?? []).length, 2, "diff2html and the page's script, inlined");
  });
});
