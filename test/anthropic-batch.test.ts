/** anthropic-batch specifics: request and result translation for the anthropic-version in use, custom_id mapping, and the CLI run against the Message Batches double. */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import anthropicBatch, { anthropicId, toOutputLine } from "../src/submitters/anthropic-batch.ts";
import { ANTHROPIC_MODEL_RULES, anthropicModelRule } from "../src/submitters/anthropic-models.ts";
import { ANTHROPIC_API_VERSION, TranslationReport, UntranslatableError, toMessagesParams } from "../src/submitters/anthropic-request.ts";
import { refusal, startAnthropicDouble } from "./anthropic-double.ts";
import { collect, parseLines, runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const user = (content: unknown) => ({ role: "user", content });
const line = (id: string, body: Record<string, unknown>, url = "/v1/chat/completions") => JSON.stringify({ custom_id: id, method: "POST", url, body });
const env = (baseURL: string, extra: Record<string, string> = {}) => ({ ANTHROPIC_API_KEY: "k", ANTHROPIC_BASE_URL: baseURL, ANTHROPIC_VERSION: "", ...extra });

describe("anthropic-batch request translation", () => {
  it("drops temperature/top_p/top_k under 2026-10-21 and counts them; 2023-06-01 keeps them (temperature capped at 1)", () => {
    const body = { model: "claude-sonnet-4-5", messages: [{ role: "system", content: "You are terse." }, user([{ type: "text", text: "hi " }, { type: "text", text: "there" }]), { role: "assistant", content: "hello" }, user("fix it")], max_tokens: 2000, temperature: 1.3, top_p: 0.95, top_k: 5, stop: "###" };
    const report = new TranslationReport();
    const now = toMessagesParams(body, { report });
    assert.deepEqual(now, {
      model: "claude-sonnet-4-5",
      max_tokens: 2000,
      system: "You are terse.",
      messages: [user([{ type: "text", text: "hi " }, { type: "text", text: "there" }]), { role: "assistant", content: "hello" }, user("fix it")],
      stop_sequences: ["###"],
    });
    toMessagesParams({ ...body, top_p: undefined, top_k: undefined }, { report });
    assert.deepEqual(report.lines(ANTHROPIC_API_VERSION), [
      "dropped temperature (2 lines), top_p (1 line), top_k (1 line): anthropic-version 2026-10-21 refuses sampling parameters (--anthropic-version 2023-06-01 or ANTHROPIC_VERSION=2023-06-01 keeps them)",
    ]);
    const old = toMessagesParams(body, { version: "2023-06-01" });
    assert.deepEqual([old.temperature, old.top_p, old.top_k], [1, 0.95, 5]);
  });

  it("keeps a thinking budget within the API's rules and says so", () => {
    const report = new TranslationReport();
    const t = (extra: Record<string, unknown>, model = "claude-sonnet-4-5") => toMessagesParams({ model, messages: [user("x")], max_tokens: 32768, ...extra }, { report, version: "2023-06-01" });
    const clamped = t({ enable_thinking: true, thinking_budget: 32768, temperature: 0.6 });
    assert.deepEqual(clamped.thinking, { type: "enabled", budget_tokens: 24576 });
    assert.equal(clamped.temperature, undefined, "temperature other than 1 is refused with thinking on");
    assert.deepEqual(t({ thinking_budget: 500 }).thinking, { type: "enabled", budget_tokens: 1024 });
    const raised = t({ thinking_budget: 1024, max_tokens: 1000 });
    assert.deepEqual([raised.max_tokens, raised.thinking], [2048, { type: "enabled", budget_tokens: 1024 }]);
    assert.equal(t({ enable_thinking: false, thinking_budget: 5000 }).thinking, undefined);
    for (const p of [clamped, raised]) assert.equal(refusal(p as never, "2023-06-01"), undefined, "the double accepts the result");
    const text = report.lines("2023-06-01").join("\n");
    assert.match(text, /clamped to 3\/4 of max_tokens \(1 line\)/);
    assert.match(text, /^thinking \(the API needs 1024 <= budget_tokens < max_tokens\): .*budget raised to 1024 \(1 line\)/m);
    assert.match(text, /max_tokens raised to budget \+ 1024 \(1 line\)/);
  });

  it("gives adaptive thinking and output_config.effort to models that take them, from one dated table", () => {
    assert.match(ANTHROPIC_MODEL_RULES.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(anthropicModelRule("anthropic/claude-opus-4-7-20260101").thinking, "adaptive");
    assert.equal(anthropicModelRule("claude-sonnet-4-5-20250929").thinking, "budget");
    const report = new TranslationReport();
    const p = toMessagesParams({ model: "claude-opus-4-7", messages: [user("x")], max_tokens: 4000, reasoning_effort: "high", thinking_budget: 32768 }, { report });
    assert.deepEqual([p.thinking, p.output_config], [{ type: "adaptive" }, { effort: "high" }]);
    const q = toMessagesParams({ model: "claude-sonnet-4-6", messages: [user("x")], max_tokens: 4000, reasoning_effort: "xhigh" }, { report });
    assert.deepEqual([q.thinking, q.output_config], [{ type: "adaptive" }, { effort: "high" }]);
    const r = toMessagesParams({ model: "claude-haiku-4-5", messages: [user("x")], max_tokens: 20000, reasoning_effort: "medium" }, { report });
    assert.deepEqual([r.thinking, r.output_config], [{ type: "enabled", budget_tokens: 8192 }, undefined]);
    for (const x of [p, q, r]) assert.equal(refusal(x as never, ANTHROPIC_API_VERSION), undefined);
    const text = report.lines(ANTHROPIC_API_VERSION).join("\n");
    assert.match(text, /thinking_budget not sent to a model that takes adaptive thinking/);
    assert.match(text, /xhigh sent as high/);
    assert.match(text, /budget_tokens 8192 from reasoning_effort medium/);
  });

  it("translates tools, tool_choice, tool calls and tool messages", () => {
    const p = toMessagesParams({
      model: "claude-sonnet-4-5",
      max_tokens: 100,
      tools: [{ type: "function", function: { name: "grep", description: "search", parameters: { type: "object", properties: { q: { type: "string" } } }, strict: true } }],
      tool_choice: "required",
      parallel_tool_calls: false,
      messages: [
        user("find it"),
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "grep", arguments: '{"q":"x"}' } }] },
        { role: "tool", tool_call_id: "call_1", content: "found x" },
        user("now fix it"),
      ],
    });
    assert.deepEqual(p.tools, [{ name: "grep", description: "search", input_schema: { type: "object", properties: { q: { type: "string" } } }, strict: true }]);
    assert.deepEqual(p.tool_choice, { type: "any", disable_parallel_tool_use: true });
    assert.deepEqual(p.messages, [
      user("find it"),
      { role: "assistant", content: [{ type: "tool_use", id: "call_1", name: "grep", input: { q: "x" } }] },
      user([{ type: "tool_result", tool_use_id: "call_1", content: "found x" }, { type: "text", text: "now fix it" }]),
    ]);
    assert.equal(refusal(p as never, ANTHROPIC_API_VERSION), undefined);
    assert.deepEqual(toMessagesParams({ model: "m", messages: [user("x")], tool_choice: { type: "function", function: { name: "grep" } } }).tool_choice, { type: "tool", name: "grep" });
  });

  it("refuses what has no Anthropic form, naming the part, and never sends an empty text block", () => {
    const fails = (body: Record<string, unknown>, pattern: RegExp) => assert.throws(() => toMessagesParams({ model: "claude-sonnet-4-5", max_tokens: 10, ...body }), (e: Error) => e instanceof UntranslatableError && pattern.test(e.message));
    fails({ messages: [user([{ type: "text", text: "hi" }, { type: "input_audio", input_audio: { data: "AAA", format: "wav" } }])] }, /messages\[0\]\.content\[1\] is a "input_audio" part/);
    fails({ messages: [user([{ type: "file", file: { file_id: "file-abc" } }])] }, /OpenAI file_id/);
    fails({ messages: [user("")] }, /messages\[0\] \(user\) has no content/);
    fails({ messages: [user([{ type: "text", text: "  " }])] }, /has no content/);
    fails({ messages: [user("x")], tools: [{ type: "web_search" }] }, /tools\[0\] is a "web_search" tool/);
    fails({ messages: [{ role: "function", name: "f", content: "x" }] }, /role "function"/);
    fails({ model: "claude-3-5-sonnet", messages: [user("x")], response_format: { type: "json_schema", json_schema: { name: "a", schema: { type: "object" } } } }, /has no structured output/);
    const p = toMessagesParams({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [user([{ type: "text", text: "" }, { type: "text", text: "real" }])] });
    assert.deepEqual(p.messages, [user("real")]);
  });

  it("maps response_format json_schema to structured output and reports fields with no equivalent", () => {
    const report = new TranslationReport();
    const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false };
    const p = toMessagesParams({ model: "claude-opus-4-6", messages: [user("x")], max_tokens: 10, response_format: { type: "json_schema", json_schema: { name: "out", schema, strict: true } }, n: 2, seed: 7, logprobs: true, frequency_penalty: 0.5, presence_penalty: 0.1 }, { report });
    assert.deepEqual(p.output_config, { format: { type: "json_schema", schema } });
    toMessagesParams({ model: "m", messages: [user("x")], response_format: { type: "json_object" }, n: 1, seed: 1 }, { report });
    assert.deepEqual(report.lines(ANTHROPIC_API_VERSION), ["dropped n (1 line), seed (2 lines), logprobs (1 line), frequency_penalty (1 line), presence_penalty (1 line), response_format json_object (1 line): no Anthropic Messages equivalent"]);
  });
});

