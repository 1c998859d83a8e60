/**
 * One upstream concurrency limit shared by every running batch of `batchline serve`. A freed slot
 * goes to the next batch, in creation order, after the one served last (round robin), so the
 * oldest batch is first in line and still every running batch keeps making progress.
 */
export class FairLimiter {
  readonly limit: number;
  private free: number;
  /** Batch order -> its callers waiting for a slot. */
  private readonly waiting = new Map<number, (() => void)[]>();
  /** The orders in `waiting`, ascending. */
  private readonly orders: number[] = [];
  private last = -Infinity;
  inFlight = 0;
  maxInFlight = 0;

  constructor(limit: number) {
    if (!(limit >= 1)) throw new Error(`FairLimiter: limit must be >= 1, got ${limit}`);
    this.limit = limit;
    this.free = limit;
  }

  /** Waits for a slot for the batch of creation order `order`; call `release` once done. */
  acquire(order: number): Promise<void> {
    if (this.free > 0 && this.orders.length === 0) {
      this.free--;
      this.take(order);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let queue = this.waiting.get(order);
      if (!queue) {
        queue = [];
        this.waiting.set(order, queue);
        let i = this.orders.length;
        while (i > 0 && this.orders[i - 1]! > order) i--;
        this.orders.splice(i, 0, order);
      }
      queue.push(() => {
        this.take(order);
        resolve();
      });
    });
  }

  release(): void {
    this.inFlight--;
    if (this.orders.length === 0) {
      this.free++;
      return;
    }
    let i = this.orders.findIndex((o) => o > this.last);
    if (i < 0) i = 0;
    const order = this.orders[i]!;
    const queue = this.waiting.get(order)!;
    const next = queue.shift()!;
    if (queue.length === 0) {
      this.waiting.delete(order);
      this.orders.splice(i, 1);
    }
    next();
  }

  /** Callers waiting for a slot, across all batches. */
  get queued(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  private take(order: number): void {
    this.last = order;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
  }
}
