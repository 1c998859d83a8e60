/** gemini-batch: request/result translation, the Gemini Batch double, and `submit gemini-batch` end to end through the CLI. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GoogleGenAI } from "@google/genai";
import { GEMINI_MODEL_RULES, GeminiNotes, GeminiUntranslatableError, errorResponse, geminiModelRule, toChatCompletion, toGenerateContentRequest } from "../src/submitters/gemini-request.ts";
import { geminiRefusal, startGeminiDouble } from "./gemini-double.ts";
import { CLI, parseLines, runCli, tempDir } from "./helpers.ts";

let dir: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

const user = (content: unknown) => ({ role: "user", content });
const line = (custom_id: string, body: Record<string, unknown>) => JSON.stringify({ custom_id, method: "POST", url: "/v1/chat/completions", body });
/** The SDK's own environment switches are set to mislead it: the backend must not follow them. */
const env = (extra: Record<string, string> = {}) => ({ GEMINI_API_KEY: "k", GOOGLE_API_KEY: "", GEMINI_BASE_URL: "", GOOGLE_GENAI_USE_VERTEXAI: "true", GOOGLE_GEMINI_BASE_URL: "http://127.0.0.1:9", GOOGLE_GENAI_API_VERSION: "v1", ...extra });
const fast = ["--poll-interval", "0.02", "--max-poll-interval", "0.05", "--create-interval", "0"];
type Out = { custom_id: string; response: { status_code: number; body: any } | null; error: { code: string; message: string } | null };

