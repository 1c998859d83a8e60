/**
 * ReplayIndex (src/internal/replay-index.ts): the byte scan for successes when it indexes a file,
 * and the read-ahead when lookups go through the file in about its order, give each line's text
 * exactly as in the file, whatever the order of the lookups.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ReplayIndex, latestAnswer } from "../src/internal/replay-index.ts";
import { tempDir } from "./helpers.ts";

const ok = (id: string, content: string) => JSON.stringify({ id: `r-${id}`, custom_id: id, response: { status_code: 200, request_id: "q", body: { choices: [{ message: { content } }] } }, error: null });
const failed = (id: string) => JSON.stringify({ id: `r-${id}`, custom_id: id, response: null, error: { code: "server_error", message: "x" } });

describe("ReplayIndex", () => {
  it("returns every line's text, in file order, shuffled, and near file order", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const lines: string[] = [];
      const expected = new Map<string, string>();
      for (let i = 0; i < 3000; i++) {
        const id = `inst-${i}__pass0`;
        // some lines long (beyond the read-ahead block), some with escapes and unicode, some failures then successes
        const content = i % 500 === 7 ? "y".repeat(300_000) : `answer ${i} “é” \\"quoted\\" ${"x".repeat(i % 200)}`;
        if (i % 10 === 3) lines.push(failed(id));
        const text = i % 13 === 5 ? failed(id) : ok(id, content);
        lines.push(text);
        expected.set(id, text);
      }
      const file = join(dir, "out.jsonl");
      // CRLF endings on some lines, a blank line, a BOM
      await writeFile(file, "\uFEFF" + lines.map((l, i) => (i % 7 === 0 ? `${l}\r\n` : `${l}\n`)).join("") + "\n");
      const index = await ReplayIndex.open(file);
      try {
        const ids = [...expected.keys()];
        const orders = [
          ids,
          [...ids].reverse(),
          ids.map((id, i) => [id, i + ((i * 7919) % 600) - 300] as const).sort((a, b) => a[1] - b[1]).map(([id]) => id),
          ids.map((id, i) => [id, (i * 104729) % ids.length] as const).sort((a, b) => a[1] - b[1]).map(([id]) => id),
        ];
        for (const order of orders) for (const id of order) assert.equal(await index.getText(id), expected.get(id), id);
        const some = await Promise.all(ids.slice(0, 50).map((id) => index.getText(id)));
        assert.deepEqual(some, ids.slice(0, 50).map((id) => expected.get(id)));
        assert.equal(index.succeeded("inst-3__pass0"), true);
        assert.equal(index.succeeded("inst-5__pass0"), false);
        assert.deepEqual(await latestAnswer([index], "inst-3__pass0"), { text: expected.get("inst-3__pass0"), ok: true });
      } finally {
        await index.close();
      }
    } finally {
      await cleanup();
    }
  });

  it("refuses a line that is not a batch output line, naming it", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const file = join(dir, "bad.jsonl");
      await writeFile(file, `${ok("a", "x")}\n{"id":"r","custom_id":"b","response":{"status_code":200},"error":null}\n`);
      await assert.rejects(ReplayIndex.open(file), /bad\.jsonl:2\b/);
    } finally {
      await cleanup();
    }
  });
});
