/**
 * The request cache's key must not change between versions: a cache filled by an earlier batchline
 * is only useful if the same request gets the same key. canonicalJson's fast way is checked against
 * its definition (keys sorted at every depth, pieces joined) on values that the fast way can get
 * wrong, and two keys are pinned to what the earlier implementation computed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalJson, joinedCanonicalJson, keyMaterial, keyOf, parseKeyIgnore } from "../src/cache/request-key.ts";

const SCOPE = { backend: "openai-compatible", baseURL: "http://127.0.0.1:8000/v1" };

describe("request cache key", () => {
  it("canonicalJson sorts keys at every depth, including integer-like keys, __proto__, undefined values and unicode", () => {
    const values: unknown[] = [
      null,
      undefined,
      1.5,
      "x\u2028\ud800",
      [],
      {},
      [undefined, 1, [undefined]],
      { b: 1, a: 2, c: undefined },
      { logit_bias: { "50256": -100, "9": 1, "10": 2, "01": 3, "-1": 4 } },
      { nested: [{ "2": "b", "1": "a", z: 1 }] },
      JSON.parse('{"__proto__": {"b": 1, "a": 2}, "a": 0}'),
      { "": 1, " ": 2, é: 3, e: 4, Z: 5, "\u{1F600}": 6, "\uFFFF": 7 },
      { model: "m", messages: [{ role: "user", content: "hi \"there\"\n" }], max_tokens: 5, temperature: 0, stop: null },
    ];
    for (const v of values) assert.equal(canonicalJson(v), joinedCanonicalJson(v), JSON.stringify(v));
    assert.equal(canonicalJson({ b: { "10": 1, "9": 2 }, a: 1 }), '{"a":1,"b":{"10":1,"9":2}}');
  });

  it("keys stay the ones earlier versions stored under", () => {
    const body = { model: "deepseek-ai/DeepSeek-V3.2", messages: [{ role: "system", content: "Fix it." }, { role: "user", content: "def f(x):\n    return x + 1  # “é” \u2028" }], max_tokens: 1024, temperature: 1, logit_bias: { "50256": -100, "9": 1, "10": 2 }, metadata: { z: null, a: [1, { y: 2, x: [] }] } };
    const request = { custom_id: "django__django-11099__pass3", method: "POST", url: "/v1/chat/completions", body };
    assert.equal(keyOf(keyMaterial(request, SCOPE, parseKeyIgnore(undefined))), "5901c23099450fa5a180ab6a9d229647c963636b953c68abc08d65686c4790da");
    const small = { ...request, body: { model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 5 } };
    assert.equal(keyOf(keyMaterial(small, SCOPE, parseKeyIgnore(undefined))), "c878acbfc11b89c05d19eb0f6f30e25537cbd547d542ca0aa96d223ecd3d6b94");
  });
});