describe("gemini-batch request translation", () => {
  it("maps system, roles and generation config to GenerateContent's REST form", () => {
    const notes = new GeminiNotes();
    const req = toGenerateContentRequest(
      {
        model: "gemini-2.5-flash",
        messages: [{ role: "system", content: "be terse" }, { role: "developer", content: [{ type: "text", text: "use python" }] }, user("hi"), user([{ type: "text", text: "there" }]), { role: "assistant", content: "hello" }, user("fix it")],
        max_tokens: 512,
        temperature: 1.3,
        top_p: 0.95,
        stop: ["###", "END"],
        n: 2,
        seed: 7,
        user: "u1",
      },
      notes,
    );
    assert.deepEqual(req, {
      systemInstruction: { parts: [{ text: "be terse" }, { text: "use python" }] },
      contents: [{ role: "user", parts: [{ text: "hi" }, { text: "there" }] }, { role: "model", parts: [{ text: "hello" }] }, { role: "user", parts: [{ text: "fix it" }] }],
      generationConfig: { temperature: 1.3, topP: 0.95, maxOutputTokens: 512, stopSequences: ["###", "END"], candidateCount: 2, seed: 7 },
    });
    assert.deepEqual(notes.lines(), ["dropped user (no Gemini equivalent) (1 line)"]);
    assert.equal(geminiRefusal(req, "models/gemini-2.5-flash"), undefined, "the double accepts it");
    const json = toGenerateContentRequest({ model: "gemini-2.5-flash", messages: [user("x")], max_completion_tokens: 9, response_format: { type: "json_schema", json_schema: { name: "o", schema: { type: "object" } } } });
    assert.deepEqual(json.generationConfig, { maxOutputTokens: 9, responseMimeType: "application/json", responseJsonSchema: { type: "object" } });
  });

  it("sets thinking from thinking_budget, enable_thinking or reasoning_effort within each model's rules (one dated table)", () => {
    assert.match(GEMINI_MODEL_RULES.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(geminiModelRule("models/gemini-2.5-flash-lite-preview").minBudget, 512);
    const notes = new GeminiNotes();
    const t = (model: string, extra: Record<string, unknown>) => (toGenerateContentRequest({ model, messages: [user("x")], ...extra }, notes).generationConfig as any)?.thinkingConfig;
    assert.deepEqual(t("gemini-2.5-flash", { thinking_budget: 32768 }), { thinkingBudget: 24576, includeThoughts: true });
    assert.deepEqual(t("gemini-2.5-pro", { enable_thinking: true, thinking_budget: 64 }), { thinkingBudget: 128, includeThoughts: true });
    assert.deepEqual(t("gemini-2.5-flash", { reasoning_effort: "medium" }), { thinkingBudget: 8192, includeThoughts: true });
    assert.deepEqual(t("gemini-2.5-flash", { enable_thinking: false, thinking_budget: 4000 }), { thinkingBudget: 0 });
    assert.deepEqual(t("gemini-3-pro-preview", { reasoning_effort: "low" }), { thinkingLevel: "low", includeThoughts: true });
    assert.deepEqual(t("gemini-3-pro-preview", { reasoning_effort: "medium" }), { thinkingLevel: "low", includeThoughts: true });
    assert.deepEqual(t("gemini-3.5-flash", { reasoning_effort: "medium" }), { thinkingLevel: "medium", includeThoughts: true });
    assert.deepEqual(t("gemini-3.5-flash", { reasoning_effort: "xhigh" }), { thinkingLevel: "high", includeThoughts: true });
    assert.equal(t("gemini-2.0-flash", {}), undefined);
    for (const [model, extra] of [["gemini-2.5-flash", { thinking_budget: 32768 }], ["gemini-2.5-pro", { thinking_budget: 64 }], ["gemini-3-pro-preview", { thinking_budget: 4096 }], ["gemini-3-pro-preview", { reasoning_effort: "minimal" }], ["gemini-3.5-flash", { reasoning_effort: "minimal" }]] as const) {
      assert.equal(geminiRefusal(toGenerateContentRequest({ model, messages: [user("x")], ...extra }), `models/${model}`), undefined, model);
    }
    const text = notes.lines().join("\n");
    assert.match(text, /thinking budget 32768 clamped to 24576 \(gemini-2.5-flash takes 1..24576\)/);
    assert.match(text, /thinkingBudget 8192 from reasoning_effort medium/);
    assert.match(text, /reasoning_effort medium sent as thinkingLevel low \(gemini-3-pro-preview's nearest level\)/);
  });

  it("refuses what it cannot translate, naming the field or part", () => {
    const fails = (body: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(() => toGenerateContentRequest({ model: "gemini-2.5-flash", messages: [user("x")], ...body }), (e: Error) => e instanceof GeminiUntranslatableError && pattern.test(e.message));
    fails({ stop: ["a", "b", "c", "d", "e", "f"] }, /at most 5/);
    fails({ n: 9 }, /n 9: Gemini returns at most 8 candidates/);
    fails({ tools: [{ type: "function", function: { name: "f" } }] }, /tools: gemini-batch does not translate tools/);
    fails({ logit_bias: { 1: 2 } }, /logit_bias: gemini-batch does not know/);
    fails({ temperature: 3 }, /temperature 3 is outside Gemini's range 0..2/);
    fails({ messages: [user("")] }, /messages\[0\] \(user\) has no content/);
    fails({ messages: [user([{ type: "input_audio", input_audio: {} }])] }, /messages\[0\]\.content\[0\] is a "input_audio" part/);
    fails({ messages: [user([{ type: "image_url", image_url: { url: "https://x/y.png" } }])] }, /not a base64 data URL/);
    fails({ messages: [{ role: "tool", content: "x", tool_call_id: "c" }] }, /role "tool"/);
    fails({ model: "gemini-2.0-flash", thinking_budget: 1024 }, /gemini-2.0-flash has no thinking/);
    fails({ model: "gemini-2.5-pro", enable_thinking: false }, /cannot turn thinking off/);
    const img = toGenerateContentRequest({ model: "gemini-2.5-flash", messages: [user([{ type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }])] });
    assert.deepEqual(img.contents, [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "AAAA" } }] }]);
  });
});

describe("gemini-batch result translation", () => {
  it("maps candidates, thoughts and usage (thoughts as reasoning tokens, cached content as cached tokens)", () => {
    const body = toChatCompletion(
      {
        candidates: [{ content: { role: "model", parts: [{ text: "hmm", thought: true }, { text: "done" }] }, finishReason: "MAX_TOKENS", index: 0 }],
        usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 20, thoughtsTokenCount: 30, cachedContentTokenCount: 40, totalTokenCount: 150 },
        modelVersion: "gemini-2.5-flash",
        responseId: "r1",
      },
      "gemini-2.5-flash",
      1_700_000_000,
    ) as any;
    assert.deepEqual(body.choices, [{ index: 0, message: { role: "assistant", content: "done", reasoning_content: "hmm" }, finish_reason: "length" }]);
    assert.deepEqual(body.usage, { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150, prompt_tokens_details: { cached_tokens: 40 }, completion_tokens_details: { reasoning_tokens: 30 } });
    assert.equal(body.created, 1_700_000_000);
    const two = toChatCompletion({ candidates: [0, 1].map((index) => ({ content: { parts: [{ text: `c${index}` }] }, finishReason: "STOP", index })) }, "m") as any;
    assert.deepEqual(two.choices.map((c: any) => [c.index, c.message.content]), [[0, "c0"], [1, "c1"]], "n -> candidateCount comes back as n choices");
    const blocked = toChatCompletion({ promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 5 } }, "m") as any;
    assert.deepEqual(blocked.choices, [{ index: 0, message: { role: "assistant", content: "" }, finish_reason: "content_filter" }]);
  });

  it("maps per-request errors to HTTP statuses; invalid arguments are invalid_request_error (not retried)", () => {
    assert.deepEqual(errorResponse({ code: 3, message: "bad" }, "q"), { status_code: 400, request_id: "q", body: { error: { message: "bad", type: "invalid_request_error", param: null, code: "INVALID_ARGUMENT" } } });
    assert.equal((errorResponse({ code: 13, message: "x", status: "INTERNAL" }, "q") as any).status_code, 500);
    assert.equal((errorResponse({ code: 429, message: "x" }, "q") as any).status_code, 429);
  });
});

