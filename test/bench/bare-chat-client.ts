/**
 * The bench's minimal client (the `direct` section's baseline): every line of a request file sent
 * as one POST of its `body` through an undici Pool at a fixed concurrency, each answer's body read
 * and parsed, nothing else (no validation, no journal, no output file). What it reaches is what
 * this machine allows a client to reach against the same server, so the table can show how far
 * `submit openai-compatible` is from it.
 *
 * Usage: node test/bench/bare-chat-client.ts <requests.jsonl> <base URL> <concurrency>
 */
import { readFileSync } from "node:fs";
import { Pool } from "undici";

const [file, baseURL, c] = process.argv.slice(2);
const concurrency = Number(c);
const base = new URL(baseURL!);
const path = `${base.pathname.replace(/\/+$/, "")}/chat/completions`;
const bodies = readFileSync(file!, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((line) => JSON.stringify((JSON.parse(line) as { body: unknown }).body));
const pool = new Pool(base.origin, { connections: concurrency, pipelining: 1 });
const headers = { "content-type": "application/json" };
let next = 0;
let ok = 0;
async function worker(): Promise<void> {
  while (next < bodies.length) {
    const body = bodies[next++]!;
    const res = await pool.request({ path, method: "POST", headers, body });
    const answer = JSON.parse(await res.body.text()) as { choices?: unknown[] };
    if (res.statusCode === 200 && answer.choices) ok++;
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
await pool.close();
if (ok !== bodies.length) {
  process.stderr.write(`bare-chat-client: ${bodies.length - ok} of ${bodies.length} requests failed\n`);
  process.exitCode = 1;
}
