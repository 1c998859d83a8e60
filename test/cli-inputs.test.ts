/**
 * One way to name files on every command: the input as an argument or -i/--input, `-` for stdin,
 * -o with `-` for stdout; every JSONL line written ends with \n, the last one too.
 */
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");
const OUTPUT = join(FIXTURES, "batch/output-round1.jsonl");

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

describe("naming inputs", () => {
  it("-i/--input works wherever an input argument does, with the same result", async () => {
    for (const [argv, file] of [
      [["validate", "--json"], REQUESTS],
      [["slice", "--start", "0", "--end", "2", "-q"], REQUESTS],
      [["plan", "--json"], REQUESTS],
      [["merge", "-q"], OUTPUT],
    ] as const) {
      const positional = await runCli([...argv, file]);
      const flag = await runCli([...argv, "-i", file]);
      const long = await runCli([...argv, "--input", file]);
      assert.equal(positional.code, 0, positional.stderr);
      assert.equal(flag.stdout, positional.stdout, `${argv[0]} -i`);
      assert.equal(long.stdout, positional.stdout, `${argv[0]} --input`);
    }
    const d = await runCli(["demux", "-i", OUTPUT, "-d", join(dir, "demux"), "-q"]);
    assert.equal(d.code, 0, d.stderr);
    assert.ok((await readdir(join(dir, "demux"))).length >= 2);
    const s = await runCli(["submit", "replay", "-i", REQUESTS, "-o", join(dir, "replayed.jsonl"), "--from", REQUESTS.replace("requests.jsonl", "output-round2.jsonl"), "-q"]);
    assert.ok(s.code === 0 || s.code === 1, s.stderr);
    assert.equal((await readFile(join(dir, "replayed.jsonl"), "utf8")).split("\n").length, 7);
  });

  it("refuses an input given twice, and no input at all, in one line", async () => {
    const twice = await runCli(["validate", REQUESTS, "-i", OUTPUT]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /^batchline: validate: give the input once, as an argument or with -i, not both/);
    const none = await runCli(["slice"]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, "batchline: slice needs an input: a file argument, -i <file>, or - for stdin\n");
  });

  it("- reads stdin for merge and plan too", async () => {
    const merged = await runCli(["merge", "-", join(FIXTURES, "batch/output-round2.jsonl"), "-q"], { input: await readFile(OUTPUT) });
    assert.equal(merged.code, 0, merged.stderr);
    const fromFiles = await runCli(["merge", OUTPUT, join(FIXTURES, "batch/output-round2.jsonl"), "-q"]);
    assert.equal(merged.stdout, fromFiles.stdout);
    const plan = await runCli(["plan", "-i", "-", "--json"], { input: await readFile(REQUESTS) });
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal(JSON.parse(plan.stdout).lines, 6);
  });

  it("every JSONL line written ends with \\n, even from an input whose last line has none", async () => {
    const noFinal = join(dir, "no-final-newline.jsonl");
    await writeFile(noFinal, (await readFile(REQUESTS, "utf8")).replace(/\n$/, ""));
    const outputNoFinal = join(dir, "output-no-final-newline.jsonl");
    await writeFile(outputNoFinal, (await readFile(OUTPUT, "utf8")).replace(/\n$/, ""));
    for (const argv of [
      ["slice", noFinal, "-q"],
      ["requests", "rewrite", "-i", noFinal, "--model", "m", "-q"],
      ["merge", outputNoFinal, "-q"],
    ]) {
      const r = await runCli(argv);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.endsWith("}\n"), `${argv[0]}: the last line ends with \\n`);
      const glued = await runCli(argv.concat());
      assert.equal((r.stdout + glued.stdout).split("\n").filter(Boolean).length, 2 * r.stdout.split("\n").filter(Boolean).length, "cat a b keeps every record on its own line");
    }
  });
});
