/**
 * `npm run bench`: every throughput figure of batchline as a ratio against a baseline measured in
 * the same run, printed as one table and written to test/bench/results.json (git-ignored).
 *
 *   startup     the CLI's start-up: --version, slice/validate of a 4-line file, --help; median of
 *               BENCH_STARTUP_RUNS (default 11), against BENCH_BEFORE's build when given (startup.ts)
 *   files       on one generated file of request lines (20-300 KB each, BENCH_MB MiB) and an
 *               output file made from it: the Node stream copy (copy.ts, the I/O ceiling), the
 *               parse+stringify loop (ceiling.ts) and the same split over one thread per core
 *               (ceiling-threads.ts), the Python scripts' way (python_baseline.py);
 *               slice, demux, merge, retry and validate --requests against the copy; requests
 *               rewrite against the parse ceiling.
 *   direct      submit openai-compatible against a 50 ms chat server in another process (submitters.ts)
 *   batch       serve --replay + submit openai-batch (submitters.ts)
 *   proc_step2  2 workers against 1 (agentless.ts)
 *   swe-testgen gold_eval + coverage_eval wall time per instance, --max-eval-workers 2 against 1 (swe-testgen.ts)
 *   json-array  src/datasets/json-array.ts against stream-json on a JSON array of SWE-bench rows (json-array.ts)
 *   syntax_checks  commit-testgen proc's one long-lived python3 against one python3 per script (commit-testgen.ts)
 *   download    one long result line: anthropic-batch's download against openai-batch's (anthropic-download.ts)
 *   serve       serve as a service: restart with 1M stored answers, request latency with 10,000 batches,
 *               throughput through --upstream against the ideal and a plain client (serve.ts)
 *
 * Every child is a separate process timed by wall clock, with peak RSS from /usr/bin/time when it
 * works. Outputs are checked, then deleted. Environment: BENCH_MB (default 120), BENCH_RUNS
 * (best of N, default 1), BENCH_ONLY (comma-separated sections: startup, files, direct, batch, proc_step2,
 * json-array, swe-testgen, syntax_checks, download, serve), BENCH_BEFORE (another build's dist/src/cli/main.js: its slice/merge/stage run as
 * extra "before" rows, for before/after figures in one run). The machine is shared: prefer the
 * ratios to the absolute figures. "MB" is MiB.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, CLI, DATA_DIR, type Timed, TIME, best, printTable, timed } from "./common.ts";
import { ensureBenchInput } from "./generate.ts";
import { TINY_REQUESTS } from "./startup.ts";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const MIB = 1024 * 1024;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw}: expected a positive number`);
  return n;
}

/** Lines and bytes of a file, and whether it ends in `\n`. */
function countLines(path: string): { lines: number; bytes: number; endsWithNewline: boolean } {
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafe(4 * MIB);
  let lines = 0;
  let bytes = 0;
  let last = -1;
  try {
    let n: number;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) {
      bytes += n;
      last = buf[n - 1]!;
      for (let at = buf.indexOf(10); at !== -1 && at < n; at = buf.indexOf(10, at + 1)) lines++;
    }
  } finally {
    closeSync(fd);
  }
  return { lines, bytes, endsWithNewline: last === 10 };
}

function sameBytes(a: string, b: string): boolean {
  return spawnSync("cmp", ["-s", a, b]).status === 0;
}

/**
 * A batch output file answering every line of the request file: the request's prompt comes back
 * as the answer (so lines are as big as the requests); every 10th line is an expired failure.
 */
