import assert from "node:assert/strict";
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import local, { findRepoDir, parseCoverageJson } from "../src/runners/local.ts";
import { createRunner } from "../src/runners/index.ts";
import { testRunner } from "./runner-contract.ts";
import { createRepo } from "./agentless-git.ts";
import { tempDir } from "./helpers.ts";

const PYTHON = "/usr/bin/python3"; // Debian's: pytest + coverage (.ci/run installs both)

testRunner("local", async (repo) => ({ runner: local({ python: PYTHON, baseEnv: process.env }), source: repo.dir }));

describe("local runner", () => {
  it("does not hand the caller's secrets to the command", async () => {
    const runner = local({ python: PYTHON, baseEnv: { ...process.env, OPENAI_API_KEY: "sk-secret" }, passEnv: ["MY_VISIBLE"] });
    const r = await runner.run({
      id: "env",
      workspace: { kind: "files", files: { "env.py": "import os\nprint(os.environ.get('OPENAI_API_KEY'), os.environ.get('EXTRA'), os.environ['HOME'] != '/root')\n" } },
      command: { python: ["env.py"] },
      env: { EXTRA: "given" },
      timeoutMs: 20_000,
    });
    assert.equal(r.stdout.trim(), "None given True");
  });

  it("finds owner__name, owner/name or name checkouts under reposDir, and says where it looked", async () => {
    const { dir, cleanup } = await tempDir();
    const repo = createRepo({ "a.py": "x = 1\n" });
    try {
      const target = join(dir, "acme__calc");
      renameSync(repo.dir, target);
      assert.deepEqual(findRepoDir(dir, "acme/calc"), { dir: target });
      mkdirSync(join(dir, "other"));
      const missing = findRepoDir(dir, "acme/nope");
      assert.ok("tried" in missing && missing.tried.length === 3);
      const runner = await createRunner("local", { python: PYTHON, reposDir: dir });
      const commit = (await runner.run({ id: "x", workspace: { kind: "repo", repo: "acme/calc", commit: "HEAD" }, command: { python: ["-c", "import a; print(a.x)"] }, timeoutMs: 20_000 }));
      assert.equal(commit.stdout.trim(), "1");
      const gone = await runner.run({ id: "y", workspace: { kind: "repo", repo: "acme/nope", commit: "HEAD" }, command: { argv: ["true"] }, timeoutMs: 20_000 });
      assert.equal(gone.setup.ok === false && gone.setup.reason, "checkout_failed");
      assert.match(gone.setup.ok === false ? gone.setup.detail : "", /acme__nope/);
    } finally {
      await cleanup();
    }
  });

  it("stops a job when the caller aborts", async () => {
    const runner = local({ python: PYTHON });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const r = await runner.run({ id: "abort", workspace: { kind: "files", files: {} }, command: { argv: ["sleep", "30"] }, timeoutMs: 60_000 }, { signal: ac.signal });
    assert.equal(r.exitCode, null);
    assert.equal(r.timedOut, false);
    assert.ok(r.durationMs < 10_000);
  });

  it("runs without coverage, and says so, when the interpreter has no coverage.py", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      // an interpreter whose `import coverage` fails
      mkdirSync(join(dir, "hide", "coverage"), { recursive: true });
      writeFileSync(join(dir, "hide", "coverage", "__init__.py"), "raise ImportError('no coverage here')\n");
      const python = join(dir, "python-nocov");
      writeFileSync(python, `#!/bin/sh\nPYTHONPATH=${join(dir, "hide")} exec ${PYTHON} "$@"\n`);
      chmodSync(python, 0o755);
      const r = await local({ python }).run({ id: "nocov", workspace: { kind: "files", files: { "t.py": "print('ran')\n" } }, command: { python: ["t.py"] }, timeoutMs: 20_000, coverage: {} });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, "ran\n");
      assert.equal(r.coverage, undefined);
      assert.ok(r.notes.some((n) => /coverage.py is not installed/.test(n)), r.notes.join("\n"));
    } finally {
      await cleanup();
    }
  });

  it("refuses file paths outside the workspace", async () => {
    const r = await local({ python: PYTHON }).run({ id: "esc", workspace: { kind: "files", files: { "../evil.txt": "x" } }, command: { argv: ["true"] }, timeoutMs: 5000 });
    assert.equal(r.setup.ok === false && r.setup.reason, "workspace_failed");
  });

  it("reads coverage.py JSON reports with relative or absolute file names", () => {
    const data = parseCoverageJson(JSON.stringify({ files: { "/tmp/ws/pkg/a.py": { executed_lines: [1], missing_lines: [2], excluded_lines: [] }, "b.py": { executed_lines: [3], missing_lines: [], excluded_lines: [4] } } }), "/tmp/ws");
    assert.deepEqual(data, { "pkg/a.py": { executed: [1], missing: [2], excluded: [] }, "b.py": { executed: [3], missing: [], excluded: [4] } });
  });
});
