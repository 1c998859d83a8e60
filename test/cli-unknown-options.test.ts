/**
 * Every command refuses an option it does not know, before doing anything: one line naming the
 * option as typed, the closest known name when there is one, exit 1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { closestOption, editDistance, typedOptions } from "../src/cli/known-options.ts";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");
const OUTPUT = join(FIXTURES, "batch/output-round1.jsonl");

/** The commands `batchline --help` lists, as argv words (`agentless structure` is two, `sft eval run` three). */
async function listedCommands(): Promise<string[][]> {
  const help = await runCli(["--help"]);
  const section = help.stdout.slice(help.stdout.indexOf("Commands:"), help.stdout.indexOf("For more info"));
  return [...section.matchAll(/^ {2}(\S+(?: (?![<[])\S+){0,2})/gm)].map((m) => m[1]!.split(" "));
}

describe("unknown options", () => {
  it("every command refuses --bogus-flag with one line and exit 1, before doing anything", async () => {
    const commands = await listedCommands();
    assert.ok(commands.length >= 17, `${commands.length} commands listed`);
    for (const words of commands) {
      // Positional arguments do not matter: options are checked before anything else.
      const r = await runCli([...words, "--bogus-flag", "1"]);
      assert.equal(r.code, 1, `${words.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr, "batchline: unknown option --bogus-flag; see --help\n", words.join(" "));
      assert.equal(r.stdout, "", words.join(" "));
    }
  });

  it("refuses an unknown option even when the arguments are valid (agentless, pipeline, a stage, serve)", async () => {
    for (const argv of [
      ["agentless", "bugfixer", "gen_step1", "--repostructure_dir", "/nonexistent"],
      ["pipeline", "agentless-bugfixer", "--workdir", "/nonexistent/w", "--backend", "replay"],
      ["requests", "rewrite", "-i", REQUESTS],
      ["serve", "--replay", OUTPUT],
      ["slice", REQUESTS],
    ]) {
      const r = await runCli([...argv, "--bogus-flag"]);
      assert.equal(r.code, 1, argv.join(" "));
      assert.equal(r.stderr, "batchline: unknown option --bogus-flag; see --help\n");
    }
  });

  it("suggests the closest known name: --pask on agentless, --model-nmae and --start-form on pipeline", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const a = await runCli(["agentless", "bugfixer", "gen_step1", "--dataset", join(FIXTURES, "agentless/dataset.jsonl"), "--repostructure_dir", join(FIXTURES, "agentless/repostructures"), "--pask", "8", "-o", join(dir, "r.jsonl")]);
      assert.equal(a.code, 1);
      assert.equal(a.stderr, "batchline: unknown option --pask (did you mean --passk?); see --help\n");
      const p = await runCli(["pipeline", "agentless-bugfixer", "--workdir", join(dir, "w"), "--backend", "replay", "--model-nmae", "x"]);
      assert.equal(p.code, 1);
      assert.equal(p.stderr, "batchline: unknown option --model-nmae (did you mean --model-name?); see --help\n");
      const s = await runCli(["pipeline", "agentless-bugfixer", "--workdir", join(dir, "w"), "--backend", "replay", "--start-form", "proc_step2"]);
      assert.equal(s.stderr, "batchline: unknown option --start-form (did you mean --start-from?); see --help\n");
      const stage = await runCli(["requests", "rewrite", "-i", REQUESTS, "--modle", "x"]);
      assert.equal(stage.stderr, "batchline: unknown option --modle (did you mean --model?); see --help\n");
    } finally {
      await cleanup();
    }
  });

  it("refuses a --start-from that is not a step of the pipeline", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const r = await runCli(["pipeline", "agentless-bugfixer", "--workdir", join(dir, "w"), "--backend", "replay", "--from-step1", OUTPUT, "--from-step2", OUTPUT, "--start-from", "bogus"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^batchline: --start-from bogus: not a step of agentless-bugfixer; steps: gen_step1, submit_step1, proc_step1_gen_step2, submit_step2, proc_step2, round1_requests/);
    } finally {
      await cleanup();
    }
  });

  it("names options as typed: snake_case stays snake_case, and a missing value names the flag typed", async () => {
    const r = await runCli(["schema", "request", "--skip_bad"]);
    assert.equal(r.stderr, "batchline: unknown option --skip_bad; see --help\n");
    const v = await runCli(["slice", REQUESTS, "--shard"]);
    assert.equal(v.code, 1);
    assert.equal(v.stderr, "batchline: option --shard needs a value; see --help\n");
  });

  it("accepts every spelling of a known option (kebab, snake, =value) and stage options given with --stage", async () => {
    const a = await runCli(["slice", REQUESTS, "--start_file=0", "--end-file", "1", "-q"]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout.split("\n").length, 2);
    const b = await runCli(["requests", "--stage", "rewrite", "--max_tokens", "7", "-i", REQUESTS]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /"max_tokens":7/);
  });
});

describe("option names", () => {
  it("reads options as typed, leaving - and negative numbers as values", () => {
    assert.deepEqual(
      typedOptions(["x", "--a-b=1", "-qv", "--c_d", "-", "--e", "-5", "--", "--after"]).map((o) => [o.typed, o.key, o.hasValue]),
      [["--a-b", "aB", true], ["-q", "q", false], ["-v", "v", false], ["--c_d", "cD", true], ["--e", "e", true]],
    );
  });

  it("counts a swap of neighbouring letters as one edit and suggests only close names", () => {
    assert.equal(editDistance("model-nmae", "model-name"), 1);
    assert.equal(editDistance("pask", "passk"), 1);
    assert.equal(closestOption("--max_token", ["maxTokens", "temp"]), "--max-tokens");
    assert.equal(closestOption("--frobnicate", ["maxTokens", "temp"]), undefined);
  });
});