describe("anthropic-batch result translation", () => {
  const message = (extra: Record<string, unknown>) => ({ id: "msg_1", model: "m", content: [{ type: "text", text: "done" }], stop_reason: "end_turn", usage: { input_tokens: 10, output_tokens: 30, cache_read_input_tokens: 5, cache_creation_input_tokens: 7, output_tokens_details: { thinking_tokens: 20 } }, ...extra });

  it("maps stop reasons, usage (cache writes, reasoning tokens), created and tool_use", () => {
    const ok = toOutputLine({ custom_id: "a", result: { type: "succeeded", message: message({ content: [{ type: "thinking", thinking: "hmm" }, { type: "text", text: "done" }] }) } }, "orig/a", 1_700_000_000) as any;
    assert.equal(ok.custom_id, "orig/a");
    assert.equal(ok.response.body.created, 1_700_000_000);
    assert.deepEqual(ok.response.body.choices[0], { index: 0, message: { role: "assistant", content: "done", reasoning_content: "hmm" }, finish_reason: "stop" });
    assert.deepEqual(ok.response.body.usage, { prompt_tokens: 22, completion_tokens: 30, total_tokens: 52, prompt_tokens_details: { cached_tokens: 5 }, completion_tokens_details: { reasoning_tokens: 20 }, cache_creation_input_tokens: 7, cache_read_input_tokens: 5 });
    for (const [stop, finish] of [["max_tokens", "length"], ["model_context_window_exceeded", "length"], ["pause_turn", "length"], ["refusal", "content_filter"], ["stop_sequence", "stop"]]) {
      assert.equal((toOutputLine({ custom_id: "a", result: { type: "succeeded", message: message({ stop_reason: stop }) } }, "a") as any).response.body.choices[0].finish_reason, finish, stop);
    }
    const tool = toOutputLine({ custom_id: "t", result: { type: "succeeded", message: message({ stop_reason: "tool_use", content: [{ type: "tool_use", id: "toolu_1", name: "grep", input: { q: "x" } }] }) } }, "t") as any;
    assert.deepEqual(tool.response.body.choices[0], { index: 0, message: { role: "assistant", content: null, tool_calls: [{ id: "toolu_1", type: "function", function: { name: "grep", arguments: '{"q":"x"}' } }] }, finish_reason: "tool_calls" });
  });

  it("maps every other result type to an OpenAI output line", () => {
    const err = toOutputLine({ custom_id: "b", result: { type: "errored", error: { type: "error", error: { type: "overloaded_error", message: "busy" }, request_id: "req_9" } } }, "b") as any;
    assert.deepEqual([err.response.status_code, err.response.request_id, err.response.body.error.type], [529, "req_9", "overloaded_error"]);
    assert.equal((toOutputLine({ custom_id: "c", result: { type: "canceled" } }, "c") as any).error.code, "batch_cancelled");
    assert.equal((toOutputLine({ custom_id: "d", result: { type: "expired" } }, "d") as any).error.code, "batch_expired");
  });

  it("keeps allowed custom_ids and hashes the others stably", () => {
    assert.equal(anthropicId("django__django-11099__pass3"), "django__django-11099__pass3");
    const mapped = anthropicId("pydata/xarray.4094__pass0");
    assert.match(mapped, /^h_[0-9a-f]{40}$/);
    assert.equal(anthropicId("pydata/xarray.4094__pass0"), mapped);
    assert.match(anthropicId("x".repeat(65)), /^h_/);
  });
});

