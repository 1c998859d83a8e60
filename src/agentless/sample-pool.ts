/**
 * proc_step2's worker threads: `buildSample` jobs on a pool, with each repository file sent to
 * the workers once instead of with every job. Every pass of an instance edits the same few files,
 * so the structured clone of whole files (the main thread's largest cost when every job carried
 * them) happens once per file and worker. The workers keep what they were sent until the main
 * thread tells them to drop it: at most FILE_CACHE_CHARS of text, oldest first, never a file a
 * job in flight still needs. Jobs go out in batches (those started in one turn of the event loop,
 * at most JOBS_PER_MESSAGE each), so a worker gets several per message and wakes up less often.
 */
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { WorkerPool } from "../internal/worker-pool.ts";
import type { SampleJob, SampleResult } from "./build-sample.ts";

/** A job as it travels: `files` and `allRepoPaths` are replaced by the ids of cache entries. */
export interface WireJob extends Omit<SampleJob, "files" | "allRepoPaths"> {
  fileIds: Record<string, string | null>;
  allRepoPathsId?: string;
}

/** What the workers are told besides jobs: entries to keep (id -> file text or path list), ids to drop. */
export type CacheMessage = { cache: [string, string | string[]][] } | { drop: string[] };

/** One job's outcome in a batch's answer: its result, or the error's stack. */
export type BatchOutcome = { result: SampleResult } | { error: string };

const FILE_CACHE_CHARS = 4 * 1024 * 1024;
const JOBS_PER_MESSAGE = 4;
const WORKER_YOUNG_MB = 8;

interface Queued {
  wire: WireJob;
  resolve: (result: SampleResult) => void;
  reject: (err: Error) => void;
}

interface Entry {
  chars: number;
  inUse: number;
}

export class SamplePool {
  readonly #pool: WorkerPool<WireJob[], BatchOutcome[]>;
  #queued: Queued[] = [];
  /** What every worker holds, oldest first. */
  readonly #sent = new Map<string, Entry>();
  #chars = 0;
  #unshared = 0;
  readonly #limit: number;

  /** `cacheChars`: how much file text the workers keep (default 4 Mi characters; a file sent again costs little). */
  constructor(workers: number, options: { cacheChars?: number } = {}) {
    this.#limit = options.cacheChars ?? FILE_CACHE_CHARS;
    const ext = extname(fileURLToPath(import.meta.url)); // .ts from src/, .js from dist/
    // A small young generation: a job's garbage is short-lived, and each worker's heap would otherwise grow to some 60 MB.
    this.#pool = new WorkerPool<WireJob[], BatchOutcome[]>(new URL(`./build-sample-worker${ext}`, import.meta.url), workers, { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } });
  }

  /** Builds one sample on a worker. */
  async build(job: SampleJob): Promise<SampleResult> {
    // A job without a source shares nothing: its entries get ids of their own, dropped when it is done.
    const source = job.source ?? `\u0001${this.#unshared++}`;
    const fresh: [string, string | string[]][] = [];
    const used: string[] = [];
    const keep = (id: string, value: string | string[], chars: number) => {
      let entry = this.#sent.get(id);
      if (!entry) {
        this.#sent.set(id, (entry = { chars, inUse: 0 }));
        this.#chars += chars;
        fresh.push([id, value]);
      }
      entry.inUse++;
      used.push(id);
      return id;
    };
    const { files, allRepoPaths, ...rest } = job;
    const wire: WireJob = { ...rest, fileIds: {} };
    for (const [key, text] of Object.entries(files)) wire.fileIds[key] = text === null ? null : keep(`${source}\u0000${key}`, text, text.length);
    if (allRepoPaths) wire.allRepoPathsId = keep(`${source}\u0000`, allRepoPaths, allRepoPaths.reduce((n, p) => n + p.length, 0));
    if (fresh.length > 0) this.#pool.broadcast({ cache: fresh } satisfies CacheMessage);
    try {
      return await new Promise<SampleResult>((resolve, reject) => {
        if (this.#queued.length === 0) setImmediate(() => this.#send());
        this.#queued.push({ wire, resolve, reject });
      });
    } finally {
      for (const id of used) this.#sent.get(id)!.inUse--;
      this.#evict(job.source === undefined ? used : []);
    }
  }

  /** Sends the jobs queued in this turn, JOBS_PER_MESSAGE to a message. */
  #send(): void {
    const queued = this.#queued;
    this.#queued = [];
    for (let i = 0; i < queued.length; i += JOBS_PER_MESSAGE) {
      const batch = queued.slice(i, i + JOBS_PER_MESSAGE);
      this.#pool.run(batch.map((q) => q.wire)).then(
        (outcomes) =>
          batch.forEach((q, k) => {
            const o = outcomes[k]!;
            if ("result" in o) q.resolve(o.result);
            else q.reject(new Error(`worker failed: ${o.error}`));
          }),
        (err: Error) => batch.forEach((q) => q.reject(err)),
      );
    }
  }

  /** Drops the oldest entries no job needs until the cache is under its size (and `now`, when free). */
  #evict(now: readonly string[]): void {
    const drop: string[] = [];
    const forget = (id: string, entry: Entry) => {
      this.#sent.delete(id);
      this.#chars -= entry.chars;
      drop.push(id);
    };
    for (const id of now) {
      const entry = this.#sent.get(id);
      if (entry && entry.inUse === 0) forget(id, entry);
    }
    for (const [id, entry] of this.#sent) {
      if (this.#chars <= this.#limit) break;
      if (entry.inUse === 0) forget(id, entry);
    }
    if (drop.length > 0) this.#pool.broadcast({ drop } satisfies CacheMessage);
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
