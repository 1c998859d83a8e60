/**
 * `batchline pipeline` and `batchline demo`: whole runs with checkpoints. A run killed with SIGKILL
 * in each step and run again ends with the same files as an uninterrupted run, and uploads and
 * creates nothing twice; a changed option re-runs the steps it affects; the run lock holds.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { recordedServer } from "./agentless-batch-server.ts";
import { CLI, FIXTURES, readTree, runCli, tempDir } from "./helpers.ts";

const F = join(FIXTURES, "agentless");
let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

/** What two runs must agree on: the requests they made and everything under save/. */
async function results(workdir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of ["step1_requests.jsonl", "step2_requests.jsonl", "round1/step2_requests.jsonl"]) out.set(f, await readFile(join(workdir, f), "utf8"));
  for (const [k, v] of await readTree(join(workdir, "save"))) out.set(`save/${k}`, v);
  return out;
}

const pipelineArgs = (workdir: string, rounds = 1) => ["pipeline", "agentless-bugfixer", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2", "--backend", "openai-batch", "--poll-interval", "0.05", "--max-poll-interval", "0.2", "--rounds", String(rounds), "--workdir", workdir];

describe("batchline demo", () => {
  it("runs the bugfixer pipeline offline on the bundled fixtures and prints the report; a second run skips every step", async () => {
    const workdir = join(dir, "demo");
    const r = await runCli(["demo", "--workdir", workdir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /these answers are recorded fixtures/);
    assert.match(r.stderr, /batchline pipeline agentless-bugfixer --backend openai-batch/);
    const report = JSON.parse(await readFile(join(workdir, "report.json"), "utf8"));
    assert.deepEqual(report.steps.gen_step1, { requests: 6, failures: { structure_not_found: 2 } });
    assert.equal(report.steps.proc_step1_gen_step2.requests, 5);
    assert.equal(report.steps.submit_step2.lines, 5);
    assert.deepEqual(report.steps.proc_step2.failures, { batch_cancelled: 1, no_edit_applied: 1, truncated: 1 });
    const preds = (await readFile(join(workdir, "save/preds_1.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { instance_id: string; model_patch: string });
    assert.deepEqual(preds.filter((p) => p.model_patch).map((p) => p.instance_id), ["acme__minicalc-101", "acme__minicalc-103"]);
    const cov = await runCli(["coverage", workdir, "--json"]);
    assert.equal(cov.code, 0, cov.stderr);
    const c = JSON.parse(cov.stdout);
    assert.deepEqual([c.gen_step1.expected, c.gen_step1.succeeded, c.gen_step1.failed], [8, 6, { structure_not_found: 2 }]);
    assert.deepEqual([c.proc_step2.expected, c.proc_step2.succeeded, c.proc_step2.failed], [5, 2, { batch_cancelled: 1, no_edit_applied: 1, truncated: 1 }]);
    assert.ok(Object.values(c).every((s: any) => s.missing.length === 0));
    const first = await results(workdir);
    const again = await runCli(["demo", "--workdir", workdir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((again.stderr.match(/skipped/g) ?? []).length, 8, "every step skipped");
    assert.deepEqual(await results(workdir), first);

    // A lost answer shows up as missing, naming the custom_id, and coverage exits 1.
    const out1 = join(workdir, "step1_output.jsonl");
    const lines = (await readFile(out1, "utf8")).trim().split("\n").filter((l) => !l.includes('"acme__minicalc-101__pass1"'));
    await writeFile(out1, lines.join("\n") + "\n");
    const lost = await runCli(["coverage", workdir]);
    assert.equal(lost.code, 1);
    assert.match(lost.stdout, /^submit_step1: 6 expected, 5 succeeded, 0 failed, 1 missing: acme__minicalc-101__pass1$/m);
    assert.match(lost.stderr, /1 custom_id\(s\) unaccounted for/);
  });
});

describe("batchline pipeline", () => {
  let reference: Map<string, string>;
  let referenceStats: { uploads: number; batchesCreated: number };

  before(async () => {
    const server = await recordedServer(0);
    try {
      const workdir = join(dir, "reference");
      const r = await runCli(pipelineArgs(workdir), { env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL } });
      assert.equal(r.code, 0, r.stderr);
      reference = await results(workdir);
      referenceStats = { uploads: server.stats.uploads, batchesCreated: server.stats.batchesCreated };
      assert.equal(referenceStats.uploads, 3, "step 1, step 2 and one retry round");
    } finally {
      await server.closeAll();
    }
  });

  for (const killIn of ["gen_step1", "submit_step1", "proc_step1_gen_step2", "submit_step2", "proc_step2", "round1_submit"]) {
    it(`killed (SIGKILL) in ${killIn} and run again: the same files, nothing uploaded or created twice`, async () => {
      const server = await recordedServer(250);
      const workdir = join(dir, `kill-${killIn}`);
      const env = { ...process.env, OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL };
      try {
        const child = spawn(process.execPath, [CLI, ...pipelineArgs(workdir), "-q"], { env, stdio: "ignore" });
        let gone = false;
        const exited = new Promise((resolve) => child.on("exit", resolve)).then(() => (gone = true));
        for (let i = 0; i < 600 && !gone; i++) {
          const manifest = await readFile(join(workdir, "manifest.json"), "utf8").catch(() => "");
          if (manifest && JSON.parse(manifest).started?.[killIn]) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        child.kill("SIGKILL");
        await exited;
        const r = await runCli(pipelineArgs(workdir), { env });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await results(workdir), reference);
        assert.equal(server.stats.uploads, referenceStats.uploads, "no second upload");
        assert.equal(server.stats.batchesCreated, referenceStats.batchesCreated, "no second batch");
      } finally {
        await server.closeAll();
      }
    });
  }

  it("re-runs exactly the steps a changed option affects", async () => {
    const server = await recordedServer(0);
    const workdir = join(dir, "options");
    const env = { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL };
    const ran = (stderr: string) => [...stderr.matchAll(/pipeline: (\w+): (?:running|resuming)/g)].map((m) => m[1]);
    try {
      assert.equal((await runCli(pipelineArgs(workdir), { env })).code, 0);
      const same = await runCli([...pipelineArgs(workdir), "--num_workers", "1"], { env });
      assert.deepEqual(ran(same.stderr), [], "--num_workers changes no output: nothing runs");
      const more = await runCli(pipelineArgs(workdir, 2), { env });
      assert.equal(more.code, 0, more.stderr);
      assert.deepEqual(ran(more.stderr), ["round2_requests", "round2_submit", "round2_proc_step2"]);
      const from = await runCli([...pipelineArgs(workdir), "--start-from", "proc_step2"], { env });
      assert.deepEqual(ran(from.stderr), ["proc_step2", "round1_requests", "round1_submit", "round1_proc_step2"]);
      const tokens = await runCli([...pipelineArgs(workdir), "--max_tokens", "4096"], { env });
      assert.deepEqual(ran(tokens.stderr), ["gen_step1", "submit_step1", "proc_step1_gen_step2", "submit_step2", "proc_step2", "round1_requests", "round1_submit", "round1_proc_step2"]);
      const requests = (await readFile(join(workdir, "step1_requests.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { body: { max_tokens: number } });
      assert.ok(requests.every((q) => q.body.max_tokens === 4096));
    } finally {
      await server.closeAll();
    }
  });

  it("runs the testwriter pipeline with the replay backend, its proc_step2 reading step 1's choice", async () => {
    const workdir = join(dir, "testwriter");
    const r = await runCli(["pipeline", "agentless-testwriter", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2", "--backend", "replay", "--from-step1", join(F, "testwriter-step1-output.jsonl"), "--from-step2", join(F, "testwriter-step2-output.jsonl"), "--rounds", "0", "--workdir", workdir]);
    assert.equal(r.code, 0, r.stderr);
    const samples = [0, 1].flatMap((pass) => readFileSync(join(workdir, `save/output_${pass}_processed_reproduction_test.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { instance_id: string; test_patch: string; test_func_name: string | null }));
    assert.deepEqual(samples.filter((s) => s.test_patch).map((s) => [s.instance_id, s.test_func_name]).sort(), [["acme__minicalc-101", "test_divide_by_zero_is_a_calc_error"], ["acme__minicalc-103", "test_tab_between_tokens"]]);
    const report = JSON.parse(await readFile(join(workdir, "report.json"), "utf8"));
    assert.equal(report.steps.proc_step1_gen_step2.requests, 2);
  });

  it("refuses a workdir another live process holds, and takes over a dead one's lock", async () => {
    const workdir = join(dir, "locked");
    const { hostname } = await import("node:os");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(workdir, { recursive: true });
    await writeFile(join(workdir, ".lock"), JSON.stringify({ pid: process.pid, host: hostname() }));
    const held = await runCli([...pipelineArgs(workdir), "--backend", "replay", "--from-step1", join(F, "bugfixer-step1-output.jsonl"), "--from-step2", join(F, "bugfixer-step2-output.jsonl")]);
    assert.equal(held.code, 1);
    assert.match(held.stderr, new RegExp(`is in use by process ${process.pid}`));
    await writeFile(join(workdir, ".lock"), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
    const stale = await runCli([...pipelineArgs(workdir), "--backend", "replay", "--from-step1", join(F, "bugfixer-step1-output.jsonl"), "--from-step2", join(F, "bugfixer-step2-output.jsonl")]);
    assert.equal(stale.code, 0, stale.stderr);
    assert.match(stale.stderr, /taking over the stale lock/);
    assert.deepEqual(await results(workdir), reference, "the replay backend gives the same results as the Batch API");
  });
});
