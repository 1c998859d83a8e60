/**
 * The parse ceiling (ceiling.ts) split over N worker threads: the least work a parallel JSONL
 * rewrite can do in Node. Reads the whole file, cuts it into N runs of whole lines, and each
 * worker decodes, JSON.parse + JSON.stringify's and UTF-8 encodes its lines into one buffer; the
 * buffers are written in order. No validation, no streaming, no batches: what it takes over
 * ceiling.ts is the bound for `requests rewrite --workers N` against the same ceiling.
 * Prints the wall and CPU seconds and each worker's own seconds on stderr.
 *
 * Usage: node test/bench/ceiling-threads.ts <in.jsonl> <out.jsonl> [threads=2]
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

if (isMainThread) {
  const [input, output, threadsArg] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write("usage: node test/bench/ceiling-threads.ts <in.jsonl> <out.jsonl> [threads=2]\n");
    process.exit(2);
  }
  const threads = Number(threadsArg ?? 2);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  // One read into shared memory: the workers read their runs in place.
  const inFd = openSync(input, "r");
  const shared = new SharedArrayBuffer(fstatSync(inFd).size);
  const bytes = Buffer.from(shared);
  for (let at = 0, n; at < bytes.length; at += n) if ((n = readSync(inFd, bytes, at, bytes.length - at, null)) === 0) break;
  closeSync(inFd);
  const runs: { shared: SharedArrayBuffer; start: number; end: number }[] = [];
  let start = 0;
  for (let i = 1; i <= threads && start < bytes.length; i++) {
    const nl = i === threads ? -1 : bytes.indexOf(10, Math.floor((bytes.length * i) / threads));
    const end = nl === -1 ? bytes.length : nl + 1;
    runs.push({ shared, start, end });
    start = end;
  }
  const results = await Promise.all(
    runs.map(
      (run) =>
        new Promise<{ out: Uint8Array; seconds: number }>((resolve, reject) => {
          const worker = new Worker(new URL(import.meta.url), { workerData: run });
          worker.once("message", resolve);
          worker.once("error", reject);
        }),
    ),
  );
  const fd = openSync(output, "w");
  for (const r of results) writeSync(fd, r.out);
  closeSync(fd);
  const cpu = process.cpuUsage(cpu0);
  process.stderr.write(`ceiling-threads: ${threads} threads, wall ${((performance.now() - t0) / 1000).toFixed(2)} s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (system ${(cpu.system / 1e6).toFixed(2)}), per worker ${results.map((r) => r.seconds.toFixed(2)).join(", ")} s\n`);
} else {
  const run = workerData as { shared: SharedArrayBuffer; start: number; end: number };
  const bytes = Buffer.from(run.shared, run.start, run.end - run.start);
  const t0 = performance.now();
  let out = Buffer.allocUnsafeSlow(bytes.length + (bytes.length >> 3) + 4096);
  let length = 0;
  for (let at = 0; at < bytes.length; ) {
    let nl = bytes.indexOf(10, at);
    if (nl === -1) nl = bytes.length;
    if (nl > at) {
      const text = JSON.stringify(JSON.parse(bytes.toString("utf8", at, nl)));
      if (out.length - length < text.length * 3 + 1) {
        const grown = Buffer.allocUnsafeSlow(out.length * 2 + text.length * 3);
        out.copy(grown, 0, 0, length);
        out = grown;
      }
      length += out.write(text, length);
      out[length++] = 10;
    }
    at = nl + 1;
  }
  const result = new Uint8Array(out.buffer, 0, length);
  parentPort!.postMessage({ out: result, seconds: (performance.now() - t0) / 1000 }, [out.buffer as ArrayBuffer]);
}
