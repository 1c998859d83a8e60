/**
 * The pipeline engine on a toy two-step definition (a registered stage, then a replay submit, then
 * retry rounds): skip of unchanged finished steps, resume of a killed submit, --start-from, rounds
 * that pick failed requests, the report (with empty steps), coverage, and the checks made before
 * the first step.
 */
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { copyFile, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { readJsonl } from "../src/core/jsonl.ts";
import { UsageError } from "../src/core/errors.ts";
import { definePipeline, pipelineCoverage, rounds, runPipeline, stage, submit } from "../src/pipeline/index.ts";
import { FIXTURES, tempDir } from "./helpers.ts";
import { journalLine, requestHash } from "../src/submitters/direct-runner.ts";

const B = join(FIXTURES, "batch");
let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const ToyOptions = z.object({
  source: z.string().describe("request file the rewrite stage reads"),
  model: z.string().optional().describe("model to set on every request"),
  fromSubmit: z.string().optional().describe("replay: the recorded output of the submit step"),
});

const toy = definePipeline({
  name: "toy",
  description: "rewrite a request file, submit it, retry what failed",
  options: ToyOptions,
  steps: [
    stage<z.infer<typeof ToyOptions>>("rewrite", "requests/rewrite", {
      source: (ctx) => ({ label: ctx.options.source, records: readJsonl(createReadStream(ctx.options.source), { file: ctx.options.source }) }),
      out: "requests.jsonl",
      count: "requests",
      options: (ctx) => (ctx.options.model ? { model: ctx.options.model } : {}),
    }),
    submit<z.infer<typeof ToyOptions>>("submit", { in: "requests.jsonl", out: "output.jsonl", replay: "fromSubmit" }),
    rounds({ retry: [{ from: "submit", failedRequests: true }] }),
  ],
});

/** Runs the toy; returns the report and the step names that ran (not skipped). */
async function run(workdir: string, options: Record<string, unknown>, progressEveryMs?: number) {
  const lines: string[] = [];
  const report = await runPipeline(toy, { workdir, backend: "replay", source: join(B, "requests.jsonl"), rounds: 0, ...options }, { log: (l) => lines.push(l), ...(progressEveryMs !== undefined ? { progressEveryMs } : {}) });
  const ran = lines.map((l) => /^(\w+): (?:running|resuming)$/.exec(l)?.[1]).filter((n) => n !== undefined);
  return { report, ran, lines };
}

const exists = (p: string) => stat(p).then(() => true, () => false);

describe("pipeline engine (toy definition: stage -> replay submit -> rounds)", () => {
  let recording = "";
  before(async () => {
    recording = join(dir, "recording.jsonl");
    await copyFile(join(B, "output-round1.jsonl"), recording); // 4 answers, 2 failed (batch_expired, http 500)
  });

  it("runs both steps, reports them, then skips them when nothing changed", async () => {
    const W = join(dir, "w");
    const first = await run(W, { fromSubmit: recording });
    assert.deepEqual(first.ran, ["rewrite", "submit"]);
    assert.deepEqual(first.report.steps.rewrite, { requests: 6 });
    const s = first.report.steps.submit!;
    assert.deepEqual([s.lines, s.succeeded, s.failed, s.failures], [6, 4, 2, { batch_expired: 1, http_500: 1 }]);
    assert.deepEqual(first.report.empty, []);
    assert.equal(first.report.error, undefined);
    assert.deepEqual(JSON.parse(await readFile(join(W, "report.json"), "utf8")).steps, first.report.steps);

    const again = await run(W, { fromSubmit: recording });
    assert.deepEqual(again.ran, []);
    assert.ok(again.lines.includes("rewrite: done earlier, inputs and options unchanged: skipped"));
    assert.deepEqual(again.report.steps, first.report.steps, "a skipped step still reports");

    // Rounds: the recording now has answers for the two failed requests; round 1 resends only those.
    const round2 = (await readFile(join(B, "output-round2.jsonl"), "utf8")).split("\n").filter((l) => l.includes("django__django-11099__pass0") || l.includes("astropy__astropy-12907__pass1"));
    const round1 = (await readFile(join(B, "output-round1.jsonl"), "utf8")).split("\n").filter((l) => l.trim() && !l.includes("django__django-11099__pass0") && !l.includes("astropy__astropy-12907__pass1"));
    await writeFile(recording, [...round1, ...round2].join("\n") + "\n");
    const retried = await run(W, { fromSubmit: recording, rounds: 2 });
    assert.deepEqual(retried.ran, ["round1_requests", "round1_submit", "round2_requests"]);
    assert.ok(retried.lines.includes("round2: nothing left to retry"));
    const resent = (await readFile(join(W, "round1/requests.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l).custom_id);
    assert.deepEqual(resent.sort(), ["astropy__astropy-12907__pass1", "django__django-11099__pass0"]);
    assert.deepEqual([retried.report.steps.round1_submit!.succeeded, retried.report.steps.round1_requests], [2, { requests: 2 }]);
    const coverage = await pipelineCoverage(toy, W);
    assert.deepEqual(coverage.submit, { expected: 6, succeeded: 6, failed: {}, missing: [] });
    assert.deepEqual(coverage.rewrite, { expected: 6, succeeded: 6, failed: {}, missing: [] });

    // --start-from redoes that step and what follows; a changed option redoes what it affects.
    const from = await run(W, { fromSubmit: recording, rounds: 2, startFrom: "submit" });
    assert.deepEqual(from.ran, ["submit", "round1_requests"], "the re-run submit has no failure left, so round 1 has nothing to do");
    const model = await run(W, { fromSubmit: recording, model: "gpt-4.1-mini" });
    assert.deepEqual(model.ran, ["rewrite", "submit"]);
    const requests = (await readFile(join(W, "requests.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(requests.every((r) => r.body.model === "gpt-4.1-mini"));
  });

  it("says how far a long step has got, on the log", async () => {
    const W = join(dir, "progress");
    const quiet = await run(W, { fromSubmit: recording });
    assert.ok(!quiet.lines.some((l) => l.includes("so far")), "a quick step says nothing");
    const chatty = await run(W, { fromSubmit: recording, startFrom: "rewrite" }, 0);
    assert.deepEqual(chatty.lines.filter((l) => l.startsWith("rewrite: ") && l.endsWith("so far")), [1, 2, 3, 4, 5, 6].map((n) => `rewrite: ${n} records so far`));
  });

  it("resumes a submit killed half-way: the answered lines are not sent again", async () => {
    const W = join(dir, "resume");
    await run(W, { fromSubmit: recording });
    // What a kill in the middle of the submit leaves: the step started (same hash), not finished, a journal of 2 answers.
    const manifest = JSON.parse(await readFile(join(W, "manifest.json"), "utf8"));
    delete manifest.steps.submit;
    await writeFile(join(W, "manifest.json"), JSON.stringify(manifest));
    const answers = (await readFile(join(W, "output.jsonl"), "utf8")).trim().split("\n");
    const expected = await readFile(join(W, "output.jsonl"), "utf8");
    await rm(join(W, "output.jsonl"));
    // Journal lines carry the hash of the request line they answer (a changed request is sent again).
    const hashOf = new Map((await readFile(join(W, "requests.jsonl"), "utf8")).trim().split("\n").map((l) => [JSON.parse(l).custom_id as string, requestHash(l)]));
    const journal = answers.filter((l) => JSON.parse(l).response?.status_code === 200).slice(0, 2).map((l) => journalLine(l, hashOf.get(JSON.parse(l).custom_id)!));
    await writeFile(join(W, "output.jsonl.partial.jsonl"), journal.join("\n") + "\n");
    const resumed = await run(W, { fromSubmit: recording });
    assert.deepEqual(resumed.ran, ["submit"]);
    assert.ok(resumed.lines.includes("submit: resuming"));
    assert.ok(resumed.lines.some((l) => /resuming: 2 request\(s\) already answered/.test(l)), resumed.lines.join("\n"));
    assert.equal(await readFile(join(W, "output.jsonl"), "utf8"), expected);
  });

  it("says which steps produced nothing, and counts the run as failed unless allowEmpty", async () => {
    const W = join(dir, "empty");
    const source = join(dir, "none.jsonl");
    await writeFile(source, "");
    const { report } = await run(W, { fromSubmit: recording, source });
    assert.deepEqual(report.empty, ["rewrite", "submit"]);
    assert.equal(report.error, "rewrite, submit produced nothing (pass --allow-empty to accept that)");
    const allowed = await run(W, { fromSubmit: recording, source, allowEmpty: true });
    assert.deepEqual(allowed.report.empty, ["rewrite", "submit"]);
    assert.equal(allowed.report.error, undefined);
  });

  it("checks every option before the first step: nothing is written for a bad one", async () => {
    const W = join(dir, "refused");
    const refuse = async (options: Record<string, unknown>, message: RegExp) => {
      await assert.rejects(run(W, { fromSubmit: recording, ...options }), (err: Error) => err instanceof UsageError && message.test(err.message));
      assert.equal(await exists(W), false, "no workdir made");
    };
    await refuse({ backend: "openai-batc" }, /unknown backend openai-batc; backends: openai-batch/);
    await refuse({ fromSubmit: undefined }, /--backend replay needs --from-submit <recorded output.jsonl> for submit/);
    await refuse({ fromSubmit: join(dir, "nope.jsonl") }, /replay recording: no such file \(.*nope\.jsonl\)/);
    await refuse({ startFrom: "bogus" }, /--start-from bogus: not a step of toy; steps: rewrite, submit/);
    await refuse({ modle: "x" }, /unknown option --modle/);
    await refuse({ rounds: "two" }, /--rounds: /);
    await refuse({ backend: "openai-batch" }, /missing API key: set OPENAI_API_KEY/);
    await writeFile(join(dir, "a-file"), "");
    await assert.rejects(run(join(dir, "a-file"), { fromSubmit: recording }), /--workdir .*a-file: is a file, not a directory/);
  });

  it("refuses a malformed definition when it is defined", () => {
    assert.throws(() => definePipeline({ name: "bad", description: "", options: z.object({}), steps: [submit("s", { in: "nowhere.jsonl", out: "o.jsonl" })] }), /step s reads nowhere.jsonl, which no earlier step writes/);
    assert.throws(() => definePipeline({ name: "bad", description: "", options: z.object({ backend: z.string() }), steps: [] }), /options backend are the engine's own/);
  });
});
