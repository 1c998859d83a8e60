/**
 * `--skip-bad` on every command that reads records (issue 11 item 7): validate, submit (a batch
 * backend and a direct one), agentless vote and coverage refuse a bad line with file:line
 * (custom_id) and exit 1; with --skip-bad they report it, leave it out, and do the rest. Also
 * `retry -i <requests> --answers <output>`.
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startBatchServer } from "../src/server/batch-server.ts";
import { FIXTURES, parseLines, runCli, tempDir, echoExecutor } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");

/** The fixture request file with bad lines inserted: not JSON (line 3), no url/body (line 4, custom_id x), a repeated custom_id (last line). */
async function badRequests(name: string): Promise<{ path: string; ids: string[] }> {
  const lines = (await readFile(REQUESTS, "utf8")).trimEnd().split("\n");
  const ids = lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
  const withBad = [...lines.slice(0, 2), "not json {", '{"custom_id":"x","method":"POST"}', ...lines.slice(2), lines[0]!];
  const path = join(dir, name);
  await writeFile(path, withBad.join("\n") + "\n");
  return { path, ids };
}

const echo = echoExecutor;

describe("--skip-bad", () => {
  it("validate: the bad lines are listed as skipped and the rest is checked; without it they are problems", async () => {
    const { path } = await badRequests("validate.jsonl");
    const strict = await runCli(["validate", path]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /^batchline: 3 problem\(s\) in .*validate\.jsonl; first: .*validate\.jsonl:3: not valid JSON/m);
    const lenient = await runCli(["validate", path, "--skip-bad"]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stdout, /^skipped .*validate\.jsonl:4 \(custom_id=x\): not a valid request line/m);
    assert.match(lenient.stdout, /^skipped .*validate\.jsonl:9 \(custom_id=[^)]+\): duplicate custom_id \(first on line 1\)/m);
    assert.match(lenient.stdout, /^3 bad line\(s\) skipped/m);
    assert.match(lenient.stdout, /^valid$/m);
    const json = JSON.parse((await runCli(["validate", path, "--skip-bad", "--json"])).stdout);
    assert.equal(json.skipped, 3);
    assert.equal(json.problemCount, 0);
    assert.equal(Object.values(json.models as Record<string, number>).reduce((a, b) => a + b, 0), 6, "only the good lines are counted");
  });

  it("submit openai-batch and replay: bad lines are refused, or with --skip-bad reported and left out while the rest is answered", async () => {
    const { path, ids } = await badRequests("submit.jsonl");
    const server = await startBatchServer({ executor: echo, concurrency: 4 });
    try {
      const env = { OPENAI_API_KEY: "test-key", OPENAI_BASE_URL: server.baseURL };
      const args = (out: string) => ["submit", "openai-batch", path, "-o", out, "--poll-interval", "0.02", "--max-poll-interval", "0.1"];
      const refused = await runCli(args(join(dir, "refused/out.jsonl")), { env });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^batchline: .*submit\.jsonl:3: not valid JSON/m);
      assert.equal(server.stats.uploads, 0, "nothing was uploaded");

      const out = join(dir, "batch/out.jsonl");
      const r = await runCli([...args(out), "--skip-bad"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /batchline: skipped .*submit\.jsonl:4 \(custom_id=x\): not a valid batch request line/);
      assert.match(r.stderr, /batchline: skipped .*submit\.jsonl:9 \(custom_id=[^)]+\): duplicate custom_id/);
      assert.match(r.stderr, /submit: skipped 3 bad line\(s\)/);
      const answered = parseLines(await readFile(out, "utf8")) as { custom_id: string; response: { status_code: number } }[];
      assert.deepEqual(answered.map((l) => l.custom_id).sort(), [...ids].sort());
      assert.ok(answered.every((l) => l.response.status_code === 200));

      // a direct backend: replay from what the batch run wrote
      const replayed = join(dir, "replay/out.jsonl");
      const strictReplay = await runCli(["submit", "replay", path, "-o", replayed, "--from", out]);
      assert.equal(strictReplay.code, 1);
      assert.match(strictReplay.stderr, /submit\.jsonl:3: not valid JSON/);
      const rr = await runCli(["submit", "replay", path, "-o", replayed, "--from", out, "--skip-bad"]);
      assert.equal(rr.code, 0, rr.stderr);
      assert.match(rr.stderr, /submit: skipped 3 bad line\(s\)/);
      assert.deepEqual((parseLines(await readFile(replayed, "utf8")) as { custom_id: string }[]).map((l) => l.custom_id), ids, "request order, each good id once");
    } finally {
      await server.close();
    }
  });

  it("agentless vote: a line that is not a bugfixer output line is refused, or skipped with --skip-bad", async () => {
    const save = join(dir, "vote-save");
    await mkdir(save, { recursive: true });
    const line = (id: string, patch: string) => JSON.stringify({ model_name_or_path: "m", instance_id: id, model_patch: patch });
    const patch = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,1 +1,1 @@\n-a\n+b\n";
    await writeFile(join(save, "output_0_processed.jsonl"), [line("i1", patch), '{"instance_id":"i2"}', "{oops"].join("\n") + "\n");
    await writeFile(join(save, "output_1_processed.jsonl"), [line("i1", patch), line("i1", patch)].join("\n") + "\n");
    const strict = await runCli(["agentless", "vote", "--save_dir", save]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /^batchline: .*output_0_processed\.jsonl:2.*bugfixer output line/m);
    const lenient = await runCli(["agentless", "vote", "--save_dir", save, "--skip-bad"]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stderr, /skipped .*output_0_processed\.jsonl:3: not valid JSON/);
    assert.match(lenient.stderr, /skipped .*output_1_processed\.jsonl:2: instance_id i1 is in this file twice/);
    assert.match(lenient.stderr, /agentless vote: skipped 3 bad line\(s\)/);
    const preds = parseLines(await readFile(join(save, "all_preds.jsonl"), "utf8")) as { instance_id: string; model_patch: string }[];
    assert.deepEqual(preds, [{ instance_id: "i1", model_name_or_path: "m", model_patch: patch }]);
  });

  it("coverage: a line of the run's files that is not JSON is refused, or skipped with --skip-bad", async () => {
    const workdir = join(dir, "cov");
    const demo = await runCli(["demo", "--workdir", workdir, "-q"]);
    assert.equal(demo.code, 0, demo.stderr);
    const out1 = join(workdir, "step1_output.jsonl");
    await writeFile(out1, (await readFile(out1, "utf8")) + "{truncated by a full disk\n");
    const strict = await runCli(["coverage", workdir]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /^batchline: .*step1_output\.jsonl:7: not valid JSON/m);
    const lenient = await runCli(["coverage", workdir, "--skip-bad", "--json"]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stderr, /skipped .*step1_output\.jsonl:7: not valid JSON/);
    assert.equal(JSON.parse(lenient.stdout).submit_step1.succeeded, 6);
  });

  it("retry takes -i <requests> and --answers <output> as well as two arguments", async () => {
    const output = join(FIXTURES, "batch/output-round1.jsonl");
    const positional = await runCli(["retry", REQUESTS, output]);
    assert.equal(positional.code, 0, positional.stderr);
    const flags = await runCli(["retry", "-i", REQUESTS, "--answers", output]);
    assert.equal(flags.code, 0, flags.stderr);
    assert.equal(flags.stdout, positional.stdout);
    assert.ok(positional.stdout.length > 0);
    const mixed = await runCli(["retry", "-i", REQUESTS, output]);
    assert.equal(mixed.stdout, positional.stdout);
    const stdin = await runCli(["retry", "-i", "-", "--answers", output], { input: await readFile(REQUESTS) });
    assert.equal(stdin.stdout, positional.stdout);
    const missing = await runCli(["retry", "-i", REQUESTS]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^batchline: retry needs the request file and the output file/m);
    const extra = await runCli(["retry", "-i", REQUESTS, output, "third.jsonl"]);
    assert.equal(extra.code, 1);
    assert.match(extra.stderr, /third\.jsonl: one input too many/);
  });
});
