/**
 * Submitter benchmarks (part of `npm run bench`; alone: `node test/bench/submitters.ts`).
 *   direct   `submit openai-compatible` against a local chat server that answers after 50 ms, in
 *            a process of its own, at concurrency 64 and 512: requests/s and the ratio to the ideal
 *            (concurrency / latency), beside a bare undici client at the same concurrency; the
 *            client's and the server's CPU time per request in the notes.
 *   batch    `batchline serve --replay` + `submit openai-batch` on 100,000 lines: wall time and
 *            peak RSS of both processes (via /usr/bin/time when it works, else not reported).
 * Environment: BENCH_DIRECT_REQUESTS (default 20,000), BENCH_BATCH_LINES (default 100,000),
 * BENCH_ONLY=direct|batch, BENCH_BEFORE (another build's dist/src/cli/main.js: its c=512 submits
 * as "(before)" rows of the same run).
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, printTable } from "./common.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CLI = join(ROOT, "dist/src/cli/main.js");
const DATA = join(ROOT, "test/bench/data/submitters");
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

function timeWorks(): boolean {
  if (!existsSync("/usr/bin/time")) return false;
  const probe = join(tmpdir(), `bl-time-${process.pid}`);
  const r = spawnSync("/usr/bin/time", ["-f", "%M", "-o", probe, process.execPath, "-e", ""], { stdio: "ignore" });
  const ok = r.status === 0 && /^\d+\s*$/.test(readFileSync(probe, "utf8"));
  rmSync(probe, { force: true });
  return ok;
}
const TIME = timeWorks();

/** Spawns node `script` (default the CLI) with args, optionally under /usr/bin/time; resolves with wall seconds, peak RSS MB and output. */
function run(args: string[], extraEnv: Record<string, string> = {}, keepStdout = false, script = CLI): { done: Promise<{ wall: number; rssMb: number | null; cpuSeconds: number | null; code: number | null; stderr: string }>; child: ReturnType<typeof spawn>; stdout: () => string } {
  const rssFile = join(tmpdir(), `bl-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const cmd = TIME ? "/usr/bin/time" : process.execPath;
  const argv = TIME ? ["-f", "%U %S %M", "-o", rssFile, process.execPath, script, ...args] : [script, ...args];
  const started = performance.now();
  // Its own process group, so a signal reaches node and not only /usr/bin/time.
  const child = spawn(cmd, argv, { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => {
    if (keepStdout) out += d;
  });
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const done = once(child, "exit").then(([code]) => {
    const wall = (performance.now() - started) / 1000;
    // GNU time puts "Command terminated by signal 2" before the number when the child was signalled.
    const fields = TIME && existsSync(rssFile) ? readFileSync(rssFile, "utf8").trim().split(/\s+/).slice(-3).map(Number) : [];
    const rssMb = fields.length === 3 ? fields[2]! / 1024 : null;
    const cpuSeconds = fields.length === 3 ? fields[0]! + fields[1]! : null;
    rmSync(rssFile, { force: true });
    return { wall, rssMb, cpuSeconds, code: code as number | null, stderr: err };
  });
  return { done, child, stdout: () => out };
}

function requests(path: string, n: number): void {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `bench__repo-${i}__pass${i % 4}`;
    lines.push(JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "bench-model", messages: [{ role: "user", content: `${id}\nPlease fix this function:\ndef f(x):\n    return x + 1  # “é”` }], max_tokens: 256 } }));
  }
  writeFileSync(path, lines.join("\n") + "\n");
}

/** What the chat server process reports when stopped. */
interface ChatServerReport {
  maxInFlight: number;
  requests: number;
  /** CPU time (user + system) the server spent after it started listening, µs. */
  cpuMicros: number;
}

