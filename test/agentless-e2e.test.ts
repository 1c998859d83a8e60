/**
 * The agentless bugfixer and testwriter end to end through the CLI, on fixtures/agentless
 * (a tiny real git repository as a bundle, its structures, SWE-bench rows and recorded batch
 * outputs). Every patch is checked with real `git apply` in a clone at base_commit, and every
 * reproduce_bug.py is run with python3 in a temp copy, with a timeout.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, parseLines, pythonWithPytest, readTree, runCli, tempDir } from "./helpers.ts";

const F = join(FIXTURES, "agentless");
const BASE = "1ce84714b460c1463b2b81b62129e716b923255e";
const COMMON = ["--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2"];

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

/** A fresh clone of the fixture repository at base_commit, optionally with patches applied (git apply). */
function clone(name: string, patches: string[] = []): string {
  const repo = join(dir, name);
  execFileSync("git", ["clone", "-q", join(F, "minicalc.bundle"), repo]);
  execFileSync("git", ["-C", repo, "checkout", "-q", BASE]);
  for (const p of patches) execFileSync("git", ["-C", repo, "apply", "-"], { input: p });
  return repo;
}

function applies(repo: string, patch: string): { ok: boolean; err: string } {
  const r = spawnSync("git", ["-C", repo, "apply", "--check", "-"], { input: patch, encoding: "utf8" });
  return { ok: r.status === 0, err: r.stderr };
}

const rows = async () => Object.fromEntries((parseLines(await readFile(join(F, "dataset.jsonl"), "utf8")) as { instance_id: string; patch: string; test_patch: string }[]).map((r) => [r.instance_id, r]));

interface Req {
  custom_id: string;
  url: string;
  body: { model: string; temperature: number; top_p?: number; max_tokens: number; messages: { content: string }[] };
}

