/**
 * `batchline serve` as a new user meets it: option values it must refuse with one line (no stack
 * trace), and a data directory it must not use blindly (one that another serve holds, one that is
 * not a serve database, one written with another layout version).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openDatabase } from "../src/internal/sqlite.ts";
import { CLI, runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

function refusedInOneLine(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |node:internal/, "no stack trace");
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
}

describe("serve refuses bad options in one line", () => {
  it("a port out of range and an upstream that is not an http(s) URL", async () => {
    const [port, upstream] = await Promise.all([
      runCli(["serve", "--upstream", "http://127.0.0.1:9/v1", "--port", "70000", "-q"]),
      runCli(["serve", "--upstream", "127.0.0.1:8000/v1", "-q"]),
    ]);
    refusedInOneLine(port, /^batchline: --port 70000: expected a whole number from 0 to 65535$/m);
    refusedInOneLine(upstream, /^batchline: serve --upstream 127\.0\.0\.1:8000\/v1: expected an http:\/\/ or https:\/\/ base URL/m);
  });
});

describe("serve --data-dir", () => {
  it("refuses a serve.db that is not a database, and one with another layout version", async () => {
    const junk = join(dir, "junk");
    const future = join(dir, "future");
    await mkdir(junk);
    await writeFile(join(junk, "serve.db"), "not a database\n".repeat(100));
    await mkdir(future);
    const db = openDatabase(join(future, "serve.db"));
    db.exec("CREATE TABLE files (id TEXT PRIMARY KEY); PRAGMA user_version = 99");
    db.close();
    const [a, b] = await Promise.all([
      runCli(["serve", "--upstream", "http://127.0.0.1:9/v1", "--data-dir", junk, "-q"]),
      runCli(["serve", "--upstream", "http://127.0.0.1:9/v1", "--data-dir", future, "-q"]),
    ]);
    refusedInOneLine(a, /^batchline: serve --data-dir: serve\.db cannot be opened: file is not a database/m);
    refusedInOneLine(b, /^batchline: serve --data-dir: serve\.db has layout version 99, this batchline reads version 1/m);
  });

  it("refuses a directory another serve is using, and takes it over once that one is killed", { timeout: 60_000 }, async () => {
    const data = join(dir, "shared");
    const args = ["serve", "--upstream", "http://127.0.0.1:9/v1", "--data-dir", data, "-q"];
    const first = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = once(first, "exit");
    try {
      const [url] = (await once(first.stdout!, "data")) as [Buffer];
      assert.match(url.toString(), /^http:\/\/127\.0\.0\.1:\d+\/v1/);
      const second = await runCli(args);
      refusedInOneLine(second, /^batchline: serve --data-dir: another batchline serve is using this directory/m);
      first.kill("SIGKILL");
      await exited;
      const third = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      const [url3] = (await once(third.stdout!, "data")) as [Buffer];
      assert.match(url3.toString(), /^http:\/\/127\.0\.0\.1:\d+\/v1/, "after a SIGKILL the directory is free again");
      third.kill("SIGTERM");
      assert.deepEqual(await once(third, "exit"), [0, null]);
    } finally {
      first.kill("SIGKILL");
    }
  });
});
