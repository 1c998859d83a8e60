import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BatchOutput } from "../schemas/openai-batch-output.ts";
import { answerOf } from "../src/agentless/answers.ts";
import { readAnswerBody } from "../src/core/answer-body.ts";
import { FIXTURES, parseLines, runCli } from "./helpers.ts";

const OUTPUT = join(FIXTURES, "batch/responses-output.jsonl");
const REQUESTS = join(FIXTURES, "batch/responses-requests.jsonl");

async function outputs(): Promise<Map<string, BatchOutput>> {
  const lines = parseLines(await readFile(OUTPUT, "utf8")).map((v) => BatchOutput.parse(v));
  return new Map(lines.map((l) => [l.custom_id, l]));
}

describe("answer bodies: chat, Responses API, completions", () => {
  it("reads a Responses body's output_text parts, status and incomplete_details", async () => {
    const byId = await outputs();
    const body = (id: string) => readAnswerBody(byId.get(id)!.response!.body);
    assert.deepEqual(body("resp-ok"), { shape: "responses", text: "```\nsrc/calc.py\n```", finishReason: "stop", truncated: false });
    assert.equal(body("resp-cut")?.truncated, true);
    assert.equal(body("resp-cut")?.finishReason, "length");
    assert.equal(body("resp-filtered")?.finishReason, "content_filter");
    assert.match(body("resp-filtered")?.failure ?? "", /incomplete \(content_filter\)/);
    assert.match(body("resp-refused")?.failure ?? "", /refused: I can't help/);
    assert.equal(body("resp-reasoning-only")?.text, null);
  });

  it("reads chat and legacy completion bodies; an embedding body is no answer", () => {
    assert.deepEqual(readAnswerBody({ object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "length" }] }), { shape: "chat", text: "hi", finishReason: "length", truncated: true });
    assert.deepEqual(readAnswerBody({ object: "text_completion", choices: [{ index: 0, text: "x = 1", finish_reason: "stop" }] }), { shape: "completions", text: "x = 1", finishReason: "stop", truncated: false });
    assert.equal(readAnswerBody({ object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1] }] }), undefined);
    assert.equal(readAnswerBody({ choices: [] }), undefined);
  });

  it("agentless answers: a Responses answer is text, a cut one is truncated, a refusal is a failure", async () => {
    const byId = await outputs();
    const answer = (id: string) => answerOf(byId.get(id)!);
    assert.deepEqual(answer("resp-ok"), { ok: true, text: "```\nsrc/calc.py\n```", raw: "```\nsrc/calc.py\n```", finishReason: "stop" });
    assert.equal((answer("resp-cut") as { reason: string }).reason, "truncated");
    assert.equal((answer("resp-reasoning-only") as { reason: string }).reason, "truncated");
    assert.equal((answer("resp-filtered") as { reason: string }).reason, "incomplete");
    assert.equal((answer("resp-refused") as { reason: string }).reason, "incomplete");
    assert.equal((answer("resp-empty") as { reason: string }).reason, "empty_answer");
  });

  it("CLI: validate counts truncated and empty Responses answers", async () => {
    const r = await runCli(["validate", OUTPUT, "--kind", "output", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout).outcomes;
    assert.equal(o.succeeded, 6);
    assert.equal(o.truncated, 2, "resp-cut and resp-reasoning-only stopped at max_output_tokens");
    assert.equal(o.emptyContent, 2, "resp-reasoning-only and resp-refused have no output_text");
  });

  it("CLI: retry classifies Responses answers (truncated, failed, empty, missing)", async () => {
    const r = await runCli(["retry", REQUESTS, OUTPUT, "--why", "truncated,failed,empty"]);
    assert.equal(r.code, 0, r.stderr);
    const ids = parseLines(r.stdout).map((v) => (v as { custom_id: string }).custom_id);
    assert.deepEqual(ids, ["resp-cut", "resp-reasoning-only", "resp-filtered", "resp-refused", "resp-empty", "resp-missing"]);
    assert.match(r.stderr, /7 requests: 1 missing, 2 failed, 2 truncated, 1 empty, 1 ok/);
  });
});
