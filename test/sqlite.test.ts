import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { openDatabase } from "../src/internal/sqlite.ts";

test("openDatabase: WAL mode, two connections see each other's committed rows", async () => {
  const dir = await mkdtemp(join(tmpdir(), "bl-sqlite-"));
  try {
    const path = join(dir, "db.sqlite");
    const a = openDatabase(path);
    const b = openDatabase(path);
    assert.equal((a.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
    a.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)");
    a.prepare("INSERT INTO t VALUES (?, ?)").run("x", "1");
    assert.deepEqual({ ...(b.prepare("SELECT v FROM t WHERE k = ?").get("x") as object) }, { v: "1" });
    a.close();
    b.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("openDatabase: the ExperimentalWarning of node:sqlite never reaches stderr", () => {
  const url = new URL("../src/internal/sqlite.ts", import.meta.url).href;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", `import { openDatabase } from ${JSON.stringify(url)}; openDatabase(":memory:").close(); process.emitWarning("other", "ExperimentalWarning");`], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /SQLite/);
  assert.match(r.stderr, /other/, "other warnings still pass through");
});
