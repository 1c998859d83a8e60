/**
 * `batchline sft traces` through the CLI: failure->fix pairs from real `sft eval run` output (a
 * base run and a later run) and from a swe-testgen preds.json, as stage C SFT rows TRL reads.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, parseLines, pythonWithPytest, runCli, tempDir } from "./helpers.ts";

const EVAL = join(FIXTURES, "sft", "eval");
const TASKS = join(EVAL, "tasks.jsonl");
const PREDS = join(FIXTURES, "sft", "traces", "preds.json");
type Pair = { source: string; id: string; code: string; code_file: string; failed_test: string; failure_log: string; fixed_test: string };

describe("sft traces (CLI)", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const python = pythonWithPytest();
  let base: string;
  let later: string;
  before(async () => {
    tmp = await tempDir();
    base = join(tmp.dir, "base.jsonl");
    later = join(tmp.dir, "later.jsonl");
    for (const [answers, out] of [["answers-base.jsonl", base], ["answers-stage-b.jsonl", later]] as const) {
      const r = await runCli(["sft", "eval", "run", "-i", join(EVAL, answers), "--tasks", TASKS, "--python", python, "-o", out, "-q"]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => tmp.cleanup());

  it("pairs each failed test file with the next one of its task that passed, with pytest's log", async () => {
    const r = await runCli(["sft", "traces", "--eval-runs", `${base},${later}`, "--tasks", TASKS, "--format", "pairs"]);
    assert.equal(r.code, 0, r.stderr);
    const pairs = parseLines(r.stdout) as Pair[];
    assert.deepEqual(pairs.map((p) => p.id), ["stack__pass0->stack__pass1", "add__pass1->add__pass0", "add__pass2->add__pass0", "slugify__pass0->slugify__pass0", "slugify__pass1->slugify__pass0"]);
    assert.match(r.stderr, /5 pair\(s\) \(sft eval 5, swe-testgen 0\); dropped: unchanged 0, duplicate 1/);
    const runs = [...(parseLines(await readFile(base, "utf8")) as Array<{ custom_id: string; test_file: string; failure_log: string }>)];
    const add1 = runs.find((x) => x.custom_id === "add__pass1")!;
    const p = pairs[1]!;
    assert.equal(p.failed_test, add1.test_file);
    assert.equal(p.failure_log, add1.failure_log);
    assert.match(p.failure_log, /assert 4 == 5/);
    assert.match(p.fixed_test, /@pytest\.mark\.parametrize/);
    assert.equal(p.code, "def add(a, b):\n    return a + b\n");
    assert.ok(pairs.every((x) => x.failed_test !== x.fixed_test));
  });

  it("swe-testgen: a failed gold evaluation paired with the next passing attempt of the instance", async () => {
    const r = await runCli(["sft", "traces", "--swe-testgen", PREDS, "--format", "pairs"]);
    assert.equal(r.code, 0, r.stderr);
    const pairs = parseLines(r.stdout) as Pair[];
    // calc-7 failed then passed; calc-8 passed at once; calc-9 never passed
    assert.deepEqual(pairs.map((p) => p.id), ["acme__calc-7#1->2"]);
    assert.match(pairs[0]!.failed_test, /assert div\(1, 0\) is None/);
    assert.match(pairs[0]!.fixed_test, /pytest\.raises\(ZeroDivisionError\)/);
    assert.match(pairs[0]!.failure_log, /^fails_with_gold: /);
    assert.match(pairs[0]!.code, /^diff --git a\/calc\/ops\.py/);
  });

  it("writes SFT rows (prompt-completion, messages) that TRL's reader takes, from both sources at once", async () => {
    for (const format of ["prompt-completion", "messages"]) {
      const out = join(tmp.dir, `stage_c_${format}.jsonl`);
      const r = await runCli(["sft", "traces", "--eval-runs", base, "--eval-runs", later, "--tasks", TASKS, "--swe-testgen", PREDS, "--format", format, "-o", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /6 pair\(s\) \(sft eval 5, swe-testgen 1\)/);
      const read = spawnSync(python, [join(import.meta.dirname, "trl-dataset-reader.py"), out], { encoding: "utf8" });
      assert.equal(read.stdout.trim(), `${format} 6`, read.stdout + read.stderr);
      const first = parseLines(await readFile(out, "utf8"))[0] as { prompt?: string; messages?: Array<{ content: string }> };
      const prompt = first.prompt ?? first.messages![0]!.content;
      assert.match(prompt, /pytest only, no hypothesis, no unittest/);
      assert.match(prompt, /The test file:\nfrom solution import Stack/);
      assert.match(prompt, /What pytest reported:\n/);
    }
  });

  it("refuses missing sources, --eval-runs without --tasks, and runs of unknown tasks", async () => {
    for (const [args, want] of [
      [[], /needs --eval-runs <runs\.jsonl> \(with --tasks\) or --swe-testgen/],
      [["--eval-runs", "x.jsonl"], /--eval-runs needs --tasks/],
      [["--swe-testgen", PREDS, "--format", "chatml"], /--format chatml: expected one of prompt-completion, messages, pairs/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(["sft", "traces", ...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, want);
    }
    const otherTasks = join(FIXTURES, "sft", "testgeneval.jsonl");
    const r = await runCli(["sft", "traces", "--eval-runs", base, "--tasks", otherTasks]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /testgeneval\.jsonl/);
  });
});
