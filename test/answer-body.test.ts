import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BatchOutput } from "../schemas/openai-batch-output.ts";
import { answerOf } from "../src/agentless/answers.ts";
import { readAnswerBody } from "../src/core/answer-body.ts";
import { FIXTURES, parseLines, runCli, tempDir } from "./helpers.ts";

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

  it("CLI: validate counts truncated, empty and failed Responses answers as retry does", async () => {
    const r = await runCli(["validate", OUTPUT, "--kind", "output", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout).outcomes;
    assert.equal(o.succeeded, 4);
    assert.equal(o.failed, 2, "resp-filtered (content_filter) and resp-refused are HTTP 200 but no usable answer: failed, as retry counts them");
    assert.equal(o.byCode.incomplete_answer, 2);
    assert.equal(o.truncated, 2, "resp-cut and resp-reasoning-only stopped at max_output_tokens");
    assert.equal(o.emptyContent, 1, "resp-reasoning-only has no output_text");
  });

  it("CLI: retry classifies Responses answers (truncated, failed, empty, missing)", async () => {
    const r = await runCli(["retry", REQUESTS, OUTPUT, "--why", "truncated,failed,empty"]);
    assert.equal(r.code, 0, r.stderr);
    const ids = parseLines(r.stdout).map((v) => (v as { custom_id: string }).custom_id);
    assert.deepEqual(ids, ["resp-cut", "resp-reasoning-only", "resp-filtered", "resp-refused", "resp-empty", "resp-missing"]);
    assert.match(r.stderr, /7 requests: 1 missing, 2 failed, 2 truncated, 1 empty, 1 ok/);
  });
});

/** The same answer as a Responses-API body: text as an output_text part, `length` as incomplete for max_output_tokens. */
function asResponse(line: BatchOutput): BatchOutput {
  const body = line.response?.body as { model?: string; choices?: { message: { content: string | null; reasoning_content?: string }; finish_reason: string }[]; usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } } | undefined;
  const choice = body?.choices?.[0];
  if (!line.response || line.response.status_code !== 200 || !choice) return line;
  const output: unknown[] = [{ id: "rs_1", type: "reasoning", summary: [] }];
  if (choice.message.content !== null) output.push({ id: "msg_1", type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text: choice.message.content, annotations: [] }] });
  const cut = choice.finish_reason === "length";
  const u = body!.usage;
  return {
    ...line,
    response: {
      ...line.response,
      body: {
        id: "resp_1",
        object: "response",
        status: cut ? "incomplete" : "completed",
        incomplete_details: cut ? { reason: "max_output_tokens" } : null,
        model: body!.model,
        output,
        usage: u ? { input_tokens: u.prompt_tokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: u.completion_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: u.total_tokens } : undefined,
      },
    },
  };
}

describe("agentless reads Responses-API answers", () => {
  it("proc_step1_gen_step2 gives the same step-2 requests and failures from Responses bodies as from chat bodies", async (t) => {
    const { dir, cleanup } = await tempDir();
    t.after(cleanup);
    const F = join(FIXTURES, "agentless");
    const common = ["--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2"];
    const chat = join(F, "bugfixer-step1-output.jsonl");
    const responses = join(dir, "step1-responses.jsonl");
    const lines = parseLines(await readFile(chat, "utf8")).map((v) => asResponse(BatchOutput.parse(v)));
    assert.ok(lines.some((l) => (l.response?.body as { object?: string } | undefined)?.object === "response"));
    await writeFile(responses, lines.map((l) => JSON.stringify(l) + "\n").join(""));
    const run = async (input: string, out: string) => {
      const r = await runCli(["agentless", "bugfixer", "proc_step1_gen_step2", ...common, "--input_file", input, "--output_file", out]);
      assert.equal(r.code, 0, r.stderr);
      return { requests: await readFile(out, "utf8"), failures: (parseLines(await readFile(`${out}.failures.jsonl`, "utf8")) as { custom_id: string; reason: string }[]).map((f) => `${f.custom_id} ${f.reason}`).sort() };
    };
    const fromChat = await run(chat, join(dir, "from-chat.jsonl"));
    const fromResponses = await run(responses, join(dir, "from-responses.jsonl"));
    assert.ok(fromChat.requests.length > 0);
    assert.equal(fromResponses.requests, fromChat.requests, "the same repair requests, byte for byte");
    assert.deepEqual(fromResponses.failures, fromChat.failures);
  });
});
