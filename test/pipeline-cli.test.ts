/**
 * `batchline pipeline` through the CLI, on the engine: --list and generated --help, retry rounds
 * that re-request a failed step-1 request, a step that produces nothing (exit 1 unless
 * --allow-empty), and every option checked before the first step.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { recordedServer } from "./agentless-batch-server.ts";
import { FIXTURES, readTree, runCli, tempDir } from "./helpers.ts";

const F = join(FIXTURES, "agentless");
let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const replayArgs = (workdir: string) => ["pipeline", "agentless-bugfixer", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2", "--backend", "replay", "--from-step1", join(F, "bugfixer-step1-output.jsonl"), "--from-step2", join(F, "bugfixer-step2-output.jsonl"), "--rounds", "0", "--workdir", workdir];
const batchArgs = (workdir: string) => ["pipeline", "agentless-bugfixer", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2", "--backend", "openai-batch", "--poll-interval", "0.05", "--max-poll-interval", "0.2", "--rounds", "1", "--workdir", workdir];

describe("batchline pipeline (CLI)", () => {
  it("--list names every pipeline; <name> --help lists its own options from its definition, then the engine's", async () => {
    const list = await runCli(["pipeline", "--list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^agentless-bugfixer +SWE-bench rows -> file localization/m);
    assert.match(list.stdout, /^agentless-testwriter +SWE-bench rows -> test-file localization/m);
    assert.match(list.stdout, /^swe-testgen +/m);
    const help = await runCli(["pipeline", "agentless-testwriter", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^batchline pipeline agentless-testwriter --workdir <dir> --backend <name> \[options\]$/m);
    // swe-testgen derives its workdir from --output/--run-id: its usage line does not ask for --workdir
    const swe = await runCli(["pipeline", "swe-testgen", "--help"]);
    assert.equal(swe.code, 0, swe.stderr);
    assert.match(swe.stdout, /^batchline pipeline swe-testgen --backend <name> \[options\]$/m);
    assert.match(help.stdout, /^Steps: gen_step1 -> submit_step1 -> proc_step1_gen_step2 -> submit_step2 -> proc_step2 -> retry rounds$/m);
    const own = help.stdout.slice(help.stdout.indexOf("Options of agentless-testwriter:"), help.stdout.indexOf("Options of every pipeline:"));
    for (const flag of ["--passk <value>", "--model-name <value>", "--repostructure-dir <value>", "--from-step1 <value>", "--enable-thinking", "--num-workers <value>"]) assert.ok(own.includes(flag), `${flag} in\n${own}`);
    const engine = help.stdout.slice(help.stdout.indexOf("Options of every pipeline:"));
    for (const flag of ["--workdir <value>", "--backend <value>", "--rounds <value>", "--start-from <value>", "--allow-empty", "--poll-interval <value>"]) assert.ok(engine.includes(flag), `${flag} in\n${engine}`);
  });

  it("retry rounds re-request a step-1 request that failed, then carry it through step 2 to a patch", async () => {
    const reference = join(dir, "reference");
    const clean = await recordedServer(0);
    try {
      const r = await runCli(batchArgs(reference), { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: clean.baseURL } });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await clean.closeAll();
    }
    // The first time acme__minicalc-103__pass1 is sent (its step-1 request) it gets a 500; the round sends it again.
    const server = await recordedServer(0, { lineErrors: [{ match: /^acme__minicalc-103__pass1$/, status: 500, times: 1 }] });
    const workdir = join(dir, "step1-retry");
    try {
      const r = await runCli(batchArgs(workdir), { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } });
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(await readFile(join(workdir, "report.json"), "utf8"));
      assert.deepEqual(report.steps.submit_step1.failures, { http_500: 1 });
      assert.deepEqual(report.steps.round1_requests, { requests: 4, from: { submit_step1: 1, submit_step2: 3 } });
      assert.deepEqual(report.steps.round1_submit_step1.succeeded, 1);
      assert.deepEqual([report.steps.round1_proc_step1_gen_step2.requests, report.steps.round1_proc_step1_gen_step2.appended], [1, 3], "its own step-2 request, then the 3 step-2 retries");
      assert.equal((await readFile(join(workdir, "round1/step2_requests.jsonl"), "utf8")).trim().split("\n").length, 4);
      assert.ok(r.stderr.includes("pipeline: round1_submit_step1: running"));
    } finally {
      await server.closeAll();
    }
    // The run ends with what an uninterrupted run has: the same patches, and every step-1 id answered.
    const preds = async (w: string) => (await readFile(join(w, "save/preds_1.jsonl"), "utf8"));
    assert.equal(await preds(workdir), await preds(reference));
    assert.match(await preds(workdir), /acme__minicalc-103/);
    const ours = await readTree(join(workdir, "save"));
    const theirs = await readTree(join(reference, "save"));
    assert.equal(ours.get("samples/acme__minicalc-103__pass1.jsonl"), theirs.get("samples/acme__minicalc-103__pass1.jsonl"));
    const cov = await runCli(["coverage", workdir, "--json"]);
    assert.equal(cov.code, 0, cov.stderr);
    const c = JSON.parse(cov.stdout);
    assert.deepEqual([c.submit_step1.expected, c.submit_step1.succeeded, c.submit_step1.failed], [6, 6, {}]);
  });

  it("a step that produces nothing is said loudly and exits 1, unless --allow-empty", async () => {
    // acme__minicalc-104 has no repo structure: gen_step1 makes no request at all.
    const only104 = ["--start", "acme__minicalc-104", "--end", "acme__minicalc-105"];
    const workdir = join(dir, "empty");
    const r = await runCli([...replayArgs(workdir), ...only104]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^EMPTY: gen_step1 produced nothing/m);
    assert.match(r.stderr, /^batchline: gen_step1, submit_step1, proc_step1_gen_step2, submit_step2, proc_step2 produced nothing \(pass --allow-empty to accept that\)$/m);
    const report = JSON.parse(await readFile(join(workdir, "report.json"), "utf8"));
    assert.deepEqual(report.steps.gen_step1, { requests: 0, failures: { structure_not_found: 2 } });
    const allowed = await runCli([...replayArgs(workdir), ...only104, "--allow-empty"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /^EMPTY: gen_step1 produced nothing/m);
  });

  it("checks every option before the first step: one line, exit 1, nothing written", async () => {
    const workdir = join(dir, "refused");
    const refused = async (args: string[], message: RegExp, env: NodeJS.ProcessEnv = {}) => {
      const r = await runCli(args, { env });
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
      assert.equal(existsSync(workdir), false, `${args.join(" ")} made the workdir`);
    };
    const base = replayArgs(workdir);
    const without = (flag: string) => base.filter((_, i) => base[i] !== flag && base[i - 1] !== flag);
    await refused([...base, "--repostructure_dir", join(dir, "nowhere")], /--repostructure_dir .*nowhere: no such directory/);
    await refused([...base, "--backend", "opena-batch"], /unknown backend opena-batch; backends: openai-batch/);
    await refused(without("--from-step2"), /--backend replay needs --from-step2 <recorded output.jsonl> for submit_step2/);
    await refused([...base, "--from-step1", join(dir, "gone.jsonl")], /replay recording.*(gone\.jsonl.*no such file|no such file.*gone\.jsonl)/);
    await refused([...base, "--dataset", join(dir, "gone.jsonl")], /--dataset .*gone.jsonl: no such file/);
    await refused([...base, "--start-from", "bogus"], /--start-from bogus: not a step of agentless-bugfixer; steps: gen_step1, submit_step1/);
    await refused([...base, "--pask", "8"], /unknown option --pask/);
    await refused([...base, "--shard", "3/2"], /--shard/);
    await refused([...base, "--backend", "openai-batch"], /missing API key: set OPENAI_API_KEY/, { OPENAI_API_KEY: "" });
    await refused(without("--workdir"), /missing --workdir/);
    // --anthropic-version is a run option of every pipeline, checked against the backend before the first step
    await refused([...base, "--anthropic-version", "2023-06-01"], /--anthropic-version is for anthropic-batch, not replay/);
    await refused([...base, "--backend", "anthropic-batch", "--anthropic-version", "1999-01-01"], /unknown anthropic-version 1999-01-01/, { ANTHROPIC_API_KEY: "test-key" });
    await writeFile(join(dir, "a-file"), "");
    const r = await runCli([...base, "--workdir", join(dir, "a-file")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--workdir .*a-file: is a file, not a directory/);
    await refused(["pipeline", "no-such-pipeline", "--workdir", workdir], /unknown pipeline no-such-pipeline; pipelines: agentless-bugfixer, agentless-testwriter, commit-testgen, sft-eval, swe-testgen/);
  });
});