describe("the Message Batches double", () => {
  it("refuses what the real API refuses", async () => {
    const base = { model: "claude-sonnet-4-5", max_tokens: 2000, messages: [user("x")] };
    assert.equal(refusal(base, "2026-10-21"), undefined);
    assert.match(refusal({ ...base, temperature: 1 }, "2026-10-21")!, /^temperature: Extra inputs are not permitted/);
    assert.match(refusal({ ...base, top_k: 40 }, "2026-10-21")!, /^top_k: Extra/);
    assert.equal(refusal({ ...base, temperature: 1 }, "2023-06-01"), undefined);
    assert.match(refusal({ ...base, thinking: { type: "enabled", budget_tokens: 2000 } }, "2026-10-21")!, /greater than `thinking.budget_tokens`/);
    assert.match(refusal({ ...base, thinking: { type: "enabled", budget_tokens: 1000 } }, "2026-10-21")!, /greater than or equal to 1024/);
    assert.match(refusal({ ...base, model: "claude-opus-4-7", thinking: { type: "enabled", budget_tokens: 1024 } }, "2026-10-21")!, /thinking.type.adaptive/);
    assert.match(refusal({ ...base, messages: [user([{ type: "text", text: "" }])] }, "2026-10-21")!, /non-whitespace text/);
    assert.match(refusal({ ...base, messages: [user("x"), user([{ type: "tool_result", tool_use_id: "t1" }])] }, "2026-10-21")!, /corresponding `tool_use`/);

    const double = await startAnthropicDouble();
    try {
      const client = new Anthropic({ apiKey: "k", baseURL: double.baseURL, maxRetries: 0 });
      const create = (custom_id: string) => client.messages.batches.create({ requests: [{ custom_id, params: base }] } as never);
      await assert.rejects(create("has.dot"), (e: InstanceType<typeof Anthropic.APIError>) => e.status === 400 && /custom_id/.test(e.message));
      await assert.rejects(create("x".repeat(65)), (e: InstanceType<typeof Anthropic.APIError>) => e.status === 400);
      await assert.rejects(client.messages.batches.create({ requests: [] } as never), (e: InstanceType<typeof Anthropic.APIError>) => e.status === 400);
      assert.equal(double.creates, 0);
    } finally {
      await double.close();
    }
  });

  it("notices when the installed SDK's default anthropic-version changes (the translation is written for it)", async () => {
    const double = await startAnthropicDouble();
    try {
      await new Anthropic({ apiKey: "k", baseURL: double.baseURL, maxRetries: 0 }).messages.batches.list();
      assert.equal(double.versions[0], ANTHROPIC_API_VERSION, "@anthropic-ai/sdk now sends another anthropic-version: check Anthropic's migration guide, then update anthropic-request.ts and the double");
    } finally {
      await double.close();
    }
  });
});