describe("agentless bugfixer", () => {
  it("gen_step1: the Python scripts' command line, one request per instance and pass, tests hidden, a failure for a missing structure", async () => {
    const out = join(dir, "b1.jsonl");
    const r = await runCli(["agentless", "bugfixer", "--stage", "gen_step1", ...COMMON, "--output_file", out, "--model_name", "deepseek-ai/DeepSeek-V3.2", "--temp", "1.0", "--convert_crlf"]);
    assert.equal(r.code, 0, r.stderr);
    const reqs = parseLines(await readFile(out, "utf8")) as Req[];
    assert.deepEqual(reqs.map((q) => q.custom_id), ["acme__minicalc-101__pass0", "acme__minicalc-101__pass1", "acme__minicalc-102__pass0", "acme__minicalc-102__pass1", "acme__minicalc-103__pass0", "acme__minicalc-103__pass1"]);
    for (const q of reqs) {
      assert.equal(q.url, "/v1/chat/completions");
      assert.deepEqual([q.body.model, q.body.temperature, q.body.top_p, q.body.max_tokens], ["deepseek-ai/DeepSeek-V3.2", 1, 0.95, 32768]);
      const prompt = q.body.messages[0]!.content;
      assert.match(prompt, /^minicalc\/\n(?: {4}\S.*\n)* {4}evaluator\.py$/m, "4-space indented tree, dirs end in /");
      assert.doesNotMatch(prompt, /test_evaluator\.py/, "test files hidden for the bugfixer");
      assert.doesNotMatch(prompt, /\r\n/, "--convert_crlf");
    }
    const failures = parseLines(await readFile(`${out}.failures.jsonl`, "utf8")) as { custom_id: string; reason: string }[];
    assert.deepEqual(failures.map((f) => [f.custom_id, f.reason]), [["acme__minicalc-104__pass0", "structure_not_found"], ["acme__minicalc-104__pass1", "structure_not_found"]]);
    assert.equal((await runCli(["validate", out, "--kind", "request"])).code, 0, "a valid Batch API request file");
  });

  it("proc_step1_gen_step2: found files' content in repair requests, a failure with its reason for every other line", async () => {
    const out = join(dir, "b2.jsonl");
    const r = await runCli(["agentless", "bugfixer", "proc_step1_gen_step2", ...COMMON, "--input_file", join(F, "bugfixer-step1-output.jsonl"), "--output_file", out, "--num_workers", "32"]);
    assert.equal(r.code, 0, r.stderr);
    const reqs = parseLines(await readFile(out, "utf8")) as Req[];
    const byId = Object.fromEntries(reqs.map((q) => [q.custom_id, q.body.messages[0]!.content]));
    assert.deepEqual(Object.keys(byId).sort(), ["acme__minicalc-101__pass0", "acme__minicalc-101__pass1", "acme__minicalc-102__pass1", "acme__minicalc-103__pass0", "acme__minicalc-103__pass1"]);
    const shown = (p: string) => [...p.matchAll(/^### (\S+\.py)$/gm)].map((m) => m[1]);
    assert.deepEqual(shown(byId["acme__minicalc-101__pass0"]!), ["minicalc/evaluator.py", "minicalc/utils.py"], "reasoning_content is never read");
    assert.deepEqual(shown(byId["acme__minicalc-101__pass1"]!), ["minicalc/evaluator.py", "minicalc/setup.py"], "paths inside <think> are not picked; setup.py gets its prefix");
    assert.deepEqual(shown(byId["acme__minicalc-103__pass0"]!), ["minicalc/utils.py", "minicalc/parser.py"]);
    const repo = clone("b2-check");
    const evaluator = execFileSync("git", ["-C", repo, "show", `${BASE}:minicalc/evaluator.py`], { encoding: "utf8" });
    assert.ok(byId["acme__minicalc-101__pass0"]!.includes(evaluator), "the whole file, as at base_commit");
    const failures = parseLines(await readFile(`${out}.failures.jsonl`, "utf8")) as { custom_id: string; reason: string; stage: string }[];
    assert.deepEqual(failures.map((f) => [f.custom_id, f.reason, f.stage]).sort(), [
      ["acme__minicalc-102__pass0", "null_content", "proc_step1_gen_step2"],
      ["acme__minicalc-104__pass0", "structure_not_found", "proc_step1_gen_step2"],
      ["acme__minicalc-104__pass1", "structure_not_found", "proc_step1_gen_step2"],
    ]);
  });

  it("proc_step2: git patches that apply at base_commit, Agentless files, failures with reasons", async () => {
    const save = join(dir, "b-save");
    const r = await runCli(["agentless", "bugfixer", "--stage", "proc_step2", ...COMMON, "--input_file", join(F, "bugfixer-step2-output.jsonl"), "--save_dir", save, "--num_workers", "2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 sample\(s\), 3 failure\(s\)/);
    const files = await readTree(save);
    assert.deepEqual([...files.keys()].filter((k) => !k.startsWith("samples/")).sort(), ["failures.jsonl", "output_0_processed.jsonl", "output_1_processed.jsonl", "preds_0.jsonl", "preds_1.jsonl"]);
    assert.equal([...files.keys()].filter((k) => k.startsWith("samples/")).length, 5, "one samples/<custom_id>.jsonl per line");
    const out1 = parseLines(files.get("output_1_processed.jsonl")!) as { instance_id: string; model_patch: string; edited_files: string[]; raw_model_patch: string; new_file_content: string[] }[];
    const s101 = out1.find((o) => o.instance_id === "acme__minicalc-101")!;
    assert.deepEqual(s101.edited_files, ["minicalc/evaluator.py", "setup.py"]);
    assert.equal(s101.model_patch.match(/^diff --git /gm)!.length, 2, "each file's diff once");
    assert.ok(s101.model_patch.endsWith("\n"));
    assert.doesNotMatch(s101.model_patch, /"\+": 30/, "the edit inside <think> is ignored");
    const gold = await rows();
    for (const o of out1.filter((x) => x.model_patch)) {
      const repo = clone(`apply-${o.instance_id}`);
      const check = applies(repo, o.model_patch);
      assert.ok(check.ok, `${o.instance_id}: git apply --check: ${check.err}`);
    }
    // 103 pass 1: whitespace-insensitive match + carried file name give exactly the gold fix.
    const s103 = out1.find((o) => o.instance_id === "acme__minicalc-103")!;
    const mine = clone("mine-103", [s103.model_patch]);
    const theirs = clone("gold-103", [gold["acme__minicalc-103"]!.patch]);
    assert.equal(await readFile(join(mine, "minicalc/utils.py"), "utf8"), await readFile(join(theirs, "minicalc/utils.py"), "utf8"));
    // The bugfix makes the row's failing test pass, with real pytest.
    const fixed = clone("fixed-101", [s101.model_patch, gold["acme__minicalc-101"]!.test_patch]);
    const pytest = spawnSync(pythonWithPytest(), ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_evaluator.py"], { cwd: fixed, encoding: "utf8", timeout: 60_000 });
    assert.equal(pytest.status, 0, pytest.stdout + pytest.stderr);

    const preds0 = parseLines(files.get("preds_0.jsonl")!) as { instance_id: string; model_patch: string }[];
    assert.deepEqual(preds0.map((p) => p.instance_id), ["acme__minicalc-101", "acme__minicalc-103"], "every instance of the pass accounted for, sorted");
    assert.ok(preds0.every((p) => p.model_patch === ""), "pass 0 produced no patch");
    const failures = parseLines(files.get("failures.jsonl")!) as { custom_id: string; reason: string }[];
    assert.deepEqual(failures.map((f) => [f.custom_id, f.reason]), [
      ["acme__minicalc-101__pass0", "batch_cancelled"],
      ["acme__minicalc-102__pass1", "no_edit_applied"],
      ["acme__minicalc-103__pass0", "truncated"],
    ]);
    const sample = JSON.parse(files.get("samples/acme__minicalc-102__pass1.jsonl")!) as { reason: string; detail: string };
    assert.match(sample.detail, /minicalc\/parser\.py/, "the edit that matched nothing is named");
  });

  it("proc_step2 is deterministic, range runs add up to the full run, and 1 or 2 workers give the same bytes", async () => {
    const args = [...COMMON, "--input_file", join(F, "bugfixer-step2-output.jsonl")];
    const full = join(dir, "det-full");
    for (const [save, extra] of [
      [full, ["--num_workers", "1"]],
      [full, ["--num_workers", "2"]],
    ] as const) assert.equal((await runCli(["agentless", "bugfixer", "proc_step2", ...args, "--save_dir", save, ...extra])).code, 0);
    const once = join(dir, "det-once");
    await runCli(["agentless", "bugfixer", "proc_step2", ...args, "--save_dir", once, "--num_workers", "2"]);
    assert.deepEqual(await readTree(full), await readTree(once), "running twice on the same input = running once");
    const ranged = join(dir, "det-ranged");
    const first = await runCli(["agentless", "bugfixer", "proc_step2", ...args, "--save_dir", ranged, "--start_file", "0", "--end_file", "2"]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /\d sample\(s\), \d failure\(s\)/);
    await runCli(["agentless", "bugfixer", "proc_step2", ...args, "--save_dir", ranged, "--start_file", "acme__minicalc-102"]);
    assert.deepEqual(await readTree(ranged), await readTree(full), "two ranges one after the other = the whole input: no duplicates, nothing overwritten");
    // The fixture's passes come out of instance_id order (merged into place); reversed, pass 0 comes in
    // order (its file is renamed into place): the same files either way.
    const reversed = join(dir, "det-reversed.jsonl");
    await writeFile(reversed, (await readFile(join(F, "bugfixer-step2-output.jsonl"), "utf8")).trimEnd().split("\n").reverse().join("\n") + "\n");
    const backwards = join(dir, "det-backwards");
    const r = await runCli(["agentless", "bugfixer", "proc_step2", ...COMMON, "--input_file", reversed, "--save_dir", backwards, "--num_workers", "2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(backwards), await readTree(full), "the input's order does not change the files");
  });

  it("a bad input line fails with file:line (custom_id); --skip-bad reports it and goes on", async () => {
    const bad = join(dir, "bad-step2.jsonl");
    const text = await readFile(join(F, "bugfixer-step2-output.jsonl"), "utf8");
    await (await import("node:fs/promises")).writeFile(bad, text + '{"custom_id":"acme__minicalc-101__pass9","response":{"status_code":200}}\n');
    const r = await runCli(["agentless", "bugfixer", "proc_step2", ...COMMON, "--input_file", bad, "--save_dir", join(dir, "bad-save")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: .*bad-step2\.jsonl:6 \(custom_id=acme__minicalc-101__pass9\): not a valid agentless\/bugfixer\/proc-step2 input/m);
    const s = await runCli(["agentless", "bugfixer", "proc_step2", ...COMMON, "--input_file", bad, "--save_dir", join(dir, "skip-save"), "--skip-bad"]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /skipped 1 bad line/);
  });

  it("--num_workers beyond the cores runs one worker thread per core, says so, and writes the same files", async () => {
    const args = [...COMMON, "--input_file", join(F, "bugfixer-step2-output.jsonl")];
    const many = await runCli(["agentless", "bugfixer", "proc_step2", ...args, "--save_dir", join(dir, "w-many"), "--num_workers", "64"]);
    assert.equal(many.code, 0, many.stderr);
    const cores = (await import("node:os")).availableParallelism();
    assert.match(many.stderr, new RegExp(`proc_step2: building patches on ${Math.min(64, cores)} worker thread\\(s\\), one per core \\(--num_workers 64\\)`));
    const one = await runCli(["agentless", "bugfixer", "proc_step2", ...args, "--save_dir", join(dir, "w-one"), "--num_workers", "1"]);
    assert.doesNotMatch(one.stderr, /worker thread/);
    assert.deepEqual(await readTree(join(dir, "w-many")), await readTree(join(dir, "w-one")));
  });

  it("a custom_id that would name a file outside --save_dir (../) is refused with file:line, and nothing is written outside", async () => {
    const evil = join(dir, "evil-step2.jsonl");
    const first = (await readFile(join(F, "bugfixer-step2-output.jsonl"), "utf8")).split("\n")[0]!;
    const line = JSON.parse(first) as { custom_id: string };
    await writeFile(evil, `${first}\n${JSON.stringify({ ...line, custom_id: "../../escaped__pass0" })}\n`);
    const outer = join(dir, "evil-outer");
    const r = await runCli(["agentless", "bugfixer", "proc_step2", ...COMMON, "--input_file", evil, "--save_dir", join(outer, "save", "inner")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: .*evil-step2\.jsonl:2 \(custom_id=\.\.\/\.\.\/escaped__pass0\): id "\.\.\/\.\.\/escaped__pass0" cannot name a file \(it contains "\/"\)/m);
    assert.deepEqual((await readdir(outer, { recursive: true })).filter((f) => f.includes("escaped")), [], "no file named by the id anywhere");
  });
});

describe("agentless testwriter", () => {
  it("gen_step1 shows tests; with passk 2, pass 0 samples at temperature 0", async () => {
    const out = join(dir, "t1.jsonl");
    const r = await runCli(["agentless", "testwriter", "gen_step1", ...COMMON, "--output_file", out, "--temp", "0.8"]);
    assert.equal(r.code, 0, r.stderr);
    const reqs = parseLines(await readFile(out, "utf8")) as Req[];
    assert.match(reqs[0]!.body.messages[0]!.content, /test_evaluator\.py/);
    assert.deepEqual(reqs.slice(0, 2).map((q) => [q.custom_id, q.body.temperature, q.body.top_p]), [["acme__minicalc-101__pass0", 0, undefined], ["acme__minicalc-101__pass1", 0.8, undefined]]);
  });

  it("proc_step1_gen_step2 asks for edits to the first test file found", async () => {
    const out = join(dir, "t2.jsonl");
    const r = await runCli(["agentless", "testwriter", "proc_step1_gen_step2", ...COMMON, "--input_file", join(F, "testwriter-step1-output.jsonl"), "--output_file", out]);
    assert.equal(r.code, 0, r.stderr);
    const reqs = parseLines(await readFile(out, "utf8")) as Req[];
    assert.deepEqual(reqs.map((q) => q.custom_id), ["acme__minicalc-101__pass0", "acme__minicalc-103__pass1"]);
    for (const q of reqs) assert.match(q.body.messages[0]!.content, /edits to the test file tests\/test_evaluator\.py/);
    const reasons = (parseLines(await readFile(`${out}.failures.jsonl`, "utf8")) as { reason: string }[]).map((f) => f.reason).sort();
    assert.deepEqual(reasons, ["batch_expired", "http_500", "no_file_found", "structure_not_found", "structure_not_found", "truncated"]);
  });

  it("proc_step2 writes reproduce_bug.py diffs that reproduce the issue at base_commit and resolve with the gold patch", async () => {
    const save = join(dir, "t-save");
    const r = await runCli(["agentless", "testwriter", "--stage", "proc_step2", ...COMMON, "--input_file", join(F, "testwriter-step2-output.jsonl"), "--step1_file", join(F, "testwriter-step1-output.jsonl"), "--save_dir", save]);
    assert.equal(r.code, 0, r.stderr);
    const gold = await rows();
    const samples = [
      ...(parseLines(await readFile(join(save, "output_0_processed_reproduction_test.jsonl"), "utf8")) as { instance_id: string; test_patch: string; raw_test_patch: string; test_func_name: string | null }[]),
      ...(parseLines(await readFile(join(save, "output_1_processed_reproduction_test.jsonl"), "utf8")) as { instance_id: string; test_patch: string; raw_test_patch: string; test_func_name: string | null }[]),
    ].filter((s) => s.test_patch);
    assert.deepEqual(samples.map((s) => [s.instance_id, s.test_func_name]).sort(), [["acme__minicalc-101", "test_divide_by_zero_is_a_calc_error"], ["acme__minicalc-103", "test_tab_between_tokens"]]);
    for (const s of samples) {
      assert.match(s.test_patch, /^diff --git a\/reproduce_bug\.py b\/reproduce_bug\.py\nnew file mode 100644\n--- \/dev\/null\n\+\+\+ b\/reproduce_bug\.py\n/);
      assert.doesNotMatch(s.test_patch, /```/, "never a markdown block");
      const run = (repo: string) => spawnSync(pythonWithPytest(), ["reproduce_bug.py"], { cwd: repo, encoding: "utf8", timeout: 60_000 });
      const base = clone(`repro-${s.instance_id}`, [s.test_patch]);
      assert.equal(run(base).stdout.trim(), "Issue reproduced", `${s.instance_id} at base_commit`);
      const fixed = clone(`repro-fixed-${s.instance_id}`, [s.test_patch, gold[s.instance_id]!.patch]);
      assert.equal(run(fixed).stdout.trim(), "Issue resolved", `${s.instance_id} with the gold patch`);
    }
    const repro103 = samples.find((s) => s.instance_id === "acme__minicalc-103")!;
    assert.match(repro103.test_patch, /^\+from tests\.helpers import calc$/m, "relative import made absolute");
  });
});
