/**
 * A small pool of worker threads running one module's message handler, and `mapOrdered`, which
 * runs async work with a concurrency limit but yields results in input order.
 */
import { type ResourceLimits, type TransferListItem, Worker } from "node:worker_threads";

/** Runs jobs on `size` workers of `moduleUrl`; `run` resolves with the worker's result. */
export class WorkerPool<Job, Result> {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private readonly transfer: ((job: Job) => TransferListItem[]) | undefined;

  /** `workerData` goes to every worker; `transfer` names what of a job moves instead of being copied; `resourceLimits` bound each worker's heap. */
  constructor(moduleUrl: URL, size: number, options: { workerData?: unknown; transfer?: (job: Job) => TransferListItem[]; resourceLimits?: ResourceLimits } = {}) {
    this.transfer = options.transfer;
    for (let i = 0; i < size; i++) {
      const worker = new Worker(moduleUrl, { ...(options.workerData === undefined ? {} : { workerData: options.workerData }), ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}) });
      worker.on("message", (m: { id: number; result?: Result; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        this.release(worker);
        if (!p) return;
        if (m.error !== undefined) p.reject(new Error(`worker failed: ${m.error}`));
        else p.resolve(m.result as Result);
      });
      worker.on("error", (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  private release(worker: Worker): void {
    this.idle.push(worker);
    this.waiting.shift()?.();
  }

  async run(job: Job): Promise<Result> {
    while (this.idle.length === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const worker = this.idle.pop()!;
    const id = this.nextId++;
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, job }, this.transfer?.(job) ?? []);
    });
  }

  /** Posts `message` to every worker, ahead of any job posted after it (a worker reads its messages in order). */
  broadcast(message: unknown): void {
    for (const worker of this.workers) worker.postMessage(message);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Like `mapConcurrent`, but yields results in input order (a window of `limit` in flight). */
export async function* mapOrdered<T, R>(items: AsyncIterable<T> | Iterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const window: Promise<R>[] = [];
  for await (const item of items) {
    const p = fn(item);
    p.catch(() => {}); // surfaced when its turn comes
    window.push(p);
    if (window.length >= limit) yield await window.shift()!;
  }
  while (window.length > 0) yield await window.shift()!;
}
