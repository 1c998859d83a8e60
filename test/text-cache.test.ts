import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TextCache } from "../src/internal/text-cache.ts";

describe("TextCache", () => {
  it("makes a value once per text and drops the oldest texts past its size in characters", () => {
    const made: string[] = [];
    const cache = new TextCache<number>(10);
    const get = (text: string) => cache.get(text, (t) => (made.push(t), t.length));
    assert.equal(get("aaaa"), 4);
    assert.equal(get("aaaa"), 4);
    assert.equal(get("bbbbbb"), 6); // 10 characters: both kept
    assert.deepEqual(made, ["aaaa", "bbbbbb"]);
    get("cc"); // 12 characters: "aaaa" goes
    get("bbbbbb");
    get("aaaa");
    assert.deepEqual(made, ["aaaa", "bbbbbb", "cc", "aaaa"]);
    const big = new TextCache<string>(3);
    assert.equal(big.get("longer than the cache", (t) => t.toUpperCase()), "LONGER THAN THE CACHE", "a text over the limit is made, not kept");
  });
});
