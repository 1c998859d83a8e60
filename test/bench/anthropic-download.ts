/**
 * Result download speed for one very long result line (the `download` section of `npm run bench`;
 * alone: `node test/bench/anthropic-download.ts`). A local server answers one batch whose results file
 * holds a single line of N MB; three readers download it:
 *   anthropic-batch   the backend's results() (our JSONL reader over the response stream)
 *   sdk decoder       @anthropic-ai/sdk's messages.batches.results() (what the backend used before)
 *   openai-batch      the openai backend's results() over the same bytes as an OpenAI output file
 * Prints MB/s for each and the ratio of anthropic-batch to openai-batch (the target is ~1).
 * Environment: BENCH_LINE_MB (default "10,50"), BENCH_SDK_MAX_MB (default 10: the SDK decoder is
 * quadratic, 50 MB takes minutes).
 */
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Anthropic from "@anthropic-ai/sdk";
import anthropicBatch from "../../src/submitters/anthropic-batch.ts";
import openaiBatch from "../../src/submitters/openai-batch.ts";
import { type BenchRow, printTable } from "./common.ts";

const sizes = (process.env.BENCH_LINE_MB ?? "10,50").split(",").map(Number);
const sdkMax = Number(process.env.BENCH_SDK_MAX_MB ?? 10);

function anthropicLine(mb: number): string {
  const text = "x".repeat(mb * 1_000_000);
  return JSON.stringify({ custom_id: "a", result: { type: "succeeded", message: { id: "msg_a", type: "message", role: "assistant", model: "m", content: [{ type: "text", text }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } } } }) + "\n";
}

function openaiLine(mb: number): string {
  const text = "x".repeat(mb * 1_000_000);
  return JSON.stringify({ id: "r", custom_id: "a", response: { status_code: 200, request_id: "q", body: { id: "c", object: "chat.completion", created: 0, model: "m", choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }] } }, error: null }) + "\n";
}

async function serve(body: { anthropic: string; openai: string }): Promise<{ base: string; close: () => void }> {
  let base = "";
  const server = createServer((req, res) => {
    const json = (v: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(v));
    const url = req.url ?? "";
    if (url.startsWith("/v1/messages/batches/mb1/results")) return void res.writeHead(200, { "content-type": "application/binary" }).end(body.anthropic);
    if (url.startsWith("/v1/messages/batches/mb1")) {
      return json({ id: "mb1", type: "message_batch", processing_status: "ended", request_counts: { processing: 0, succeeded: 1, errored: 0, canceled: 0, expired: 0 }, ended_at: new Date().toISOString(), created_at: new Date().toISOString(), expires_at: new Date().toISOString(), archived_at: null, cancel_initiated_at: null, results_url: `${base}/v1/messages/batches/mb1/results` });
    }
    if (url.startsWith("/v1/batches/b1")) return json({ id: "b1", object: "batch", status: "completed", output_file_id: "f1", error_file_id: null, request_counts: { total: 1, completed: 1, failed: 0 } });
    if (url.startsWith("/v1/files/f1/content")) return void res.writeHead(200, { "content-type": "application/octet-stream" }).end(body.openai);
    res.writeHead(404).end("{}");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, close: () => server.close() };
}

async function time(fn: () => Promise<number>): Promise<{ seconds: number; bytes: number }> {
  const start = performance.now();
  const bytes = await fn();
  return { seconds: (performance.now() - start) / 1000, bytes };
}

/** The section's rows: each size's anthropic-batch download against openai-batch's on the same bytes. */
export async function anthropicDownload(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const work = mkdtempSync(join(tmpdir(), "bl-bench-dl-"));
  const chunkPath = join(work, "chunk.jsonl");
  writeFileSync(chunkPath, JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "m", messages: [{ role: "user", content: "a" }], max_tokens: 5 } }) + "\n");
  const ref = { key: "k", path: chunkPath, lines: 1, bytes: 1, model: "m", endpoint: "/v1/chat/completions" };

  try {
    for (const mb of sizes) {
      const { base, close } = await serve({ anthropic: anthropicLine(mb), openai: openaiLine(mb) });
      try {
        // alternating, median of 3 each, so neither reader pays the other's warm-up
        const oursRuns: { seconds: number; bytes: number }[] = [];
        const openaiRuns: { seconds: number; bytes: number }[] = [];
        for (let i = 0; i < 3; i++) {
          oursRuns.push(
            await time(async () => {
              let n = 0;
              for await (const line of anthropicBatch({ apiKey: "k", baseURL: base }).results("mb1", ref)) n += line.length;
              return n;
            }),
          );
          openaiRuns.push(
            await time(async () => {
              let n = 0;
              for await (const line of openaiBatch({ apiKey: "k", baseURL: `${base}/v1` }).results("b1", ref)) n += line.length;
              return n;
            }),
          );
        }
        const median = (runs: { seconds: number; bytes: number }[]) => [...runs].sort((a, b) => a.seconds - b.seconds)[1]!;
        const ours = median(oursRuns);
        const openai = median(openaiRuns);
        const rate = (t: { seconds: number }) => (mb / t.seconds).toFixed(1);
        let sdk = "skipped (BENCH_SDK_MAX_MB)";
        if (mb <= sdkMax) {
          const t = await time(async () => {
            let n = 0;
            for await (const r of await new Anthropic({ apiKey: "k", baseURL: base }).messages.batches.results("mb1")) n += JSON.stringify(r).length;
            return n;
          });
          sdk = `${t.seconds.toFixed(2)} s (${rate(t)} MB/s)`;
        }
        rows.push({ section: "download", name: `openai-batch: one ${mb} MB result line`, value: mb / openai.seconds, unit: "MB/s" });
        rows.push({ section: "download", name: `anthropic-batch: one ${mb} MB result line`, value: mb / ours.seconds, unit: "MB/s", baseline: `openai-batch: one ${mb} MB result line`, note: `median of 3; the SDK's own decoder: ${sdk}` });
        console.log(`download of one ${mb} MB result line: anthropic-batch ${ours.seconds.toFixed(2)} s (${rate(ours)} MB/s); sdk decoder ${sdk}; openai-batch ${openai.seconds.toFixed(2)} s (${rate(openai)} MB/s); anthropic/openai time ratio ${(ours.seconds / openai.seconds).toFixed(2)}`);
      } finally {
        close();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await anthropicDownload());
