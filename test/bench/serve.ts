/**
 * `batchline serve` as a service (the `serve` section of `npm run bench`; alone:
 * `node test/bench/serve.ts` after `npm run build`). Three figures, each against its own baseline:
 *
 *   restart     a data dir holding BENCH_SERVE_BATCHES (1,000) in_progress batches with
 *               BENCH_SERVE_LINES (1,000) answered lines each (1M stored answers, written straight
 *               into serve.db): time until the restarted server listens, and until every batch has
 *               resumed and written its files (no upstream call may happen).
 *   latency     a data dir with BENCH_SERVE_LIST (10,000) finished batches: p50/p95 of batch
 *               create, retrieve (poll), list (first page) and list with a deep `after` cursor.
 *   throughput  one batch of BENCH_SERVE_TPUT (6,400) lines through `serve --upstream` to a 50 ms
 *               chat server (another process) at --concurrency 64: lines/s against the ideal
 *               64 / 0.05 s = 1,280 lines/s, and against a plain client sending the same lines
 *               straight to the chat server 64 at a time (what this machine's HTTP stack allows).
 *
 * The machine is shared; run it under `flock /tmp/batchline-heavy.lock`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ServeStore } from "../../src/server/serve-store.ts";
import { type BenchRow, CLI, printTable } from "./common.ts";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const BATCHES = env("BENCH_SERVE_BATCHES", 1000);
const LINES = env("BENCH_SERVE_LINES", 1000);
const LIST = env("BENCH_SERVE_LIST", 10_000);
const TPUT = env("BENCH_SERVE_TPUT", 6400);
const CONCURRENCY = 64;
/** The CLI to run (default: the build, dist/); BENCH_SERVE_CLI=src/cli/main.ts runs the sources. */
const SERVE_CLI = process.env.BENCH_SERVE_CLI ?? CLI;
const LATENCY_MS = 50;

const requestLine = (id: string) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "m-1", messages: [{ role: "user", content: id }] } }) + "\n";
const usage = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };

