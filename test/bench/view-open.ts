/**
 * How fast `batchline view` opens a big file, and in how much memory (alone, under the shared
 * lock: `flock /tmp/batchline-heavy.lock node test/bench/view-open.ts`). Generates a batch output
 * file of BENCH_VIEW_MB (default 2048) MB in test/bench/data/ (lines of ~BENCH_VIEW_LINE_KB KB,
 * default 10), then through the CLI, for the file alone and for a workdir holding it as
 * step2_output.jsonl (a hard link): the time until the URL is printed, the time of a page from the
 * middle, of one instance page, of a search for a token on one line near the end, and the
 * process's peak RSS (VmHWM) at the end. The file is kept for re-runs; delete test/bench/data/.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, ROOT } from "../helpers.ts";

const MB = Number(process.env.BENCH_VIEW_MB ?? 2048);
const LINE_KB = Number(process.env.BENCH_VIEW_LINE_KB ?? 10);
const DATA = join(ROOT, "test/bench/data");
const FILE = join(DATA, `view-${MB}mb.jsonl`);
const NEEDLE = "needle-near-the-end";

function line(i: number, filler: string, needle: boolean): string {
  const id = `org__repo-${Math.floor(i / 4)}__pass${i % 4}`;
  const content = `${needle ? NEEDLE : ""}<think>${filler}</think>\n\`\`\`python\n### a.py\n<<<<<<< SEARCH\nx = ${i}\n=======\nx = ${i + 1}\n>>>>>>> REPLACE\n\`\`\`\n`;
  return JSON.stringify({ id: `batch_req_${i}`, custom_id: id, response: { status_code: 200, request_id: `r${i}`, body: { id: `c${i}`, object: "chat.completion", created: 0, model: "m", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }], usage: { prompt_tokens: 100, completion_tokens: 10 } } }, error: null }) + "\n";
}

async function generate(): Promise<number> {
  if (existsSync(FILE) && statSync(FILE).size >= MB * 1e6) return statSync(FILE).size;
  mkdirSync(DATA, { recursive: true });
  const out = createWriteStream(FILE + ".tmp");
  const filler = "lorem ipsum dolor sit amet ".repeat(Math.ceil((LINE_KB * 1000) / 27)).slice(0, LINE_KB * 1000);
  const lines = Math.ceil((MB * 1e6) / (LINE_KB * 1000 + 400));
  for (let i = 0; i < lines; i++) {
    if (!out.write(line(i, filler, i === Math.floor(lines * 0.9)))) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  rmSync(FILE, { force: true });
  linkSync(FILE + ".tmp", FILE);
  rmSync(FILE + ".tmp");
  return statSync(FILE).size;
}

function startView(target: string): Promise<{ child: ChildProcess; url: string; seconds: number; stderr: () => string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, "view", target], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve({ child, url: out.trim(), seconds: (performance.now() - started) / 1000, stderr: () => err });
    });
    child.on("exit", (code) => reject(new Error(`view exited ${code}: ${err}`)));
  });
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await f();
  return [v, (performance.now() - t) / 1000];
}

function peakRssMB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

const bytes = await generate();
console.log(`file: ${FILE} ${(bytes / 1e6).toFixed(0)} MB`);

{
  // the baseline: the same command on a one-line file
  const tiny = join(DATA, "view-tiny.jsonl");
  writeFileSync(tiny, line(0, "x", false));
  const v = await startView(tiny);
  await fetch(new URL("/api/lines?from=0&n=50", v.url)).then((r) => r.json());
  console.log(`baseline (1 line): URL after ${v.seconds.toFixed(2)} s; peak RSS ${peakRssMB(v.child.pid!).toFixed(0)} MB`);
  v.child.kill("SIGTERM");
  await once(v.child, "exit");
}

{
  const v = await startView(FILE);
  const get = (path: string) => fetch(new URL(path, v.url)).then((r) => r.json());
  const info = (await get("/api/file")) as { records: number };
  const [, page] = await timed(() => get(`/api/lines?from=${Math.floor(info.records / 2)}&n=50`));
  const [found, search] = await timed(() => get(`/api/search?q=${NEEDLE}&limit=5`) as Promise<{ records: unknown[] }>);
  console.log(`jsonl: ${info.records} records; URL after ${v.seconds.toFixed(2)} s (${v.stderr().match(/indexed in [\d.]+ s/)?.[0]}); 50 records from the middle ${(page * 1000).toFixed(0)} ms; search found ${found.records.length} in ${search.toFixed(2)} s; peak RSS ${peakRssMB(v.child.pid!).toFixed(0)} MB`);
  v.child.kill("SIGTERM");
  await once(v.child, "exit");
}

{
  const workdir = join(DATA, "view-workdir");
  rmSync(workdir, { recursive: true, force: true });
  mkdirSync(workdir, { recursive: true });
  linkSync(FILE, join(workdir, "step2_output.jsonl"));
  writeFileSync(join(workdir, "report.json"), JSON.stringify({ pipeline: "agentless-bugfixer", workdir, finishedAt: new Date(0).toISOString(), wallSeconds: 1, steps: {}, stepSeconds: {}, empty: [] }));
  const v = await startView(workdir);
  const get = (path: string) => fetch(new URL(path, v.url)).then((r) => r.json());
  const [rows, table] = await timed(() => get("/api/instances") as Promise<unknown[]>);
  const [detail, instance] = await timed(() => get(`/api/instance?id=org__repo-${Math.floor(rows.length / 2)}`) as Promise<{ passes: unknown[] }>);
  console.log(`workdir: ${rows.length} instances; URL after ${v.seconds.toFixed(2)} s (${v.stderr().match(/indexed in [\d.]+ s/)?.[0]}); instances table ${(table * 1000).toFixed(0)} ms; one instance (${detail.passes.length} passes) ${(instance * 1000).toFixed(0)} ms; peak RSS ${peakRssMB(v.child.pid!).toFixed(0)} MB`);
  v.child.kill("SIGTERM");
  await once(v.child, "exit");
  rmSync(workdir, { recursive: true, force: true });
}
