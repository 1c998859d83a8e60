/**
 * The `k` values with the smallest scores seen so far (ties broken by the smaller value), in
 * O(k) memory: a binary max-heap on (score, value). Used for seeded subsets of a stream.
 */
export class SmallestK {
  private readonly heap: Array<[number, number]> = [];
  private readonly k: number;
  constructor(k: number) {
    this.k = k;
  }

  /** Offers `value` with `score`; it is kept if it is among the k smallest so far. */
  offer(score: number, value: number): void {
    if (this.k <= 0) return;
    const heap = this.heap;
    if (heap.length < this.k) {
      heap.push([score, value]);
      this.up(heap.length - 1);
    } else if (less([score, value], heap[0]!)) {
      heap[0] = [score, value];
      this.down(0);
    }
  }

  /** The values kept. */
  values(): Set<number> {
    return new Set(this.heap.map(([, v]) => v));
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < h.length && less(h[top]!, h[l]!)) top = l;
      if (r < h.length && less(h[top]!, h[r]!)) top = r;
      if (top === i) return;
      [h[top], h[i]] = [h[i]!, h[top]!];
      i = top;
    }
  }
}

function less(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}
