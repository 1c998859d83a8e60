import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createProgress, formatBytes } from "../src/cli/progress.ts";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
}

describe("progress", () => {
  it("prints whole lines with size, percent and rate when stderr is not a terminal", () => {
    const { writes, stream } = fakeStream(false);
    const p = createProgress({ label: "slice", totalBytes: 4 * 1024 * 1024, stream, delay: 0, interval: 0 });
    p.add(1024 * 1024, 10);
    p.add(1024 * 1024, 10);
    p.done();
    assert.equal(writes.length, 3);
    assert.match(writes[1]!, /^slice: 2\.0 MB\/4\.0 MB 50%, 20 lines, .*\/s\n$/);
    assert.match(writes[2]!, /, \d+\.\d s\n$/, "the last line gives the elapsed time");
  });

  it("redraws one line with a bar on a terminal", () => {
    const { writes, stream } = fakeStream(true);
    const p = createProgress({ label: "demux", totalBytes: 100, stream, delay: 0 });
    p.add(50);
    p.done();
    assert.match(writes[0]!, /^\r\x1b\[2Kdemux: \[#{12}-{12}\] 50 B\/100 B 50%/);
    assert.ok(writes[1]!.endsWith("\n"));
  });

  it("stays silent for short work and when disabled", () => {
    const { writes, stream } = fakeStream(false);
    const p = createProgress({ label: "x", stream, delay: 60_000 });
    p.add(10);
    p.done();
    createProgress({ label: "y", stream, delay: 0, enabled: false }).add(5);
    assert.deepEqual(writes, []);
  });

  it("formats sizes", () => {
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(1536), "1.5 KB");
    assert.equal(formatBytes(3 * 1024 ** 3), "3.00 GB");
  });
});

describe("status board", () => {
  it("draws a submit's status: counts, bar, rate, ETA, batches by state, round, next poll; per-batch lines only when verbose", async () => {
    const { submitFrame, batchesByState } = await import("../src/cli/status-board.ts");
    const batches = [
      { chunk: 1, batchId: "batch_a", state: "completed", done: 10, failed: 1, lines: 10 },
      { chunk: 2, batchId: "batch_b", state: "in_progress", done: 4, failed: 0, lines: 10 },
      { chunk: 3, state: "waiting", done: 0, failed: 0, lines: 5 },
    ];
    assert.equal(batchesByState(batches), "1 waiting, 1 in_progress, 1 completed");
    const status = { backend: "openai-batch", requestFile: "req.jsonl", total: 25, done: 14, failed: 1, round: 1, lastRound: 2, batches, nextPollAt: 1_000 + 45_000 };
    const f = submitFrame(status, { rate: 2, etaMs: 5_500 }, false, 1_000);
    assert.deepEqual(f.lines, [
      "[openai-batch] req.jsonl: [#############-----------] 14/25 done (56%), 1 failed, 2.0 lines/s, ETA 6 s",
      "  batches: 1 waiting, 1 in_progress, 1 completed | round 1 of 2 | next poll in 45 s",
    ]);
    assert.equal(f.line, "[openai-batch] req.jsonl: 14/25 done (56%), 1 failed, 2.0 lines/s, ETA 6 s; batches: 1 waiting, 1 in_progress, 1 completed; round 1 of 2; next poll in 45 s");
    const v = submitFrame(status, { rate: undefined, etaMs: undefined }, true, 1_000);
    assert.deepEqual(v.lines.slice(2), ["    chunk 1/3 batch_a completed 10/10 (1 failed)", "    chunk 2/3 batch_b in_progress 4/10", "    chunk 3/3 - waiting 0/5"]);
    assert.notEqual(f.key, submitFrame({ ...status, batches: [{ ...batches[0]!, state: "completed" }, { ...batches[1]!, state: "finalizing" }, batches[2]!] }, { rate: 2, etaMs: 0 }, false, 1_000).key, "a batch changing state changes the key");
    assert.equal(f.key, submitFrame({ ...status, done: 15 }, { rate: 2, etaMs: 0 }, false, 1_000).key, "counts alone do not");
  });

  it("not on a terminal: a line on each state change, the same state again only after the interval", async () => {
    const { StatusBoard } = await import("../src/cli/status-board.ts");
    const { writes, stream } = fakeStream(false);
    const board = new StatusBoard({ stream, intervalMs: 60_000 });
    board.show(() => ({ lines: ["a"], line: "state A", key: "A" }));
    board.show(() => ({ lines: ["a"], line: "state A, more done", key: "A" }));
    board.persist("a batch failed");
    board.show(() => ({ lines: ["b"], line: "state B", key: "B" }));
    board.close();
    assert.deepEqual(writes, ["state A\n", "a batch failed\n", "state B\n"]);
  });
});
