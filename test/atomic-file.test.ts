import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openAtomic, openTempFiles, writeFileAtomic } from "../src/core/atomic-file.ts";
import { tempDir, tempLeftovers } from "./helpers.ts";

describe("atomic files", () => {
  it("replaces the target only on commit", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "out.jsonl");
      await writeFile(path, "old\n");
      const file = await openAtomic(path);
      file.stream.write("new\n");
      assert.equal(await readFile(path, "utf8"), "old\n", "target unchanged while writing");
      assert.ok(openTempFiles().has(file.tempPath));
      await file.commit();
      assert.equal(await readFile(path, "utf8"), "new\n");
      assert.deepEqual(await tempLeftovers(dir), []);
      assert.ok(!openTempFiles().has(file.tempPath));
    } finally {
      await cleanup();
    }
  });

  it("leaves the old file and no temp file when the writer fails midway", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "nested", "out.jsonl");
      await writeFileAtomic(path, "old\n");
      async function* failing() {
        yield "partial line\n";
        throw new Error("upstream broke");
      }
      await assert.rejects(writeFileAtomic(path, failing()), /upstream broke/);
      assert.equal(await readFile(path, "utf8"), "old\n");
      assert.deepEqual(await tempLeftovers(join(dir, "nested")), []);
    } finally {
      await cleanup();
    }
  });

  it("refuses a target that is a directory with one line, leaving no temp file, and removes its temp file when the rename fails", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await mkdir(join(dir, "adir"));
      await assert.rejects(writeFileAtomic(join(dir, "adir"), "x\n"), /output is a directory, expected a file path \(.*adir\)/);
      assert.deepEqual(await tempLeftovers(dir), []);
      // A directory that appears at the target while the file is written: the commit fails, and cleans up.
      const path = join(dir, "late");
      const file = await openAtomic(path);
      file.stream.write("x\n");
      await mkdir(path);
      await writeFile(join(path, "keep"), "");
      await assert.rejects(file.commit());
      assert.deepEqual(await tempLeftovers(dir), []);
      assert.ok(!openTempFiles().has(file.tempPath));
    } finally {
      await cleanup();
    }
  });
});
