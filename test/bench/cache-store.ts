/**
 * The request cache's store, measured: SQLite (src/cache/response-cache.ts, what batchline uses)
 * against content-addressed atomic files (one `<key[0..2]>/<key>.json` per answer, written to a
 * temp file and renamed), on N entries (BENCH_CACHE_N, default 100 000) of a typical chat answer
 * (~1.2 KB answer line + ~0.6 KB key material, words of pseudo-random text). Figures: writing all N, N hit lookups in random
 * order, N miss lookups, bytes on disk (`du`, blocks, not apparent sizes). Run it under the lock:
 *
 *   flock /tmp/batchline-heavy.lock npx node test/bench/cache-store.ts
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResponseCache } from "../../src/cache/response-cache.ts";
import { keyOf } from "../../src/cache/request-key.ts";

const N = Number(process.env.BENCH_CACHE_N ?? 100_000);
const root = mkdtempSync(join(tmpdir(), "bl-cache-bench-"));

// Text of pseudo-random words (mulberry32, fixed seed): it compresses like prose, unlike a padding of one letter.
let seed = 1;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const words = Array.from({ length: 2000 }, (_, i) => Math.floor(random() * 1e9).toString(36).slice(0, 3 + (i % 7)));
function text(chars: number): string {
  let s = "";
  while (s.length < chars) s += `${words[Math.floor(random() * words.length)]} `;
  return s.slice(0, chars);
}
function material(i: number): string {
  return JSON.stringify({ backend: "openai-batch", base_url: null, body: { max_tokens: 1024, messages: [{ content: text(500), role: "user" }], model: "gpt-4o-mini", temperature: 0.8 }, method: "POST", pass: i % 4, url: "/v1/chat/completions", v: 1 });
}
function answer(i: number): string {
  return JSON.stringify({ id: `batch_req_${i}`, custom_id: `inst-${i}__pass${i % 4}`, response: { status_code: 200, request_id: `req_${i}`, body: { id: `chatcmpl-${i}`, object: "chat.completion", created: 1_700_000_000, model: "gpt-4o-mini", choices: [{ index: 0, message: { role: "assistant", content: text(900) }, finish_reason: "stop" }], usage: { prompt_tokens: 150, completion_tokens: 240, total_tokens: 390 } } }, error: null });
}

const materials = Array.from({ length: N }, (_, i) => material(i));
const answers = Array.from({ length: N }, (_, i) => answer(i));
const keys = materials.map(keyOf);
const payloadMb = (materials.reduce((n, m) => n + Buffer.byteLength(m), 0) + answers.reduce((n, a) => n + Buffer.byteLength(a), 0)) / 1048576;
const order = keys.map((_, i) => i).sort(() => Math.random() - 0.5);
const duKb = (dir: string) => Number(spawnSync("du", ["-sk", dir], { encoding: "utf8" }).stdout.split("\t")[0]);
const time = (f: () => void) => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

const rows: Record<string, Record<string, number>> = {};

// SQLite: putMany in transactions of 500 (as a submit stores its successes), get by key; with the
// cache's 16 KiB pages and with SQLite's default 4 KiB.
for (const [name, pageSize] of [["sqlite", 16384], ["sqlite-4k", 4096]] as const) {
  const dir = join(root, name);
  const cache = ResponseCache.open(dir, pageSize);
  const write = time(() => {
    for (let start = 0; start < N; start += 500) {
      const batch = [];
      for (let i = start; i < Math.min(N, start + 500); i++) batch.push({ key: keys[i]!, material: materials[i]!, answer: answers[i]!, backend: "openai-batch", model: "gpt-4o-mini" });
      cache.putMany(batch);
    }
  });
  let found = 0;
  const hits = time(() => {
    for (const i of order) if (cache.get(keys[i]!) !== undefined) found++;
  });
  const misses = time(() => {
    for (let i = 0; i < N; i++) if (cache.get(keyOf(`miss ${i}`)) !== undefined) found = -1;
  });
  if (found !== N) throw new Error(`${name}: ${found} of ${N} found`);
  cache.close();
  ResponseCache.open(dir).close(); // the last close checkpoints the WAL into the database
  rows[name] = { write, hits, misses, diskMb: duKb(dir) / 1024 };
}

// Content-addressed atomic files: <dir>/<key[0..2]>/<key>.json, temp file + rename; get = read the file.
{
  const dir = join(root, "files");
  const write = time(() => {
    for (let i = 0; i < N; i++) {
      const key = keys[i]!;
      const sub = join(dir, key.slice(0, 2));
      mkdirSync(sub, { recursive: true });
      const tmp = join(sub, `.${key}.tmp-${process.pid}`);
      writeFileSync(tmp, JSON.stringify({ request: materials[i]!, answer: answers[i]! }));
      renameSync(tmp, join(sub, `${key}.json`));
    }
  });
  let found = 0;
  const read = (key: string) => {
    try {
      return readFileSync(join(dir, key.slice(0, 2), `${key}.json`), "utf8");
    } catch {
      return undefined;
    }
  };
  const hits = time(() => {
    for (const i of order) if (read(keys[i]!) !== undefined) found++;
  });
  const misses = time(() => {
    for (let i = 0; i < N; i++) if (read(keyOf(`miss ${i}`)) !== undefined) found = -1;
  });
  if (found !== N) throw new Error(`files: ${found} of ${N} found`);
  rows.files = { write, hits, misses, diskMb: duKb(dir) / 1024 };
}

rmSync(root, { recursive: true, force: true });
const f = (n: number) => n.toFixed(2);
process.stdout.write(`request cache store, ${N} entries (answer ~1.2 KB, key material ~0.6 KB; ${payloadMb.toFixed(1)} MB of text in all)\n`);
process.stdout.write(`store    write s   entries/s   hit lookups s   hits/s   miss lookups s   disk MB\n`);
for (const [name, r] of Object.entries(rows)) {
  process.stdout.write(`${name.padEnd(8)} ${f(r.write!).padStart(7)}   ${Math.round(N / r.write!).toString().padStart(9)}   ${f(r.hits!).padStart(13)}   ${Math.round(N / r.hits!).toString().padStart(6)}   ${f(r.misses!).padStart(14)}   ${f(r.diskMb!).padStart(7)}\n`);
}
process.stdout.write(`files/sqlite: write ${f(rows.files!.write! / rows.sqlite!.write!)}x the time, hits ${f(rows.files!.hits! / rows.sqlite!.hits!)}x, disk ${f(rows.files!.diskMb! / rows.sqlite!.diskMb!)}x\n`);