describe("the Gemini Batch double", () => {
  it("refuses what the real API refuses", async () => {
    const ok = { contents: [{ role: "user", parts: [{ text: "x" }] }] };
    assert.equal(geminiRefusal(ok, "models/gemini-2.5-flash"), undefined);
    assert.match(geminiRefusal({ ...ok, messages: [] }, "models/gemini-2.5-flash")!, /Unknown name "messages"/);
    assert.match(geminiRefusal({ contents: [{ role: "assistant", parts: [{ text: "x" }] }] }, "models/gemini-2.5-flash")!, /valid role/);
    assert.match(geminiRefusal({ contents: [{ role: "user", parts: [] }] }, "models/gemini-2.5-flash")!, /must not be empty/);
    assert.match(geminiRefusal({ ...ok, generationConfig: { max_tokens: 5 } }, "models/gemini-2.5-flash")!, /Unknown name "max_tokens"/);
    assert.match(geminiRefusal({ ...ok, generationConfig: { thinkingConfig: { thinkingBudget: 0 } } }, "models/gemini-2.5-pro")!, /only works in thinking mode/);
    assert.match(geminiRefusal({ ...ok, generationConfig: { thinkingConfig: { thinkingBudget: 30000 } } }, "models/gemini-2.5-flash")!, /between 1 and 24576/);

    const double = await startGeminiDouble();
    try {
      const ai = new GoogleGenAI({ apiKey: "k", apiVersion: "v1beta", httpOptions: { baseUrl: double.baseURL, retryOptions: { attempts: 1 } } });
      const src = [{ contents: [{ role: "user", parts: [{ text: "x" }] }] }];
      await assert.rejects(ai.batches.create({ model: "gemini-2.5-flash", src }), /display_name is required/);
      await assert.rejects(ai.batches.create({ model: "gpt-4o", src, config: { displayName: "d" } }), /is not found/);
      await assert.rejects(ai.batches.create({ model: "gemini-2.5-flash", src: "files/nope", config: { displayName: "d" } }), /not found/);
      const bad = new GoogleGenAI({ apiKey: "bad", apiVersion: "v1beta", httpOptions: { baseUrl: double.baseURL, retryOptions: { attempts: 1 } } });
      await assert.rejects(bad.batches.list(), /API key not valid/);
      assert.equal(double.creates, 0, "nothing was created");
      // The resumable protocol: an offset that skips bytes is refused.
      const start = await fetch(`${double.baseURL}/upload/v1beta/files`, { method: "POST", headers: { "x-goog-api-key": "k", "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "x-goog-upload-header-content-length": "10", "x-goog-upload-header-content-type": "jsonl" }, body: "{}" });
      const uploadUrl = start.headers.get("x-goog-upload-url")!;
      const skip = await fetch(uploadUrl, { method: "POST", headers: { "x-goog-api-key": "k", "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "4" }, body: "0123456789" });
      assert.equal(skip.status, 400);
      const short = await fetch(uploadUrl, { method: "POST", headers: { "x-goog-api-key": "k", "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" }, body: "01234" });
      assert.equal(short.status, 400, "finalize before the declared length is refused");
      assert.equal(double.uploads, 0);
    } finally {
      await double.close();
    }
  });
});

/** Spawns the CLI (to be killed by the test). */
function spawnCli(args: string[], extraEnv: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("submit gemini-batch", () => {
  it("sends a small file inline and writes OpenAI output lines with usage; a failed line is a failure line and is retried", async () => {
    const double = await startGeminiDouble({ errorMatch: /__pass1$/ });
    try {
      const requests = join(dir, "inline.jsonl");
      const ids = ["django__django-11099__pass0", "django__django-11099__pass1", "astropy__astropy-12907__pass0"];
      await writeFile(requests, ids.map((id, i) => line(id, { model: "gemini-2.5-flash", messages: [{ role: "system", content: "You fix bugs." }, user(`${id}\nfind the files`)], max_tokens: 1024, temperature: 1.0, top_p: 0.95, ...(i === 2 ? { thinking_budget: 32768 } : {}) })).join("\n") + "\n");
      const out = join(dir, "inline-out.jsonl");
      const r = await runCli(["submit", "gemini-batch", requests, "-o", out, "--retry-failed", "1", "-v", ...fast], { env: env({ GEMINI_BASE_URL: double.baseURL }) });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /batchline: 1 of 3 line\(s\) failed \(http_500 1\)/);
      assert.match(r.stderr, /thinking budget 32768 clamped to 24576 \(gemini-2.5-flash takes 1..24576\) \(1 line\)/);
      assert.match(r.stderr, /JOB_STATE_SUCCEEDED/);
      assert.equal(double.creates, 2, "round 1 resubmitted only the failed line");
      assert.equal(double.uploads, 0, "under 20 MB nothing is uploaded");
      const job = [...double.jobs.values()][0]!;
      assert.equal(job.inline, true);
      assert.match(job.displayName, /^batchline-bl[0-9a-f]+-r0-c000$/);
      assert.deepEqual(double.received.get(ids[0]!), {
        contents: [{ role: "user", parts: [{ text: `${ids[0]}\nfind the files` }] }],
        systemInstruction: { parts: [{ text: "You fix bugs." }] },
        generationConfig: { temperature: 1, topP: 0.95, maxOutputTokens: 1024 },
      });
      const lines = parseLines(await readFile(out, "utf8")) as Out[];
      assert.deepEqual(lines.map((l) => l.custom_id), ids, "request order, each id once");
      assert.equal(lines[0]!.response!.status_code, 200);
      assert.equal(lines[0]!.response!.body.choices[0].message.content, `echo: ${ids[0]}`);
      assert.deepEqual(lines[0]!.response!.body.usage, { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 0 } });
      assert.equal(lines[2]!.response!.body.usage.completion_tokens_details.reasoning_tokens, 7);
      assert.equal(lines[2]!.response!.body.choices[0].message.reasoning_content, "thinking it over");
      assert.equal(lines[1]!.response!.status_code, 500);
      assert.equal(lines[1]!.response!.body.error.code, "INTERNAL");
      const state = await readFile(`${out}.state.json`, "utf8");
      assert.doesNotMatch(state, /"k"/, "no key in the state file");
      // The output is what batchline's own readers take: validate joins it to the requests, retry picks the failed line.
      const v = await runCli(["validate", out, "--requests", requests, "--json"]);
      const report = JSON.parse(v.stdout) as { kind: string; outcomes: { succeeded: number; httpErrors: number }; coverage: { answered: number; requests: number } };
      assert.deepEqual([report.kind, report.outcomes.succeeded, report.outcomes.httpErrors, report.coverage.answered, report.coverage.requests], ["output", 2, 1, 3, 3]);
      const again = await runCli(["retry", requests, out, "-q"]);
      assert.deepEqual((parseLines(again.stdout) as { custom_id: string }[]).map((l) => l.custom_id), [ids[1]]);
    } finally {
      await double.close();
    }
  });

  it("uploads a chunk over 20 MB with the resumable protocol and reads the responses file", async () => {
    const double = await startGeminiDouble();
    try {
      const requests = join(dir, "big.jsonl");
      const pad = "x".repeat(700_000);
      const ids = Array.from({ length: 30 }, (_, i) => `big-${i}`);
      await writeFile(requests, ids.map((id) => line(id, { model: "gemini-2.5-flash", messages: [user(`${id}\n${pad}`)], max_tokens: 64 })).join("\n") + "\n");
      const out = join(dir, "big-out.jsonl");
      const r = await runCli(["submit", "gemini-batch", requests, "-o", out, "--base-url", double.baseURL, ...fast], { env: env() });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(double.uploads, 1);
      assert.ok(double.uploadChunks.length >= 3, `uploaded in 8 MB pieces: ${double.uploadChunks.join(", ")}`);
      const job = [...double.jobs.values()][0]!;
      assert.equal(job.inline, false);
      const file = double.files.get(job.requests.length ? [...double.files.keys()][0]! : "")!;
      assert.equal(file.displayName, job.displayName);
      assert.deepEqual(JSON.parse(file.data.toString("utf8").split("\n")[0]!), { key: "big-0", request: { contents: [{ role: "user", parts: [{ text: `big-0\n${pad}` }] }], generationConfig: { maxOutputTokens: 64 } } });
      const lines = parseLines(await readFile(out, "utf8")) as Out[];
      assert.deepEqual(lines.map((l) => l.custom_id), ids);
      assert.ok(lines.every((l) => l.response?.status_code === 200 && l.response.body.choices[0].message.content === `echo: ${l.custom_id}`));
    } finally {
      await double.close();
    }
  });

  it("refuses a line it cannot translate before anything is sent, naming file:line and custom_id", async () => {
    const double = await startGeminiDouble();
    try {
      const requests = join(dir, "bad.jsonl");
      await writeFile(requests, [line("a", { model: "gemini-2.5-flash", messages: [user("x")] }), line("b", { model: "gemini-2.5-flash", messages: [user("x")], tools: [{ type: "function", function: { name: "f" } }] })].join("\n") + "\n");
      const r = await runCli(["submit", "gemini-batch", requests, "-o", join(dir, "bad-out.jsonl"), "--base-url", double.baseURL, ...fast], { env: env() });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^batchline: .*bad\.jsonl:2 \(custom_id=b\): gemini-batch cannot translate this request: tools: gemini-batch does not translate tools yet$/m);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      assert.equal(double.creates, 0);
    } finally {
      await double.close();
    }
  });

  it("a run killed after the create was sent but before its name was saved resumes without a second job", async () => {
    const double = await startGeminiDouble({ hangCreate: 3, maxPageSize: 1 });
    try {
      // Two jobs of someone else first, so the look-up pages through batches.list.
      const ai = new GoogleGenAI({ apiKey: "k", apiVersion: "v1beta", httpOptions: { baseUrl: double.baseURL } });
      for (const name of ["other-1", "other-2"]) await ai.batches.create({ model: "gemini-2.5-flash", src: [{ contents: [{ role: "user", parts: [{ text: name }] }] }], config: { displayName: name } });
      const requests = join(dir, "kill.jsonl");
      const ids = ["k0", "k1", "k2"];
      await writeFile(requests, ids.map((id) => line(id, { model: "gemini-2.5-flash", messages: [user(id)] })).join("\n") + "\n");
      const out = join(dir, "kill-out.jsonl");
      const args = ["submit", "gemini-batch", requests, "-o", out, "--base-url", double.baseURL, ...fast];
      const first = spawnCli(args, env());
      await waitFor(() => double.creates === 3, "the create to reach the double");
      first.child.kill("SIGKILL");
      await first.exited;
      const saved = JSON.parse(await readFile(`${out}.state.json`, "utf8"));
      assert.equal(saved.rounds[0].chunks[0].createStarted, true, "the create was recorded before it was sent");
      assert.equal(saved.rounds[0].chunks[0].batchId, undefined, "its name never came back");
      const r = await runCli(args, { env: env() });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /found the batch batches\/\S+ of an interrupted run/);
      assert.equal(double.creates, 3, "no second job");
      const lines = parseLines(await readFile(out, "utf8")) as Out[];
      assert.deepEqual(lines.map((l) => [l.custom_id, l.response?.status_code]), ids.map((id) => [id, 200]));
    } finally {
      await double.close();
    }
  });

  it("a run killed after its upload finished but before the file name was saved finds the upload, not uploading twice", async () => {
    const double = await startGeminiDouble({ hangUpload: 1 });
    try {
      const requests = join(dir, "killup.jsonl");
      const pad = "y".repeat(1_000_000);
      const ids = Array.from({ length: 21 }, (_, i) => `u${i}`);
      await writeFile(requests, ids.map((id) => line(id, { model: "gemini-2.5-flash", messages: [user(`${id}\n${pad}`)] })).join("\n") + "\n");
      const out = join(dir, "killup-out.jsonl");
      const args = ["submit", "gemini-batch", requests, "-o", out, "--base-url", double.baseURL, ...fast];
      const first = spawnCli(args, env());
      await waitFor(() => double.uploads === 1, "the upload to finish at the double");
      first.child.kill("SIGKILL");
      await first.exited;
      const r = await runCli(args, { env: env() });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /found the upload files\/\S+ of an interrupted run/);
      assert.equal(double.uploads, 1, "uploaded once");
      assert.equal(double.creates, 1);
      const lines = parseLines(await readFile(out, "utf8")) as Out[];
      assert.equal(lines.filter((l) => l.response?.status_code === 200).length, ids.length);
    } finally {
      await double.close();
    }
  });

  it("batch cancel stops a running job; the resumed submit writes its lines as batch_cancelled", async () => {
    const double = await startGeminiDouble({ processingMs: 60_000 });
    try {
      const requests = join(dir, "cancel.jsonl");
      await writeFile(requests, ["c0", "c1"].map((id) => line(id, { model: "gemini-2.5-flash", messages: [user(id)] })).join("\n") + "\n");
      const out = join(dir, "cancel-out.jsonl");
      const args = ["submit", "gemini-batch", requests, "-o", out, "--base-url", double.baseURL, ...fast];
      const first = spawnCli([...args, "-v"], env()); // -v: routine lines such as "created batch" are shown
      await waitFor(() => double.creates === 1, "the job");
      await waitFor(() => /created batch/.test(first.stderr()), "the job's name");
      const { readFileSync } = await import("node:fs");
      await waitFor(() => /"batchId"/.test(readFileSync(`${out}.state.json`, "utf8")), "the job's name in the state");
      first.child.kill("SIGKILL");
      await first.exited;
      const c = await runCli(["batch", "cancel", `${out}.state.json`], { env: env() });
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stderr, /cancel requested: batches\//);
      assert.equal([...double.jobs.values()][0]!.state, "BATCH_STATE_CANCELLED");
      const s = await runCli(["batch", "status", `${out}.state.json`], { env: env() });
      assert.match(s.stdout, /^round 0 chunk 1\/1 batches\/\S+ JOB_STATE_CANCELLED 0 completed, 0 failed of 2$/m);
      const r = await runCli(args, { env: env() });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /JOB_STATE_CANCELLED/);
      const lines = parseLines(await readFile(out, "utf8")) as Out[];
      assert.deepEqual(lines.map((l) => l.error?.code), ["batch_cancelled", "batch_cancelled"]);
    } finally {
      await double.close();
    }
  });

  it("keeps the answered lines of an expired job and reports a failed job's reason", async () => {
    const expiring = await startGeminiDouble({ expireAfter: 2 });
    try {
      const requests = join(dir, "exp.jsonl");
      await writeFile(requests, ["e0", "e1", "e2"].map((id) => line(id, { model: "gemini-2.5-flash", messages: [user(id)] })).join("\n") + "\n");
      const r = await runCli(["submit", "gemini-batch", requests, "-o", join(dir, "exp-out.jsonl"), "--base-url", expiring.baseURL, ...fast], { env: env() });
      assert.equal(r.code, 1);
      const lines = parseLines(await readFile(join(dir, "exp-out.jsonl"), "utf8")) as Out[];
      assert.deepEqual(lines.map((l) => l.response?.status_code ?? l.error?.code), [200, 200, "batch_expired"]);
    } finally {
      await expiring.close();
    }
    const failing = await startGeminiDouble({ failJobs: "The input file is malformed." });
    try {
      const requests = join(dir, "exp.jsonl");
      const r = await runCli(["submit", "gemini-batch", requests, "-o", join(dir, "fail-out.jsonl"), "--base-url", failing.baseURL, ...fast], { env: env() });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /failed: INVALID_ARGUMENT: The input file is malformed\./);
      assert.match(r.stderr, /batchline: 1 batch\(es\) failed as a whole/);
    } finally {
      await failing.close();
    }
  });

  it("needs GEMINI_API_KEY or GOOGLE_API_KEY, and plan/validate count its chunks", async () => {
    const requests = join(dir, "exp.jsonl");
    const r = await runCli(["submit", "gemini-batch", requests, "-o", join(dir, "nokey.jsonl")], { env: { GEMINI_API_KEY: "", GOOGLE_API_KEY: "" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /batchline: \[gemini-batch\] missing API key: set GEMINI_API_KEY or GOOGLE_API_KEY/);
    const v = await runCli(["validate", requests]);
    assert.match(v.stdout + v.stderr, /gemini-batch 1/);
  });
});
