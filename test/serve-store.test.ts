/**
 * src/server/serve-store.ts on its own: a batch's answers read while another batch's are read
 * (several batches finalize at once, and each output write awaits between lines).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ServeStore } from "../src/server/serve-store.ts";
import { tempDir } from "./helpers.ts";

test("ServeStore.answers: interleaved readers of two batches each get only their own answers, in arrival order, across pages", async () => {
  const { dir, cleanup } = await tempDir();
  const store = new ServeStore(dir);
  try {
    const n = 2500; // more than one page of answers per batch
    for (let i = 0; i < n; i++) {
      for (const b of ["batch_a", "batch_b"]) store.addAnswer({ id: b }, `${b}-${i}`, i % 7 !== 0, JSON.stringify({ custom_id: `${b}-${i}` }));
    }
    const a = store.answers("batch_a");
    const b = store.answers("batch_b");
    const seen: Record<string, string[]> = { batch_a: [], batch_b: [] };
    for (;;) {
      const x = a.next();
      const y = b.next();
      if (!x.done) seen.batch_a!.push((JSON.parse(x.value.line) as { custom_id: string }).custom_id);
      if (!y.done) seen.batch_b!.push((JSON.parse(y.value.line) as { custom_id: string }).custom_id);
      if (x.done && y.done) break;
      // A third batch's answers and a finished batch's removal happen while both are being read.
      if (seen.batch_a!.length === 1500) store.addAnswer({ id: "batch_c" }, "batch_c-0", true, "{}");
    }
    for (const id of ["batch_a", "batch_b"]) assert.deepEqual(seen[id], Array.from({ length: n }, (_, i) => `${id}-${i}`));
    assert.deepEqual([...store.answers("batch_a")].filter((r) => !r.ok).length, Math.ceil(n / 7));
  } finally {
    store.close();
    await cleanup();
  }
});