/** Starts the chat server in its own process; resolves with its URL and a stop() that returns its report. */
async function chatProcess(latency: number): Promise<{ baseURL: string; stop: () => Promise<ChatServerReport> }> {
  const child = spawn(process.execPath, [join(ROOT, "test/bench/chat-server-process.ts"), String(latency)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  while (!out.includes("\n")) {
    if (child.exitCode !== null) throw new Error("the chat server process exited");
    await new Promise((r) => setTimeout(r, 20));
  }
  const baseURL = out.trim();
  const field = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(out)?.[1] ?? 0);
  return {
    baseURL,
    stop: async () => {
      const closed = once(child, "exit");
      child.kill("SIGTERM");
      await closed;
      return { maxInFlight: field("maxInFlight"), requests: field("requests"), cpuMicros: field("cpuMicros") };
    },
  };
}

/** One client run against a fresh chat server process: the client's wall time and CPU, the server's report. */
async function againstChatServer(latency: number, client: (baseURL: string) => Promise<{ wall: number; rssMb: number | null; cpuSeconds: number | null; code: number | null; stderr: string }>): Promise<{ wall: number; rssMb: number | null; cpuSeconds: number | null; server: ChatServerReport }> {
  const chat = await chatProcess(latency);
  const r = await client(chat.baseURL);
  const server = await chat.stop();
  if (r.code !== 0) throw new Error(`client failed: ${r.stderr}`);
  return { ...r, server };
}

/**
 * submit openai-compatible at concurrency 64 and 512 against a 50 ms server in another process,
 * beside two baselines of the same run: the ideal (concurrency / latency) and a bare undici client
 * at the same concurrency (test/bench/bare-chat-client.ts: what a client can reach on this
 * machine, whose cores the server shares). Each row notes the client's and the server's CPU time
 * per request. The submit rows run with `--no-cache` (the sending path alone); one more row at
 * c=512 runs with the request cache on, in a fresh cache directory (every line a miss and stored).
 */
export async function direct(): Promise<BenchRow[]> {
  mkdirSync(DATA, { recursive: true });
  const n = env("BENCH_DIRECT_REQUESTS", 20_000);
  const latency = 50;
  const path = join(DATA, `direct-${n}.jsonl`);
  if (!existsSync(path)) requests(path, n);
  console.log(`direct: ${n} requests, chat server answering after ${latency} ms (in its own process)`);
  const rows: BenchRow[] = [];
  const perRequest = (seconds: number | null) => (seconds === null ? "n/a" : ((seconds * 1e6) / n).toFixed(0));
  const note = (r: { cpuSeconds: number | null; server: ChatServerReport }) =>
    `max in flight ${r.server.maxInFlight}; client CPU ${perRequest(r.cpuSeconds)} us/request; server CPU ${(r.server.cpuMicros / Math.max(1, r.server.requests)).toFixed(0)} us/request`;
  const submit = (concurrency: number, cache: "off" | "fresh", cli = CLI) => async (baseURL: string) => {
    const out = join(DATA, `direct-out-${concurrency}.jsonl`);
    const cacheDir = join(DATA, "direct-cache");
    for (const f of [out, `${out}.sha256.jsonl`, `${out}.partial.jsonl`, `${out}.cache`, cacheDir]) rmSync(f, { recursive: true, force: true });
    const args = ["submit", "openai-compatible", path, "-o", out, "--base-url", baseURL, "--concurrency", String(concurrency), "-q", ...(cache === "off" ? ["--no-cache"] : [])];
    const r = await run(args, cache === "fresh" ? { BATCHLINE_CACHE: cacheDir } : {}, false, cli).done;
    if (r.code === 0) {
      const lines = readFileSync(out, "utf8").split("\n").filter(Boolean).length;
      if (lines !== n) throw new Error(`expected ${n} output lines, got ${lines}`);
    }
    for (const f of [out, `${out}.sha256.jsonl`, `${out}.cache`, cacheDir]) rmSync(f, { recursive: true, force: true });
    return r;
  };
  for (const concurrency of [64, 512]) {
    const ideal = concurrency / (latency / 1000);
    const idealName = `ideal c=${concurrency}`;
    rows.push({ section: "direct", name: idealName, value: ideal, unit: "req/s", note: "concurrency / latency" });
    const bare = await againstChatServer(latency, (baseURL) => run([path, baseURL, String(concurrency)], {}, false, join(ROOT, "test/bench/bare-chat-client.ts")).done);
    process.stderr.write(`  bare undici c=${concurrency}: ${bare.wall.toFixed(2)} s, ${(n / bare.wall).toFixed(0)} req/s\n`);
    rows.push({ section: "direct", name: `bare undici client c=${concurrency}`, value: n / bare.wall, unit: "req/s", baseline: idealName, rssMb: bare.rssMb, note: note(bare) });
    const r = await againstChatServer(latency, submit(concurrency, "off"));
    process.stderr.write(`  openai-compatible c=${concurrency}: ${r.wall.toFixed(2)} s, ${(n / r.wall).toFixed(0)} req/s\n`);
    // The target is the issue's: a share of the ideal. The bare client's row shows what this machine allows.
    rows.push({ section: "direct", name: `openai-compatible c=${concurrency} --no-cache`, value: n / r.wall, unit: "req/s", baseline: idealName, ...(concurrency === 512 ? { target: 0.8 } : {}), rssMb: r.rssMb, note: note(r) });
    if (concurrency === 512) {
      const cached = await againstChatServer(latency, submit(concurrency, "fresh"));
      process.stderr.write(`  openai-compatible c=${concurrency} (cache on): ${cached.wall.toFixed(2)} s, ${(n / cached.wall).toFixed(0)} req/s\n`);
      rows.push({ section: "direct", name: `openai-compatible c=${concurrency}, cache on (all misses)`, value: n / cached.wall, unit: "req/s", baseline: idealName, rssMb: cached.rssMb, note: note(cached) });
      // BENCH_BEFORE=<another build's dist/src/cli/main.js>: the same two submits with that build, in this run.
      const before = process.env.BENCH_BEFORE;
      if (before) {
        for (const cache of ["off", "fresh"] as const) {
          const b = await againstChatServer(latency, submit(concurrency, cache, resolve(before)));
          const name = cache === "off" ? `openai-compatible c=${concurrency} --no-cache (before)` : `openai-compatible c=${concurrency}, cache on (all misses) (before)`;
          process.stderr.write(`  ${name}: ${b.wall.toFixed(2)} s, ${(n / b.wall).toFixed(0)} req/s\n`);
          rows.push({ section: "direct", name, value: n / b.wall, unit: "req/s", baseline: idealName, rssMb: b.rssMb, note: note(b) });
        }
      }
    }
  }
  return rows;
}

/** serve --replay + submit openai-batch on BENCH_BATCH_LINES lines: lines/s end to end. */
export async function batch(): Promise<BenchRow[]> {
  mkdirSync(DATA, { recursive: true });
  const n = env("BENCH_BATCH_LINES", 100_000);
  const path = join(DATA, `batch-${n}.jsonl`);
  const replay = join(DATA, `batch-${n}.replay.jsonl`);
  if (!existsSync(path) || !existsSync(replay)) {
    requests(path, n);
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = `bench__repo-${i}__pass${i % 4}`;
      lines.push(JSON.stringify({ id: `r${i}`, custom_id: id, response: { status_code: 200, request_id: `q${i}`, body: { choices: [{ index: 0, message: { role: "assistant", content: `answer ${i}: ` + "x".repeat(400) }, finish_reason: "stop" }], usage: { prompt_tokens: 30, completion_tokens: 100, total_tokens: 130 } } }, error: null }));
    }
    writeFileSync(replay, lines.join("\n") + "\n");
  }
  const out = join(DATA, "batch-out.jsonl");
  for (const f of [out, `${out}.state.json`]) rmSync(f, { force: true });
  rmSync(`${out}.chunks`, { recursive: true, force: true });
  const serve = run(["serve", "--replay", replay, "--concurrency", "64", "-q"], {}, true);
  while (!serve.stdout().includes("\n")) await new Promise((r) => setTimeout(r, 20));
  const url = serve.stdout().trim();
  const submit = await run(["submit", "openai-batch", path, "-o", out, "--poll-interval", "0.2", "--max-poll-interval", "1", "-q"], { OPENAI_API_KEY: "bench", OPENAI_BASE_URL: url }).done;
  process.kill(-serve.child.pid!, "SIGINT");
  const s = await serve.done;
  if (submit.code !== 0) throw new Error(`submit failed: ${submit.stderr}`);
  const outLines = readFileSync(out, "utf8").split("\n").filter(Boolean).length;
  if (outLines !== n) throw new Error(`expected ${n} output lines, got ${outLines}`);
  process.stderr.write(`  batch: ${submit.wall.toFixed(2)} s, serve peak RSS ${s.rssMb?.toFixed(0) ?? "n/a"} MB\n`);
  for (const f of [out, `${out}.state.json`]) rmSync(f, { force: true });
  rmSync(`${out}.chunks`, { recursive: true, force: true });
  return [
    { section: "batch", name: `submit openai-batch (${n} lines, serve --replay)`, value: n / submit.wall, unit: "lines/s", rssMb: submit.rssMb, note: `serve peak RSS ${s.rssMb?.toFixed(0) ?? "n/a"} MB; no baseline` },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const only = process.env.BENCH_ONLY;
  printTable([...(!only || only === "direct" ? await direct() : []), ...(!only || only === "batch" ? await batch() : [])]);
}
