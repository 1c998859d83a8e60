/**
 * `batchline sft eval gen|run|score` and `batchline pipeline sft-eval` through the CLI: real pytest
 * in the local runner's sandbox, recorded answers (replay) and an OpenAI-compatible chat server on
 * 127.0.0.1 (port 0) standing in for a vLLM server of the fine-tuned model.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { extractTestFile } from "../src/sft/extract-test.ts";
import { passAtK } from "../src/sft/pass-at-k.ts";
import { FIXTURES, parseLines, pythonWithPytest, readBody, runCli, tempDir } from "./helpers.ts";

const EVAL = join(FIXTURES, "sft", "eval");
const TASKS = join(EVAL, "tasks.jsonl");
type Run = { custom_id: string; task_id: string; sample: number; model: string; status: string; reason?: string; tests_collected: number; tests_passed: number; duration_ms: number; failure_log: string; test_file: string };

/** C(n, k) as a float, for checking the estimator the long way. */
function choose(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

// One temp dir and one interpreter for the CLI and pipeline tests below.
let tmp: Awaited<ReturnType<typeof tempDir>>;
const python = pythonWithPytest();
before(async () => {
  tmp = await tempDir();
});
after(() => tmp.cleanup());

describe("pass@k estimator", () => {
  it("equals 1 - C(n-c,k)/C(n,k), is 1 when too few failures for k, and is undefined for n < k", () => {
    for (const [n, c, k] of [[3, 1, 1], [3, 1, 3], [10, 3, 5], [20, 0, 1], [20, 20, 7], [40, 7, 3]] as const) {
      const want = n - c < k ? 1 : 1 - choose(n - c, k) / choose(n, k);
      assert.ok(Math.abs(passAtK(n, c, k)! - want) < 1e-12, `${n} ${c} ${k}`);
    }
    assert.ok(Math.abs(passAtK(3, 1, 1)! - 1 / 3) < 1e-15);
    assert.equal(passAtK(2, 1, 3), undefined);
    assert.throws(() => passAtK(3, 4, 1), RangeError);
  });
});

describe("extracting the test file from an answer", () => {
  it("takes the raw answer, the fenced block that defines tests, or what follows an unclosed fence", () => {
    assert.equal(extractTestFile("import pytest\n\ndef test_a():\n    assert f() == 1\n"), "import pytest\n\ndef test_a():\n    assert f() == 1\n");
    assert.equal(extractTestFile("Setup:\n```bash\npip install pytest\n```\nTests:\n```python\ndef helper():\n    pass\n```\n```python\ndef test_x():\n    assert helper() is None\n```\nDone."), "def test_x():\n    assert helper() is None\n");
    assert.equal(extractTestFile("```py\ndef test_cut():\n    assert 1 <"), "def test_cut():\n    assert 1 <\n");
    assert.equal(extractTestFile("```python\n\n```"), undefined);
    assert.equal(extractTestFile("   \n"), undefined);
  });
});

describe("sft eval (CLI)", () => {
  it("gen: --passk requests per task, custom_id <task>__pass<N>, the SFT prompt with the task's code", async () => {
    const r = await runCli(["sft", "eval", "gen", "--tasks", TASKS, "--model", "tiny-coder", "--passk", "2", "--temperature", "0.2"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = parseLines(r.stdout) as Array<{ custom_id: string; url: string; body: { model: string; temperature: number; max_tokens: number; messages: Array<{ role: string; content: string }> } }>;
    assert.deepEqual(lines.map((l) => l.custom_id), ["add__pass0", "add__pass1", "slugify__pass0", "slugify__pass1", "stack__pass0", "stack__pass1"]);
    const slug = lines[2]!.body;
    assert.equal(slug.model, "tiny-coder");
    assert.equal(slug.temperature, 0.2);
    assert.equal(slug.max_tokens, 2048);
    assert.match(slug.messages[0]!.content, /pytest only, no hypothesis, no unittest/);
    assert.match(slug.messages[0]!.content, /The code is in textutil\/slug\.py:\nimport re/);
    const refused = await runCli(["sft", "eval", "gen", "--tasks", TASKS]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /sft eval gen needs --model/);
  });

  it("run --reference: every task's reference tests pass with real pytest in the sandbox", async () => {
    const out = join(tmp.dir, "ref.jsonl");
    const r = await runCli(["sft", "eval", "run", "--reference", "--tasks", TASKS, "--python", python, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    const runs = parseLines(await readFile(out, "utf8")) as Run[];
    assert.deepEqual(runs.map((x) => [x.task_id, x.status, x.tests_collected, x.tests_passed]), [["add", "passed", 3, 3], ["slugify", "passed", 3, 3], ["stack", "passed", 2, 2]]);
    assert.match(r.stderr, /3 sample\(s\): passed 3/);
  });

  it("run: pass/fail with the reason, tests collected and passed, duration and the failure log; a test file that tests nothing does not pass", async () => {
    const out = join(tmp.dir, "base.jsonl");
    const r = await runCli(["sft", "eval", "run", join(EVAL, "answers-base.jsonl"), "--tasks", TASKS, "--python", python, "-o", out, "--workers", "3"]);
    assert.equal(r.code, 0, r.stderr);
    const runs = parseLines(await readFile(out, "utf8")) as Run[];
    assert.deepEqual(
      runs.map((x) => [x.custom_id, x.status, x.reason ?? "", x.tests_collected, x.tests_passed]),
      [
        ["add__pass0", "passed", "", 3, 3],
        ["add__pass1", "failed", "tests_failed", 1, 0],
        ["add__pass2", "failed", "tests_nothing", 2, 2],
        ["slugify__pass0", "failed", "no_tests_collected", 0, 0],
        ["slugify__pass1", "failed", "syntax_error", 0, 0],
        ["slugify__pass2", "failed", "request_failed", 0, 0],
        ["stack__pass0", "failed", "tests_failed", 1, 0],
        ["stack__pass1", "passed", "", 2, 2],
        ["stack__pass2", "failed", "tests_failed", 1, 0],
      ],
    );
    assert.ok(runs.every((x) => x.model === "tiny-coder-base"), "a failed request is labelled with the file's one model");
    const byId = new Map(runs.map((x) => [x.custom_id, x]));
    assert.match(byId.get("add__pass1")!.failure_log, /assert 4 == 5/);
    assert.match(byId.get("slugify__pass1")!.failure_log, /line 3/);
    assert.match(byId.get("add__pass2")!.failure_log, /assert True/);
    assert.equal(byId.get("add__pass0")!.failure_log, "");
    assert.match(byId.get("stack__pass1")!.test_file, /^import pytest\nfrom solution import Stack\n/, "the fenced block, without the prose after it");
    assert.ok(byId.get("add__pass0")!.duration_ms > 0);
  });

  it("run: a test file that hangs is stopped at --timeout", async () => {
    const answers = join(tmp.dir, "hang.jsonl");
    const body = { model: "m", choices: [{ index: 0, message: { role: "assistant", content: "from solution import add\n\ndef test_forever():\n    while True:\n        pass\n    assert add(1, 1) == 2\n" }, finish_reason: "stop" }] };
    await writeFile(answers, `${JSON.stringify({ id: "b1", custom_id: "add__pass0", response: { status_code: 200, request_id: "r", body }, error: null })}\n`);
    const out = join(tmp.dir, "hang-runs.jsonl");
    const r = await runCli(["sft", "eval", "run", "-i", answers, "--tasks", TASKS, "--python", python, "--timeout", "2", "-o", out, "-q"]);
    assert.equal(r.code, 0, r.stderr);
    const [run] = parseLines(await readFile(out, "utf8")) as Run[];
    assert.equal(run!.reason, "timeout");
    assert.match(run!.failure_log, /timed out after 2000 ms/);
  });

  it("run refuses an answer for an unknown task, with its line", async () => {
    const answers = join(tmp.dir, "unknown.jsonl");
    await writeFile(answers, `${JSON.stringify({ id: "b1", custom_id: "nope__pass0", response: null, error: { code: "x", message: "y" } })}\n`);
    const r = await runCli(["sft", "eval", "run", "-i", answers, "--tasks", TASKS, "-o", join(tmp.dir, "x.jsonl")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: .*unknown\.jsonl:1 \(custom_id=nope__pass0\): no task nope in the tasks file\n$/);
  });

  it("score: pass@1 and pass@3 per model, --k, --compare before/after, --json", async () => {
    const base = join(tmp.dir, "base.jsonl");
    const stageB = join(tmp.dir, "stage-b.jsonl");
    const r = await runCli(["sft", "eval", "run", "-i", join(EVAL, "answers-stage-b.jsonl"), "--tasks", TASKS, "--python", python, "-o", stageB, "-q"]);
    assert.equal(r.code, 0, r.stderr);
    const table = await runCli(["sft", "eval", "score", base, "--k", "2"]);
    assert.equal(table.code, 0, table.stderr);
    // add 1/3 passed, slugify 0/3, stack 1/3: pass@1 = (1/3 + 0 + 1/3) / 3, pass@2 = (2/3 + 0 + 2/3) / 3, pass@3 = (1 + 0 + 1) / 3
    assert.match(table.stdout, /^model +tasks +samples +passed +pass@1 +pass@2 +pass@3\ntiny-coder-base +3 +9 +2 +22\.2% +44\.4% +66\.7%\n/);
    assert.match(table.stdout, /tiny-coder-base: not passed: no_tests_collected 1, request_failed 1, syntax_error 1, tests_failed 3, tests_nothing 1/);
    const cmp = await runCli(["sft", "eval", "score", base, "--compare", stageB]);
    assert.equal(cmp.code, 0, cmp.stderr);
    assert.match(cmp.stdout, /before +tiny-coder-base +3 +9 +22\.2% +66\.7%\nafter +tiny-coder-stage-b +3 +9 +66\.7% +100\.0%\nchange +tiny-coder-base -> tiny-coder-stage-b +\+44\.4 +\+33\.3\n/);
    const json = await runCli(["sft", "eval", "score", stageB, "--json"]);
    const [s] = JSON.parse(json.stdout) as Array<{ model: string; passAt: Record<string, number> }>;
    assert.equal(s!.model, "tiny-coder-stage-b");
    assert.ok(Math.abs(s!.passAt["1"]! - 2 / 3) < 1e-12);
  });
});

describe("pipeline sft-eval", () => {
  it("replay: gen -> submit -> run -> score, score.json with pass@k", async () => {
    const workdir = join(tmp.dir, "replay");
    const r = await runCli(["pipeline", "sft-eval", "--workdir", workdir, "--tasks", TASKS, "--model", "tiny-coder-base", "--python", python, "--backend", "replay", "--from-submit", join(EVAL, "answers-base.jsonl")]);
    assert.equal(r.code, 0, r.stderr);
    const score = JSON.parse(await readFile(join(workdir, "score.json"), "utf8")) as { ks: number[]; models: Array<{ model: string; passAt: Record<string, number> }> };
    assert.deepEqual(score.ks, [1, 3]);
    assert.equal(score.models[0]!.model, "tiny-coder-base");
    assert.ok(Math.abs(score.models[0]!.passAt["3"]! - 2 / 3) < 1e-12);
    const failures = parseLines(await readFile(join(workdir, "runs.jsonl.failures.jsonl"), "utf8")) as Array<{ reason: string }>;
    assert.equal(failures.length, 7);
    assert.match(r.stderr, /score: tiny-coder-base +3 +9 +2 +22\.2% +66\.7%/);
  });

  it("openai-compatible: the fine-tuned model behind a chat server on 127.0.0.1", async () => {
    const tasks = parseLines(await readFile(TASKS, "utf8")) as Array<{ task_id: string; code: string; reference_tests: string }>;
    const prompts: string[] = [];
    const server = createServer(async (req, res) => {
      const body = JSON.parse(await readBody(req)) as { model: string; messages: Array<{ content: string }> };
      const prompt = body.messages[0]!.content;
      prompts.push(prompt);
      const task = tasks.find((t) => prompt.includes(t.code))!;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: `c${prompts.length}`, object: "chat.completion", created: 1, model: body.model, choices: [{ index: 0, message: { role: "assistant", content: `\`\`\`python\n${task.reference_tests}\`\`\`` }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 } }));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const { port } = server.address() as AddressInfo;
      const workdir = join(tmp.dir, "served");
      const r = await runCli(["pipeline", "sft-eval", "--workdir", workdir, "--tasks", TASKS, "--model", "testwriter-stage-b", "--passk", "2", "--python", python, "--backend", "openai-compatible", "--base-url", `http://127.0.0.1:${port}/v1`], { env: { OPENAI_API_KEY: "test-key" } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(prompts.length, 6);
      const score = JSON.parse(await readFile(join(workdir, "score.json"), "utf8")) as { models: Array<{ model: string; passAt: Record<string, number | null> }> };
      assert.deepEqual(score.models.map((m) => [m.model, m.passAt["1"], m.passAt["3"]]), [["testwriter-stage-b", 1, null]]);
    } finally {
      server.close();
    }
  });
});