describe("submit anthropic-batch", () => {
  it("runs agentless-style requests (temperature set) to every line succeeded, dropping sampling with one notice", async () => {
    const double = await startAnthropicDouble();
    try {
      const requests = join(dir, "agentless.jsonl");
      const ids = Array.from({ length: 8 }, (_, i) => `django__django-${11000 + i}__pass${i % 2}`);
      const body = (id: string, i: number) => ({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: `${id}\nPlease look through the following GitHub problem description and Repository structure...` }], max_tokens: 4096, temperature: i % 2 === 0 ? 0 : 1.0, ...(i < 4 ? { top_p: 0.95 } : {}) });
      await writeFile(requests, ids.map((id, i) => line(id, body(id, i))).join("\n") + "\n");
      const out = join(dir, "agentless-out.jsonl");
      const r = await runCli(["submit", "anthropic-batch", requests, "-o", out, "--poll-interval", "0.02"], { env: env(double.baseURL) });
      assert.equal(r.code, 0, r.stderr);
      const lines = parseLines(await readFile(out, "utf8")) as any[];
      assert.deepEqual(lines.map((l) => l.response?.status_code), ids.map(() => 200), "every line succeeded");
      assert.equal(r.stderr.match(/refuses sampling parameters/g)?.length, 1, "one notice");
      assert.match(r.stderr, /dropped temperature \(8 lines\), top_p \(4 lines\): anthropic-version 2026-10-21/);
      assert.ok(double.versions.every((v) => v === "2026-10-21"));
      for (const params of double.received.values()) assert.equal("temperature" in params || "top_p" in params, false);
      assert.ok(lines.every((l) => l.response.body.created > 1_700_000_000), "created set");
    } finally {
      await double.close();
    }
  });

  it("keeps sampling under --anthropic-version 2023-06-01 or ANTHROPIC_VERSION", async () => {
    const double = await startAnthropicDouble();
    try {
      const requests = join(dir, "old.jsonl");
      await writeFile(requests, line("a", { model: "claude-sonnet-4-5", messages: [user("a")], max_tokens: 100, temperature: 0.2 }) + "\n");
      const r1 = await runCli(["submit", "anthropic-batch", requests, "-o", join(dir, "old1.jsonl"), "--poll-interval", "0.02", "--anthropic-version", "2023-06-01"], { env: env(double.baseURL) });
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(double.received.get("a")!.temperature, 0.2);
      assert.doesNotMatch(r1.stderr, /refuses sampling/);
      assert.ok(double.versions.length > 0 && double.versions.every((v) => v === "2023-06-01"));
      const r2 = await runCli(["submit", "anthropic-batch", requests, "-o", join(dir, "old2.jsonl"), "--poll-interval", "0.02"], { env: env(double.baseURL, { ANTHROPIC_VERSION: "2023-06-01" }) });
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(double.versions.at(-1), "2023-06-01");

      // batch status/download talk the version the run used (its state file), unless told otherwise
      const statePath = join(dir, "old1.jsonl.state.json");
      const state = JSON.parse(await readFile(statePath, "utf8"));
      assert.equal(state.apiVersion, "2023-06-01");
      // as if the results had not been fetched yet, so that download asks the API again
      const unfetched = () => {
        for (const round of state.rounds) for (const chunk of round.chunks) delete chunk.results;
        return writeFile(statePath, JSON.stringify(state));
      };
      await unfetched();
      const before = double.versions.length;
      const st = await runCli(["batch", "download", join(dir, "old1.jsonl.state.json"), "-o", join(dir, "old1-same.jsonl")], { env: env(double.baseURL) });
      assert.equal(st.code, 0, st.stderr);
      assert.ok(double.versions.length > before && double.versions.slice(before).every((v) => v === "2023-06-01"), double.versions.slice(before).join(","));
      const answers = async (f: string) => (parseLines(await readFile(join(dir, f), "utf8")) as { custom_id: string; response: unknown }[]).map((l) => [l.custom_id, l.response]);
      assert.deepEqual(await answers("old1-same.jsonl"), await answers("old1.jsonl"));
      await unfetched();
      const dl = await runCli(["batch", "download", statePath, "-o", join(dir, "old1-again.jsonl"), "--anthropic-version", "2026-10-21"], { env: env(double.baseURL) });
      assert.equal(dl.code, 0, dl.stderr);
      assert.equal(double.versions.at(-1), "2026-10-21");
      assert.deepEqual(await answers("old1-again.jsonl"), await answers("old1.jsonl"));
      assert.throws(() => anthropicBatch({ apiKey: "k", anthropicVersion: "2024-01-01" }), /unknown anthropic-version 2024-01-01; batchline translates requests for 2023-06-01 and 2026-10-21/);
    } finally {
      await double.close();
    }
  });

  it("writes failure records for lines with no Anthropic form, and --retry-failed skips invalid_request_error lines", async () => {
    const double = await startAnthropicDouble({ errorMatch: /^busy$/ });
    try {
      const requests = join(dir, "mixed.jsonl");
      await writeFile(
        requests,
        [
          line("ok", { model: "claude-sonnet-4-5", messages: [user("ok")], max_tokens: 32768, thinking_budget: 32768, enable_thinking: true }),
          line("audio", { model: "claude-sonnet-4-5", messages: [user([{ type: "input_audio", input_audio: { data: "AA", format: "wav" } }])], max_tokens: 10 }),
          line("orphan", { model: "claude-sonnet-4-5", messages: [user("x"), { role: "tool", tool_call_id: "call_9", content: "result" }], max_tokens: 10 }),
          line("busy", { model: "claude-sonnet-4-5", messages: [user("busy")], max_tokens: 10 }),
          line("tools", { model: "claude-sonnet-4-5", messages: [user("use grep")], max_tokens: 10, tools: [{ type: "function", function: { name: "grep", parameters: { type: "object" } } }], tool_choice: "required" }),
        ].join("\n") + "\n",
      );
      const out = join(dir, "mixed-out.jsonl");
      const r = await runCli(["submit", "anthropic-batch", requests, "-o", out, "--poll-interval", "0.02", "--retry-failed", "2"], { env: env(double.baseURL) });
      assert.equal(r.code, 1, "lines still failed after the retries: exit 1");
      const byId = new Map((parseLines(await readFile(out, "utf8")) as any[]).map((l) => [l.custom_id, l]));
      assert.equal(byId.get("ok").response.status_code, 200);
      assert.deepEqual(double.received.get("ok")!.thinking, { type: "enabled", budget_tokens: 24576 });
      assert.match(r.stderr, /thinking \(the API needs 1024 <= budget_tokens < max_tokens\): budget >= max_tokens, clamped to 3\/4 of max_tokens \(1 line\)/);
      assert.equal(byId.get("audio").error.code, "invalid_request_error");
      assert.match(byId.get("audio").error.message, /messages\[0\]\.content\[0\] is a "input_audio" part/);
      assert.equal(double.received.has("audio"), false, "never sent");
      assert.equal(byId.get("orphan").response.body.error.type, "invalid_request_error");
      assert.equal(byId.get("busy").response.status_code, 529);
      assert.deepEqual(byId.get("tools").response.body.choices[0].message.tool_calls.map((c: any) => c.function.name), ["grep"]);
      assert.equal(byId.get("tools").response.body.choices[0].finish_reason, "tool_calls");
      assert.match(r.stderr, /not resubmitting 2 line\(s\) that failed with invalid_request_error/);
      assert.match(r.stderr, /round 1: resubmitting 1 line\(s\)/);
      assert.equal(double.creates, 3, "round 0, then only `busy` in rounds 1 and 2");
    } finally {
      await double.close();
    }
  });

  it("refuses a line whose url is not /v1/chat/completions before anything is sent", async () => {
    const double = await startAnthropicDouble();
    try {
      const requests = join(dir, "embed.jsonl");
      await writeFile(requests, [line("a", { model: "m", messages: [user("a")] }), line("b", { model: "m", input: "text" }, "/v1/embeddings")].join("\n") + "\n");
      const r = await runCli(["submit", "anthropic-batch", requests, "-o", join(dir, "embed-out.jsonl")], { env: env(double.baseURL) });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^batchline: .*embed\.jsonl:2 \(custom_id=b\): url \/v1\/embeddings: anthropic-batch sends chat completions only/m);
      assert.equal(double.creates, 0);
    } finally {
      await double.close();
    }
  });

  it("reads a long result line with its own JSONL reader (any chunking of the stream)", async () => {
    const big = "x".repeat(3 << 20);
    const double = await startAnthropicDouble({
      resultsBody: () => JSON.stringify({ custom_id: "a", result: { type: "succeeded", message: { id: "msg_a", model: "m", content: [{ type: "text", text: big }], stop_reason: "end_turn", usage: { input_tokens: 1, output_tokens: 1 } } } }) + "\n",
    });
    try {
      const chunk = join(dir, "big-chunk.jsonl");
      await writeFile(chunk, line("a", { model: "m", messages: [user("a")], max_tokens: 5 }) + "\n");
      const backend = anthropicBatch({ apiKey: "k", baseURL: double.baseURL });
      const ref = { key: "k", path: chunk, lines: 1, bytes: 1, model: "m", endpoint: "/v1/chat/completions" };
      const id = await backend.create(ref, undefined);
      while ((await backend.retrieve(id)).phase !== "ended") await new Promise((r) => setTimeout(r, 10));
      const [out] = (await collect(backend.results(id, ref))).map((t) => JSON.parse(t));
      assert.equal(out.response.body.choices[0].message.content.length, big.length);
    } finally {
      await double.close();
    }
  });

  it("needs ANTHROPIC_API_KEY", async () => {
    const r = await runCli(["submit", "anthropic-batch", join(dir, "req.jsonl"), "-o", join(dir, "o.jsonl")], { env: { ANTHROPIC_API_KEY: "" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing API key: set ANTHROPIC_API_KEY/);
  });

  it("maps ids outside Anthropic's pattern and back", async () => {
    const double = await startAnthropicDouble({ expireAfter: 2 });
    try {
      const requests = join(dir, "req.jsonl");
      const ids = ["ok__pass0", "has.dot/and-slash__pass1", "late__pass0"];
      await writeFile(requests, ids.map((id) => line(id, { model: "claude-x", messages: [{ role: "system", content: "sys" }, user(`${id}\nplease`)], max_tokens: 512 })).join("\n") + "\n");
      const out = join(dir, "out.jsonl");
      const r = await runCli(["submit", "anthropic-batch", requests, "-o", out, "--poll-interval", "0.02"], { env: env(double.baseURL) });
      assert.equal(r.code, 1, "an expired line is a failure: exit 1");
      const lines = parseLines(await readFile(out, "utf8")) as any[];
      assert.deepEqual(lines.map((l) => l.custom_id), ids, "original ids, request order");
      assert.equal(lines[1].response.body.choices[0].message.content, "echo: has.dot/and-slash__pass1");
      assert.equal(lines[2].error.code, "batch_expired");
      assert.equal(double.received.get("ok__pass0")!.system, "sys");
      assert.equal(double.received.has(anthropicId("has.dot/and-slash__pass1")), true);
      assert.doesNotMatch(await readFile(`${out}.state.json`, "utf8"), /"k"/);
    } finally {
      await double.close();
    }
  });
});
