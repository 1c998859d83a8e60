/** A local Batch API answering the agentless bugfixer fixtures: a step-1 prompt from the step-1 recording, a step-2 prompt from step 2's. */
import { join } from "node:path";
import { ReplayIndex } from "../src/internal/replay-index.ts";
import { type BatchServer, startBatchServer } from "../src/server/batch-server.ts";
import { type Executor, replayExecutor } from "../src/server/executors.ts";
import type { Faults } from "../src/server/faults.ts";
import { FIXTURES } from "./helpers.ts";

const F = join(FIXTURES, "agentless");

export async function recordedServer(stepDelayMs: number, faults: Faults = {}): Promise<BatchServer & { closeAll: () => Promise<void>; requests: () => number }> {
  const indexes = [await ReplayIndex.open(join(F, "bugfixer-step1-output.jsonl")), await ReplayIndex.open(join(F, "bugfixer-step2-output.jsonl"))];
  const [step1, step2] = indexes.map((index) => replayExecutor(index)) as [Executor, Executor];
  let requests = 0;
  const executor: Executor = (request, signal) => {
    requests++;
    const prompt = String((request.body as unknown as { messages: { content: string }[] }).messages[0]!.content);
    return (prompt.includes("### Repository layout") ? step1 : step2)(request, signal);
  };
  const server = await startBatchServer({ executor, faults: { stepDelayMs, ...faults } });
  // The indexes hold open file handles: closing them keeps the test run free of "Closing file descriptor on garbage collection" warnings.
  const closeAll = async () => {
    await server.close();
    await Promise.all(indexes.map((i) => i.close()));
  };
  return Object.assign(server, { closeAll, requests: () => requests });
}
