/** Every backend runs the same contract (test/submitter-contract.ts) against its own local server. */
import { writeFile } from "node:fs/promises";
import { startBatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import { startAnthropicDouble } from "./anthropic-double.ts";
import { startChatServer } from "./chat-server.ts";
import { startGeminiDouble } from "./gemini-double.ts";
import { testSubmitter } from "./submitter-contract.ts";
import { readFile } from "node:fs/promises";

const firstLine = (request: { body: object }) => String((request.body as { messages?: { content?: unknown }[] }).messages?.at(-1)?.content ?? "").split("\n")[0]!;

testSubmitter("openai-batch (batchline serve)", async ({ failIds, slow }) => {
  const executions = new Map<string, number>();
  const executor: Executor = async (request) => {
    executions.set(request.custom_id, (executions.get(request.custom_id) ?? 0) + 1);
    if (slow) await new Promise((r) => setTimeout(r, 40));
    return { response: { status_code: 200, request_id: "r", body: { choices: [{ index: 0, message: { role: "assistant", content: `echo: ${firstLine(request)}` }, finish_reason: "stop" }] } }, error: null };
  };
  const server = await startBatchServer({ executor, concurrency: 2, faults: { lineErrors: [{ match: failIds, status: 400 }] } });
  return {
    backend: "openai-batch",
    args: ["--poll-interval", "0.02", "--max-poll-interval", "0.1"],
    env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: server.baseURL },
    executions: () => executions,
    inFlight: 1,
    close: () => server.close(),
  };
});

testSubmitter("openai-compatible (local chat server)", async ({ failIds, slow }) => {
  const chat = await startChatServer({ badMatch: failIds, latencyMs: slow ? 60 : 0 });
  return {
    backend: "openai-compatible",
    args: ["--base-url", chat.baseURL, "--concurrency", "4", "--max-retries", "0"],
    env: {},
    executions: () => chat.calls,
    inFlight: 4,
    close: () => chat.close(),
  };
});

testSubmitter("replay (recorded output)", async ({ failIds, requests }) => {
  // Record an answer for every request but the failing ones: those are "not in the recording".
  const executions = new Map<string, number>();
  const lines = (await readFile(requests, "utf8")).trimEnd().split("\n").map((l) => JSON.parse(l) as { custom_id: string; body: { messages: { content: string }[] } });
  const recording = `${requests}.recording.jsonl`;
  await writeFile(
    recording,
    lines
      .filter((l) => !failIds.test(l.custom_id))
      .map((l) => JSON.stringify({ id: `rec-${l.custom_id}`, custom_id: l.custom_id, response: { status_code: 200, request_id: "r", body: { choices: [{ message: { content: `echo: ${firstLine(l)}` } }] } }, error: null }))
      .join("\n") + "\n",
  );
  return {
    backend: "replay",
    args: ["--from", recording],
    env: {},
    executions: () => executions,
    inFlight: 16,
    close: async () => {},
  };
});

testSubmitter("anthropic-batch (local Message Batches double)", async ({ failIds, slow }) => {
  const double = await startAnthropicDouble({ errorMatch: failIds, processingMs: slow ? 800 : 20 });
  return {
    backend: "anthropic-batch",
    args: ["--poll-interval", "0.02", "--max-poll-interval", "0.1"],
    env: { ANTHROPIC_API_KEY: "k", ANTHROPIC_BASE_URL: double.baseURL },
    executions: () => double.executions,
    inFlight: 1,
    close: () => double.close(),
  };
});

testSubmitter("gemini-batch (local Gemini Batch double)", async ({ failIds, slow }) => {
  const double = await startGeminiDouble({ errorMatch: failIds, processingMs: slow ? 400 : 20, models: /^m-/ });
  return {
    backend: "gemini-batch",
    args: ["--poll-interval", "0.02", "--max-poll-interval", "0.1"],
    env: { GEMINI_API_KEY: "k", GOOGLE_API_KEY: "", GEMINI_BASE_URL: double.baseURL },
    executions: () => double.executions,
    inFlight: 1,
    close: () => double.close(),
  };
});
