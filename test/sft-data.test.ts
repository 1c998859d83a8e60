/** `batchline sft kodcode|testgeneval`: filters and their counts, subset, tokenizer (file and hub), TRL's reader. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadTokenizer } from "../src/sft/tokenizer.ts";
import { codeKey } from "../src/sft/sft-data.ts";
import { fakeSha, startHub } from "./hub-double.ts";
import { FIXTURES, parseLines, pythonWithPytest, runCli, tempDir } from "./helpers.ts";
import { makeParquet, stringColumns } from "./parquet-writer.ts";

const SFT = join(FIXTURES, "sft");
const KODCODE = join(SFT, "kodcode.jsonl");
const TOKENIZER = join(SFT, "tokenizer");
const READER = join(import.meta.dirname, "trl-dataset-reader.py");

type Row = Record<string, unknown>;
const fixtureRows = async (name: string) => parseLines(await readFile(join(SFT, name), "utf8")) as Row[];

/** Runs the TRL-style reader on a file: `<type> <rows>` or the problem. */
function trlRead(path: string): { ok: boolean; out: string } {
  const r = spawnSync(pythonWithPytest(), [READER, path], { encoding: "utf8" });
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() };
}

describe("sft kodcode / testgeneval (CLI)", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  it("filters, dedupes and counts what each filter removed; the output is TRL prompt-completion", async () => {
    const out = join(tmp.dir, "a.jsonl");
    const r = await runCli(["sft", "kodcode", "--dataset", KODCODE, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 8, removed: incorrect 1, empty 1, duplicate 1, too_long 0, not_selected 0, written 5/);
    const rows = parseLines(await readFile(out, "utf8")) as Array<{ prompt: string; completion: string }>;
    const source = await fixtureRows("kodcode.jsonl");
    // kept in dataset order: Leetcode_1, 2, 5, 6, 8 (3 repeats 1's code, 4 is "False", 7 has no test_code)
    assert.deepEqual(rows.map((x) => x.completion), [0, 1, 4, 5, 7].map((i) => source[i]!["test_code"]));
    for (const [i, row] of rows.entries()) {
      assert.deepEqual(Object.keys(row), ["prompt", "completion"]);
      assert.ok(row.prompt.includes(source[[0, 1, 4, 5, 7][i]!]!["solution"] as string), "the code under test is in the prompt");
      assert.match(row.prompt, /pytest only, no hypothesis, no unittest/);
      assert.match(row.prompt, /solution\.py/);
    }
    assert.deepEqual(trlRead(out), { ok: true, out: "prompt-completion 5" });
  });

  it("--format messages writes user/assistant conversations TRL reads as conversational", async () => {
    const out = join(tmp.dir, "m.jsonl");
    const r = await runCli(["sft", "kodcode", "--dataset", KODCODE, "--format", "messages", "-o", out, "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const rows = parseLines(await readFile(out, "utf8")) as Array<{ messages: Array<{ role: string; content: string }> }>;
    assert.equal(rows.length, 5);
    assert.deepEqual(rows[0]!.messages.map((m) => m.role), ["user", "assistant"]);
    assert.deepEqual(trlRead(out), { ok: true, out: "messages 5" });
  });

  it("the TRL-style reader refuses what TRL would not train on", async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"prompt":"p","completion":""}\n', /empty prompt or completion/],
      ['{"prompt":"p","completion":"c"}\n{"prompt":"p","completion":1}\n', /differ from the first row/],
      ['{"text_in":"p"}\n', /neither messages nor prompt/],
      ['{"messages":[{"role":"user","content":"p"}]}\n', /last message must be the assistant/],
    ];
    for (const [text, want] of cases) {
      const path = join(tmp.dir, "bad-trl.jsonl");
      await writeFile(path, text);
      const got = trlRead(path);
      assert.equal(got.ok, false, text);
      assert.match(got.out, want);
    }
  });

  it("--max-length drops rows over the limit counted with the tokenizer.json (prompt + completion + EOS)", async () => {
    const tokenizer = await loadTokenizer(TOKENIZER);
    // <s> def [UNK]=f ( [UNK]=x [UNK]=): return [UNK]=x, then </s> as TRL appends EOS to a completion without it
    assert.equal(tokenizer.count("def f(x):", " return x"), 9);
    assert.equal(tokenizer.count("def f(x):", " return x</s>"), 9, "no second EOS when the completion has one");
    const source = await fixtureRows("kodcode.jsonl");
    const long = source[5]!;
    const out = join(tmp.dir, "len.jsonl");
    const r = await runCli(["sft", "kodcode", "--dataset", KODCODE, "--tokenizer", join(TOKENIZER, "tokenizer.json"), "--max-length", "300", "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /too_long 1, not_selected 0, written 4/);
    const rows = parseLines(await readFile(out, "utf8")) as Array<{ completion: string }>;
    assert.ok(!rows.some((x) => x.completion === long["test_code"]), "the over-long row is gone");
    for (const row of rows as Array<{ prompt: string; completion: string }>) assert.ok(tokenizer.count(row.prompt, row.completion) <= 300);
  });

  it("--limit/--seed: a seeded subset, the same for the same seed and whatever the row order", async () => {
    const run = async (dataset: string, seed: string, name: string) => {
      const out = join(tmp.dir, name);
      const r = await runCli(["sft", "kodcode", "--dataset", dataset, "--limit", "2", "--seed", seed, "-o", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /not_selected 3, written 2/);
      return (parseLines(await readFile(out, "utf8")) as Array<{ completion: string }>).map((x) => x.completion);
    };
    const a = await run(KODCODE, "7", "s1.jsonl");
    const b = await run(KODCODE, "7", "s2.jsonl");
    assert.deepEqual(a, b);
    const reversed = join(tmp.dir, "reversed.jsonl");
    await writeFile(reversed, (await readFile(KODCODE, "utf8")).trimEnd().split("\n").reverse().join("\n") + "\n");
    assert.deepEqual(new Set(await run(reversed, "7", "s3.jsonl")), new Set(a), "the subset does not depend on row order");
    const seeds = new Set<string>();
    for (const seed of ["0", "1", "2", "3", "4", "5"]) seeds.add(JSON.stringify(await run(KODCODE, seed, `seed${seed}.jsonl`)));
    assert.ok(seeds.size > 1, "other seeds pick other rows");
  });

  it("a dataset lacking a required column is refused, naming what is missing and what is there; the output is untouched", async () => {
    const out = join(tmp.dir, "keep.jsonl");
    await writeFile(out, "old\n");
    const r = await runCli(["sft", "kodcode", "--dataset", join(SFT, "kodcode-missing-column.jsonl"), "-o", out]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^batchline: .*kodcode-missing-column\.jsonl:2 \(instance_id=Leetcode_1\): not a kodcode row: missing column test_code \(columns present: .*solution, .*, test\)/);
    assert.equal(await readFile(out, "utf8"), "old\n");
    assert.deepEqual((await readdir(tmp.dir)).filter((n) => n.includes(".tmp-")), []);
  });

  it("an r1_correctness that is neither \"True\" nor \"False\" is refused with its row", async () => {
    const rows = await fixtureRows("kodcode.jsonl");
    const path = join(tmp.dir, "bool.jsonl");
    await writeFile(path, [rows[0], { ...rows[1], r1_correctness: true }].map((x) => JSON.stringify(x)).join("\n") + "\n");
    const r = await runCli(["sft", "kodcode", "--dataset", path]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bool\.jsonl:2 \(instance_id=Leetcode_2\): r1_correctness is true; expected the string "True" or "False"/);
  });

  it("testgeneval: code_src -> test_src, the code file named in the prompt; existing tests only when asked", async () => {
    const r = await runCli(["sft", "testgeneval", "--dataset", join(SFT, "testgeneval.jsonl")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 3, removed: incorrect 0, empty 0, duplicate 1, too_long 0, not_selected 0, written 2/);
    const rows = parseLines(r.stdout) as Array<{ prompt: string; completion: string }>;
    assert.match(rows[0]!.prompt, /The code is in calc\/util\.py:\ndef clamp/);
    assert.match(rows[1]!.completion, /def test_shout/);
    assert.ok(!rows[0]!.prompt.includes("already exist"));

    const withTests = await runCli(["sft", "testgeneval", "--dataset", join(SFT, "testgeneval.jsonl"), "--existing-tests-column", "test_file", "-q"]);
    assert.equal(withTests.code, 0, withTests.stderr);
    assert.match((parseLines(withTests.stdout)[0] as { prompt: string }).prompt, /already exist for it .*\ntests\/test_util\.py\n$/);
  });

  it("--prompt-template replaces the text; an unknown placeholder is refused", async () => {
    const good = join(tmp.dir, "t.txt");
    await writeFile(good, "Tests for {code_file}, pytest only:\n{code}\n");
    const r = await runCli(["sft", "kodcode", "--dataset", KODCODE, "--prompt-template", good, "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((parseLines(r.stdout)[0] as { prompt: string }).prompt, "Tests for solution.py, pytest only:\ndef add(a, b):\n    return a + b\n");
    const bad = join(tmp.dir, "bad.txt");
    await writeFile(bad, "{code}\n{solution}\n");
    const refused = await runCli(["sft", "kodcode", "--dataset", KODCODE, "--prompt-template", bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad\.txt: unknown placeholder \{solution\}/);
  });

  it("refuses --max-length without --tokenizer, bad numbers and unknown options", async () => {
    for (const [args, want] of [
      [["--max-length", "10"], /--max-length needs --tokenizer/],
      [["--limit", "0"], /--limit 0: expected a whole number >= 1/],
      [["--format", "chatml"], /--format chatml: expected one of prompt-completion, messages/],
      [["--max-lenght", "10"], /unknown option --max-lenght \(did you mean --max-length\?\)/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(["sft", "kodcode", "--dataset", KODCODE, ...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, want);
    }
  });

  it("normalized code: line endings, trailing spaces and blank lines do not make a new row", () => {
    assert.equal(codeKey("def f():\r\n    return 1   \r\n\r\n"), codeKey("def f():\n    return 1\n"));
    assert.notEqual(codeKey("def f():\n    return 1\n"), codeKey("def f():\n    return 2\n"));
  });
});

describe("sft kodcode from the hub (a hub double on 127.0.0.1)", () => {
  const tokenizerJson = async () => readFile(join(TOKENIZER, "tokenizer.json"));
  let hub: Awaited<ReturnType<typeof startHub>>;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    const rows = (await fixtureRows("kodcode.jsonl")).map((r) => ({ ...r, gpt_pass_sequence: undefined, r1_pass_sequence: undefined, metadata: undefined })) as Row[];
    const columns = ["question_id", "question", "solution", "test_code", "r1_correctness"];
    const table = rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null])));
    hub = await startHub(
      {
        "KodCode/KodCode-V1-SFT-R1": {
          branches: [
            {
              name: "main",
              sha: fakeSha("kodcode-main"),
              files: {
                "data/train-00000-of-00001.parquet": makeParquet(stringColumns(table as Array<Record<string, string | null>>), table),
                "data/use_with_caution-00000-of-00001.parquet": makeParquet(stringColumns(table.slice(0, 1) as Array<Record<string, string | null>>), table.slice(0, 1)),
              },
            },
          ],
        },
      },
      {
        "acme/tiny-coder": {
          branches: [{ name: "main", sha: fakeSha("tiny-coder"), files: { "tokenizer.json": await tokenizerJson(), "tokenizer_config.json": await readFile(join(TOKENIZER, "tokenizer_config.json")) } }],
        },
      },
    );
    tmp = await tempDir();
  });
  after(async () => {
    await hub.close();
    await tmp.cleanup();
  });

  it("loads the split and the tokenizer by hub id through the cache; a second run makes no request", async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(tmp.dir, "cache"), HF_TOKEN: "" };
    const args = ["sft", "kodcode", "--dataset", "KodCode/KodCode-V1-SFT-R1", "--tokenizer", "acme/tiny-coder", "--max-length", "300"];
    const first = await runCli([...args, "-o", join(tmp.dir, "hub1.jsonl")], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /read 8, removed: incorrect 1, empty 1, duplicate 1, too_long 1, not_selected 0, written 4/);
    const routes = hub.requests.map((r) => `${r.method} ${r.url.split("?")[0]}`);
    assert.ok(routes.includes("GET /api/models/acme/tiny-coder/revision/main"), routes.join("\n"));
    assert.ok(routes.includes(`GET /acme/tiny-coder/resolve/${fakeSha("tiny-coder")}/tokenizer.json`), routes.join("\n"));
    assert.ok(routes.includes(`GET /datasets/KodCode/KodCode-V1-SFT-R1/resolve/${fakeSha("kodcode-main")}/data/train-00000-of-00001.parquet`));
    const snapshot = join(tmp.dir, "cache", "models--acme--tiny-coder", "snapshots", fakeSha("tiny-coder"), "tokenizer.json");
    assert.deepEqual(await readFile(snapshot), await tokenizerJson());

    const before = hub.requests.length;
    const second = await runCli([...args, "-o", join(tmp.dir, "hub2.jsonl")], { env: { ...env, HF_HUB_OFFLINE: "1" } });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(hub.requests.length, before, "served from the cache");
    assert.equal(await readFile(join(tmp.dir, "hub2.jsonl"), "utf8"), await readFile(join(tmp.dir, "hub1.jsonl"), "utf8"));
  });

  it("an unknown split names the splits there are; an unknown model is a clear error", async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(tmp.dir, "cache2"), HF_TOKEN: "" };
    const split = await runCli(["sft", "kodcode", "--dataset", "KodCode/KodCode-V1-SFT-R1", "--split", "incorrect"], { env });
    assert.equal(split.code, 1);
    assert.match(split.stderr, /has no split "incorrect" \(splits found: train, use_with_caution\)/);
    const model = await runCli(["sft", "kodcode", "--dataset", KODCODE, "--tokenizer", "acme/nope", "--max-length", "9"], { env });
    assert.equal(model.code, 1);
    assert.match(model.stderr, /^batchline: --tokenizer acme\/nope: the hub at http:\/\/127\.0\.0\.1:\d+ answered 401/);
  });
});