function batchObject(id: string, fileId: string, status: string, total: number, created: number) {
  return {
    id,
    object: "batch",
    endpoint: "/v1/chat/completions",
    model: "m-1",
    errors: null,
    input_file_id: fileId,
    completion_window: "24h",
    status,
    output_file_id: null,
    error_file_id: null,
    created_at: created,
    in_progress_at: created,
    expires_at: created + 86_400,
    finalizing_at: null,
    completed_at: status === "completed" ? created : null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: { total, completed: total, failed: 0 },
    usage: { input_tokens: 7 * total, output_tokens: 3 * total, total_tokens: 10 * total, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    metadata: null,
  };
}

/** A data dir of `batches` batches with `lines` lines each; answered (in_progress) or finished. */
function seed(dir: string, batches: number, lines: number, answered: boolean): void {
  mkdirSync(dir, { recursive: true });
  const store = new ServeStore(dir);
  const now = Math.floor(Date.now() / 1000);
  const addAnswer = store.db.prepare("INSERT INTO answers (batch_id, custom_id, ok, line) VALUES (?, ?, 1, ?)");
  for (let b = 0; b < batches; b++) {
    const fileId = `file-bench${String(b).padStart(6, "0")}`;
    const batchId = `batch_bench${String(b).padStart(6, "0")}`;
    const ids = Array.from({ length: lines }, (_, i) => `b${b}-${i}`);
    const content = ids.map(requestLine).join("");
    writeFileSync(join(dir, fileId), content);
    store.transaction(() => {
      store.putFile({ id: fileId, object: "file", bytes: Buffer.byteLength(content), created_at: now, filename: `${fileId}.jsonl`, purpose: "batch", status: "processed", expires_at: null }, "");
      store.addBatch(batchObject(batchId, fileId, answered ? "in_progress" : "completed", lines, now), "", null);
      if (answered) {
        for (const id of ids) {
          const body = { id: `chatcmpl-${id}`, object: "chat.completion", created: 0, model: "m-1", choices: [{ index: 0, message: { role: "assistant", content: `echo: ${id}` }, finish_reason: "stop" }], usage };
          addAnswer.run(batchId, id, JSON.stringify({ id: `batch_req_${id}`, custom_id: id, response: { status_code: 200, request_id: `req-${id}`, body }, error: null }));
        }
      }
    });
  }
  store.close();
}

interface Proc {
  child: ChildProcess;
  url: string;
}

async function spawnFirstLine(args: string[]): Promise<Proc & { ms: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const [first] = (await once(child.stdout!, "data")) as [Buffer];
  return { child, url: first.toString().trim().split("\n")[0]!, ms: performance.now() - t0 };
}

async function stop(p: Proc): Promise<void> {
  const done = once(p.child, "exit");
  p.child.kill("SIGTERM");
  await done;
}

async function json(url: string, init?: RequestInit): Promise<any> {
  const res = await fetch(url, init);
  const body = await res.json();
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function until(what: string, probe: () => Promise<boolean>, ms = 600_000, every = 50): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function upload(base: string, text: string): Promise<string> {
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([text]), "bench.jsonl");
  return (await json(`${base}/files`, { method: "POST", body: form })).id;
}

async function createBatch(base: string, fileId: string): Promise<string> {
  return (await json(`${base}/batches`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" }) })).id;
}

/** The section's rows: restart, latency and throughput, each against its own baseline where it has one. */
export async function serveBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const row = (name: string, value: number, unit: string, extra: Partial<BenchRow> = {}) => rows.push({ section: "serve", name, value, unit, ...extra });
  const root = await mkdtemp(join(tmpdir(), "batchline-bench-serve-"));
  const chat = await spawnFirstLine([join(BENCH_DIR, "chat-server-process.ts"), String(LATENCY_MS)]);
  const only = (process.env.BENCH_SERVE_ONLY ?? "restart,latency,throughput").split(",");
  const results: Record<string, unknown> = {};
  try {
    if (only.includes("restart")) {
      const dir = join(root, "restart");
      const t0 = performance.now();
      seed(dir, BATCHES, LINES, true);
      const seedMs = performance.now() - t0;
      const t1 = performance.now();
      const serve = await spawnFirstLine([SERVE_CLI, "serve", "--upstream", chat.url, "--data-dir", dir, "--concurrency", String(CONCURRENCY), "-q"]);
      const health = serve.url.replace(/\/v1$/, "/health");
      await until("every resumed batch ends", async () => (await json(health)).batches_running === 0, 1_800_000, 100);
      const doneMs = performance.now() - t1;
      const stats = await json(serve.url.replace(/\/v1$/, "/batchline/stats"));
      const page = await json(`${serve.url}/batches?limit=100`);
      await stop(serve);
      results.restart = {
        batches: BATCHES,
        storedAnswers: BATCHES * LINES,
        seedMs: Math.round(seedMs),
        listeningMs: Math.round(serve.ms),
        allResumedAndWrittenMs: Math.round(doneMs),
        answersPerSecondWritten: Math.round((BATCHES * LINES) / (doneMs / 1000)),
        upstreamCalls: stats.linesExecuted,
        resumed: stats.batchesResumed,
        firstPageCompleted: page.data.filter((b: { status: string }) => b.status === "completed").length,
      };
      row(`restart: listening (${BATCHES} batches, ${BATCHES * LINES} stored answers)`, serve.ms / 1000, "s", { rssMb: null });
      row("restart: every batch resumed and written", doneMs / 1000, "s", { note: `${Math.round((BATCHES * LINES) / (doneMs / 1000))} answers/s written; ${stats.linesExecuted} upstream calls (0 expected)` });
      if (stats.linesExecuted !== 0) throw new Error(`restart: ${stats.linesExecuted} upstream calls; answered lines must not be sent again`);
      rmSync(dir, { recursive: true, force: true });
    }
    if (only.includes("latency")) {
      const dir = join(root, "latency");
      seed(dir, LIST, 1, false);
      const serve = await spawnFirstLine([SERVE_CLI, "serve", "--upstream", chat.url, "--data-dir", dir, "--concurrency", String(CONCURRENCY), "-q"]);
      const fileId = await upload(serve.url, requestLine("lat-0"));
      const create: number[] = [];
      const poll: number[] = [];
      const list: number[] = [];
      const deep: number[] = [];
      const middle = `batch_bench${String(Math.floor(LIST / 2)).padStart(6, "0")}`;
      const time = async (into: number[], fn: () => Promise<unknown>) => {
        const t = performance.now();
        await fn();
        into.push(performance.now() - t);
      };
      for (let i = 0; i < 200; i++) {
        let id = "";
        await time(create, async () => (id = await createBatch(serve.url, fileId)));
        await time(poll, () => json(`${serve.url}/batches/${id}`));
        await time(list, () => json(`${serve.url}/batches?limit=20`));
        await time(deep, () => json(`${serve.url}/batches?limit=100&after=${middle}`));
      }
      await stop(serve);
      const p50p95 = (xs: number[]) => ({ p50: ms(pct(xs, 50)), p95: ms(pct(xs, 95)) });
      results.latency = { batchesListed: LIST + 200, startMs: Math.round(serve.ms), create: p50p95(create), retrieve: p50p95(poll), listFirstPage: p50p95(list), listDeepAfter: p50p95(deep) };
      for (const [name, xs] of [["create", create], ["retrieve (poll)", poll], ["list, first page", list], ["list, deep after=", deep]] as const) {
        row(`${name} p50 (${LIST + 200} batches stored)`, pct(xs, 50), "ms", { note: `p95 ${ms(pct(xs, 95))}` });
      }
      rmSync(dir, { recursive: true, force: true });
    }
    if (only.includes("throughput")) {
      // Baseline: the same requests straight from this process to the chat server, 64 at a time
      // (what the machine's HTTP stack allows today, below the 1,280 lines/s of the arithmetic).
      const direct = async () => {
        let next = 0;
        const t = performance.now();
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (next < TPUT) {
              const id = `direct-${next++}`;
              const res = await fetch(`${chat.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "m-1", messages: [{ role: "user", content: id }] }) });
              await res.json();
            }
          }),
        );
        return TPUT / ((performance.now() - t) / 1000);
      };
      const directLps = await direct();
      const dir = join(root, "tput");
      const serve = await spawnFirstLine([SERVE_CLI, "serve", "--upstream", chat.url, "--data-dir", dir, "--concurrency", String(CONCURRENCY), "-q"]);
      const fileId = await upload(serve.url, Array.from({ length: TPUT }, (_, i) => requestLine(`tput-${i}`)).join(""));
      const t = performance.now();
      const id = await createBatch(serve.url, fileId);
      let batch: any;
      await until("the batch ends", async () => ["completed", "failed", "expired", "cancelled"].includes((batch = await json(`${serve.url}/batches/${id}`)).status), 600_000, 20);
      const secs = (performance.now() - t) / 1000;
      await stop(serve);
      const ideal = CONCURRENCY / (LATENCY_MS / 1000);
      results.throughput = { lines: TPUT, status: batch.status, completed: batch.request_counts.completed, seconds: Number(secs.toFixed(2)), linesPerSecond: Math.round(TPUT / secs), ideal, ofIdeal: `${((TPUT / secs / ideal) * 100).toFixed(1)}%`, directClientLinesPerSecond: Math.round(directLps), ofDirect: `${((TPUT / secs / directLps) * 100).toFixed(1)}%` };
      if (batch.status !== "completed" || batch.request_counts.completed !== TPUT) throw new Error(`throughput: the batch ended ${batch.status} with ${batch.request_counts.completed} of ${TPUT} completed`);
      row(`ideal c=${CONCURRENCY} (${LATENCY_MS} ms upstream)`, ideal, "lines/s", { note: "concurrency / latency" });
      row(`plain client c=${CONCURRENCY} straight to the upstream`, directLps, "lines/s", { baseline: `ideal c=${CONCURRENCY} (${LATENCY_MS} ms upstream)`, note: "what this machine's HTTP stack allows" });
      row(`one batch of ${TPUT} lines through serve --upstream`, TPUT / secs, "lines/s", { baseline: `ideal c=${CONCURRENCY} (${LATENCY_MS} ms upstream)`, note: `${((TPUT / secs / directLps) * 100).toFixed(1)}% of the plain client` });
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await stop(chat);
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`serve: ${JSON.stringify(results)}`);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await serveBench());
