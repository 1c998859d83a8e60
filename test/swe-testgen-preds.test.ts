import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadPreds, readPreds, updatePreds } from "../src/swe-testgen/preds-store.ts";
import { ROOT, tempDir } from "./helpers.ts";

/** Runs a child Node process that updates `n` instances of `path`, one lock each, named `<prefix><i>`. */
function writer(path: string, prefix: string, n: number): Promise<number | null> {
  const code = `import { updatePreds } from ${JSON.stringify(join(ROOT, "src/swe-testgen/preds-store.ts"))};
for (let i = 0; i < ${n}; i++) await updatePreds(${JSON.stringify(path)}, ["${prefix}" + i], (id) => ({ instance_id: id, model_test_patch: "diff " + id, meta: { pass_gold_patch_status: "unknow" } }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", resolve);
  });
}

describe("preds.json store", () => {
  it("loses nothing when two processes write different instances at once", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "preds.json");
      const codes = await Promise.all([writer(path, "a__x-", 15), writer(path, "b__y-", 15)]);
      assert.deepEqual(codes, [0, 0]);
      const preds = JSON.parse(await readFile(path, "utf8")) as Record<string, { model_test_patch: string }>;
      assert.equal(Object.keys(preds).length, 30);
      for (let i = 0; i < 15; i++) {
        assert.equal(preds[`a__x-${i}`]?.model_test_patch, `diff a__x-${i}`);
        assert.equal(preds[`b__y-${i}`]?.model_test_patch, `diff b__y-${i}`);
      }
    } finally {
      await cleanup();
    }
  });

  it("reads files the original wrote, quirks included, and keeps fields it does not know", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "preds.json");
      const original = {
        "django__django-11099": {
          instance_id: "django__django-11099",
          model_test_patch: "diff --git a/t.py b/t.py\n",
          stage: [{ stage: "patch_generation", iteration: 1, status: "completed", outputs: "/x" }],
          meta: { hard_code_status: "unknow", pass_gold_patch_status: "unknow", coverage_rate: "unknow", iteration: 1 },
        },
        "sympy__sympy-1": { model_test_patch: "", meta: { pass_gold_patch_status: "success", coverage_rate: 404, uncovered_lines: { "a.py": [[3, "x = 1"]] } }, extra: [1, 2] },
      };
      await writeFile(path, JSON.stringify(original, null, 4));
      const read = await loadPreds(path);
      assert.equal(read.get("sympy__sympy-1")?.meta?.coverage_rate, 404);
      await updatePreds(path, ["django__django-11099"], (_id, old) => ({ ...old, meta: { ...old?.meta, pass_gold_patch_status: "success" } }));
      const after = JSON.parse(await readFile(path, "utf8")) as typeof original;
      assert.equal(after["django__django-11099"].meta.pass_gold_patch_status, "success");
      assert.deepEqual(after["sympy__sympy-1"], original["sympy__sympy-1"]);
      assert.deepEqual(Object.keys(after), Object.keys(original));
      await writeFile(path, '{"a": {"x": 1}, "b": ');
      await assert.rejects(async () => {
        for await (const _ of readPreds(path)) void _;
      }, /not a valid preds.json/);
    } finally {
      await cleanup();
    }
  });
});