async function ensureOutputs(requests: string): Promise<string> {
  const path = requests.replace(/\.jsonl$/, ".outputs.jsonl");
  if (existsSync(path) && statSync(path).mtimeMs >= statSync(requests).mtimeMs) return path;
  const fd = openSync(`${path}.tmp`, "w");
  let pending = "";
  let i = 0;
  const emit = (text: string) => {
    if (text.trim() === "") return;
    const req = JSON.parse(text) as { custom_id: string; body: { messages: { content: string }[] } };
    const line =
      i % 10 === 9
        ? { id: `batch_req_${i}`, custom_id: req.custom_id, response: null, error: { code: "batch_expired", message: "This request could not be executed before the completion window expired." } }
        : { id: `batch_req_${i}`, custom_id: req.custom_id, response: { status_code: 200, request_id: `req_${i}`, body: { id: `chatcmpl-${i}`, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: req.body.messages.at(-1)!.content }, finish_reason: "stop" }], usage: { prompt_tokens: 1000, completion_tokens: 1000, total_tokens: 2000 } } }, error: null };
    writeSync(fd, JSON.stringify(line) + "\n");
    i++;
  };
  for await (const chunk of createReadStream(requests, { encoding: "utf8", highWaterMark: 4 * MIB })) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) !== -1) {
      emit(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  emit(pending);
  closeSync(fd);
  spawnSync("mv", [`${path}.tmp`, path]);
  return path;
}

async function files(runs: number, before: string | undefined): Promise<BenchRow[]> {
  const mb = envNumber("BENCH_MB", 120);
  mkdirSync(DATA_DIR, { recursive: true });
  const input = ensureBenchInput(DATA_DIR, mb);
  const outputs = await ensureOutputs(input.path);
  const inMb = input.meta.bytes / MIB;
  const outMb = statSync(outputs).size / MIB;
  console.log(`files: ${input.path} (${inMb.toFixed(1)} MB, ${input.meta.lines} lines) and its outputs (${outMb.toFixed(1)} MB)`);
  const out = join(DATA_DIR, "out.jsonl");
  const outDir = join(DATA_DIR, "out-demux");
  const clean = () => {
    rmSync(out, { force: true });
    rmSync(outDir, { recursive: true, force: true });
  };
  const rows: BenchRow[] = [];
  const mbps = (name: string, megabytes: number, t: Timed, baseline?: string, target?: number, note?: string): BenchRow => {
    const row: BenchRow = { section: "files", name, value: megabytes / t.wall, unit: "MB/s", rssMb: t.rssMb };
    if (baseline) row.baseline = baseline;
    if (target !== undefined) row.target = target;
    if (note) row.note = note;
    rows.push(row);
    return row;
  };
  const run = async (label: string, program: string, args: string[], check?: () => string | undefined) => {
    try {
      return await best(runs, label, () => (clean(), timed(program, args)), check);
    } finally {
      clean();
    }
  };
  const lineCount = (want: number) => () => {
    const c = countLines(out);
    if (!c.endsWithNewline) return "no final newline";
    return c.lines === want ? undefined : `${c.lines} lines, expected ${want}`;
  };
  const identical = (path: string) => () => (sameBytes(out, path) ? undefined : "not byte-identical to the input");
  const failures = Math.floor(input.meta.lines / 10);

  const copy = await run("copy", "node", [join(BENCH_DIR, "copy.ts"), input.path, out], identical(input.path));
  mbps("copy", inMb, copy, undefined, undefined, "Node stream copy: the I/O ceiling");
  const ceiling = await run("ceiling", "node", [join(BENCH_DIR, "ceiling.ts"), input.path, out], lineCount(input.meta.lines));
  mbps("ceiling", inMb, ceiling, "copy", undefined, "read + JSON.parse + JSON.stringify per line: the parse ceiling");
  const threads = Math.min(4, availableParallelism());
  const split = await run("ceiling threads", "node", [join(BENCH_DIR, "ceiling-threads.ts"), input.path, out, String(threads)], lineCount(input.meta.lines));
  mbps(`ceiling on ${threads} threads`, inMb, split, "ceiling", undefined, "the parse ceiling's work split over worker threads (ceiling-threads.ts): the bound for requests rewrite --workers auto");
  if (spawnSync("python3", ["--version"]).status === 0) {
    const py = await run("python", "python3", [join(BENCH_DIR, "python_baseline.py"), input.path, out], lineCount(input.meta.lines));
    mbps("python", inMb, py, "copy", undefined, "json.loads into a dict, json.dumps out (the original scripts)");
  }
  const cliRows = (cli: string, suffix: string) => [
    { name: `slice${suffix}`, mb: inMb, args: [cli, "slice", input.path, "--shard", "0/1", "-o", out, "-q"], check: identical(input.path), baseline: "copy", target: 0.5 },
    { name: `demux${suffix}`, mb: outMb, args: [cli, "demux", outputs, "-d", outDir, "-q"], check: undefined, baseline: "copy", target: 0.5 },
    { name: `merge${suffix}`, mb: outMb, args: [cli, "merge", outputs, "-o", out, "-q"], check: identical(outputs), baseline: "copy", target: 0.5 },
    { name: `retry${suffix}`, mb: inMb + outMb, args: [cli, "retry", input.path, outputs, "-o", out, "-q"], check: lineCount(failures), baseline: "copy", note: "parses every output line (the class needs the answer)" },
    { name: `validate --requests${suffix}`, mb: 2 * outMb + inMb, args: [cli, "validate", outputs, "--kind", "output", "--requests", input.path, "-q"], check: undefined, baseline: "copy", note: "schema pass over the outputs, then the join" },
    { name: `requests rewrite${suffix}`, mb: inMb, args: [cli, "requests", "rewrite", "-i", input.path, "-o", out, "--model", "gpt-4.1-mini", "--max-tokens", "4096", "-q"], check: lineCount(input.meta.lines), baseline: "ceiling", target: 1.5, note: "--workers auto (one per core, up to 4)" },
    { name: `requests rewrite --workers 1${suffix}`, mb: inMb, args: [cli, "requests", "rewrite", "-i", input.path, "-o", out, "--model", "gpt-4.1-mini", "--max-tokens", "4096", "--workers", "1", "-q"], check: lineCount(input.meta.lines), baseline: "ceiling" },
  ];
  // The CLI's start-up (loading its modules) is part of every command's wall time; on a small file it is a large part.
  const startup = await best(runs, "start-up", () => timed("node", [CLI, "slice", TINY_REQUESTS, "--shard", "0/1", "-q"]));
  rows.push({ section: "files", name: "cli start-up (slice of a 4-line file)", value: startup.wall, unit: "s", rssMb: startup.rssMb, note: "included in every command row" });
  const copyMbps = inMb / copy.wall;
  const specs = [...cliRows(CLI, ""), ...(before ? cliRows(before, " (before)").filter((s) => /^(slice|merge|demux|requests rewrite \(before\))/.test(s.name)) : [])];
  for (const s of specs) {
    // validate exits 1 when it finds problems: the expired lines are not problems, so 0 is expected.
    const t = await run(s.name, "node", s.args, s.check);
    const steady = s.baseline === "copy" && t.wall > startup.wall ? `${(s.mb / (t.wall - startup.wall) / copyMbps).toFixed(2)}x copy without start-up` : undefined;
    mbps(s.name, s.mb, t, s.baseline, s.target, [s.note, steady].filter(Boolean).join("; ") || undefined);
  }
  return rows;
}

async function main(): Promise<number> {
  const runs = Math.floor(envNumber("BENCH_RUNS", 1));
  const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((s) => s.trim())) : undefined;
  const want = (section: string) => !only || only.has(section);
  const before = process.env.BENCH_BEFORE || undefined;
  console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? "?"}), peak RSS ${TIME ? "via /usr/bin/time" : "not measured (no GNU time)"}, best of ${runs}`);
  const rows: BenchRow[] = [];
  const errors: string[] = [];
  const section = async (name: string, fn: () => Promise<BenchRow[]>) => {
    if (!want(name)) return;
    try {
      rows.push(...(await fn()));
    } catch (err) {
      errors.push(`${name}: ${(err as Error).message}`);
      process.stderr.write(`bench: ${name}: ${(err as Error).message}\n`);
    }
  };
  await section("startup", async () => (await import("./startup.ts")).startup(before));
  await section("files", () => files(runs, before));
  await section("direct", async () => (await import("./submitters.ts")).direct());
  await section("batch", async () => (await import("./submitters.ts")).batch());
  await section("proc_step2", async () => (await import("./agentless.ts")).procStep2());
  await section("json-array", async () => (await import("./json-array.ts")).jsonArray());
  await section("swe-testgen", async () => (await import("./swe-testgen.ts")).sweTestgenEval());
  await section("syntax_checks", async () => (await import("./commit-testgen.ts")).syntaxChecks());
  await section("download", async () => (await import("./anthropic-download.ts")).anthropicDownload());
  await section("serve", async () => (await import("./serve.ts")).serveBench());
  console.log("");
  printTable(rows);
  const noted = rows.filter((r) => r.note);
  if (noted.length > 0) console.log(`\nnotes:\n${noted.map((r) => `  ${r.section} / ${r.name}: ${r.note}`).join("\n")}`);
  const resultsPath = join(BENCH_DIR, "results.json");
  writeFileSync(resultsPath, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? null, runs, rows, errors }, null, 2) + "\n");
  console.log(`\nresults: ${resultsPath}`);
  if (errors.length > 0) {
    console.log(`bench: ${errors.length} section(s) FAILED (see above)`);
    return 1;
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();
