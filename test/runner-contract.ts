/**
 * The suite every runner passes (unstorage's testDriver idea): `testRunner(name, make, python)`.
 * Jobs run real Python; the repo jobs use a real git repository with two commits.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, it, after, before } from "node:test";
import type { Runner } from "../src/runners/types.ts";
import { createRepo, type TempRepo } from "./agentless-git.ts";

export interface RunnerUnderTest {
  runner: Runner;
  /** Repository path to give as `source` (a runner that builds from images may ignore it). */
  source: string;
}

const BUGGY = "def add(a, b):\n    return a - b\n\n\ndef unused():\n    return 1\n";
const FIXED_PATCH = [
  "diff --git a/calc.py b/calc.py",
  "--- a/calc.py",
  "+++ b/calc.py",
  "@@ -1,4 +1,4 @@",
  " def add(a, b):",
  "-    return a - b",
  "+    return a + b",
  " ",
  " ",
  "",
].join("\n");

/** A repo whose first commit has the bug and whose HEAD has a README only: jobs must use the commit asked for. */
export function contractRepo(): { repo: TempRepo; base: string } {
  const repo = createRepo({ "calc.py": BUGGY, "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n" });
  const base = repo.git(["rev-parse", "HEAD"]).trim();
  repo.git(["rm", "-q", "calc.py"]);
  repo.git(["commit", "-q", "-m", "later"]);
  return { repo, base };
}

/** True while `pid` runs (a zombie waiting for a reaper that is not there counts as gone). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

export function testRunner(label: string, make: (source: TempRepo) => Promise<RunnerUnderTest>): void {
  describe(`runner contract: ${label}`, () => {
    let fixture: { repo: TempRepo; base: string };
    let rut: RunnerUnderTest;
    before(async () => {
      fixture = contractRepo();
      rut = await make(fixture.repo);
    });
    after(async () => {
      await rut.runner.close?.();
      fixture.repo.cleanup();
    });
    const repoJob = (extra: object = {}) => ({
      id: "calc-1",
      workspace: { kind: "repo" as const, repo: "acme/calc", commit: fixture.base, source: rut.source, instanceId: "acme__calc-1", ...extra },
      timeoutMs: 60_000,
    });

    it("runs a script in a files workspace: exit code, stdout, stderr, outputs", async () => {
      const r = await rut.runner.run({
        id: "script",
        workspace: { kind: "files", files: { "gen.py": "import sys, os\nprint('hello')\nprint('oops', file=sys.stderr)\nopen('out/result.txt','w').write(str(sorted(os.listdir('.'))))\nsys.exit(3)\n", "out/.keep": "" } },
        command: { python: ["gen.py"] },
        timeoutMs: 30_000,
        outputs: ["out/result.txt", "missing.txt"],
      });
      assert.deepEqual(r.setup, { ok: true });
      assert.equal(r.exitCode, 3);
      assert.equal(r.timedOut, false);
      assert.equal(r.stdout, "hello\n");
      assert.match(r.stderr, /oops/);
      assert.equal(r.outputs["out/result.txt"], "['gen.py', 'out']");
      assert.equal(r.outputs["missing.txt"], null);
    });

    it("checks out the commit asked for, applies patches with git, and leaves the source repository alone", async () => {
      const headBefore = fixture.repo.git(["rev-parse", "HEAD"]);
      const r = await rut.runner.run({ ...repoJob({ patches: [{ name: "gold", diff: FIXED_PATCH }] }), command: { python: ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_calc.py"] } });
      assert.deepEqual(r.setup, { ok: true });
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 passed/);
      const base = await rut.runner.run({ ...repoJob(), command: { python: ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_calc.py"] } });
      assert.equal(base.exitCode, 1);
      assert.match(base.stdout, /1 failed/);
      assert.equal(fixture.repo.git(["rev-parse", "HEAD"]), headBefore);
      assert.equal(fixture.repo.git(["status", "--porcelain"]), "");
      assert.equal(fixture.repo.git(["worktree", "list"]).trim().split("\n").length, 1);
      assert.equal(fixture.repo.exists("calc.py"), false);
    });

    it("reports a patch that does not apply and does not run the command", async () => {
      const bad = FIXED_PATCH.replace("-    return a - b", "-    return a * b");
      const r = await rut.runner.run({ ...repoJob({ patches: [{ name: "gold", diff: FIXED_PATCH }, { name: "model_test_patch", diff: bad }] }), command: { argv: ["sh", "-c", "echo ran"] } });
      assert.equal(r.setup.ok, false);
      assert.equal(r.setup.ok === false && r.setup.reason, "patch_does_not_apply");
      assert.equal(r.setup.ok === false && "patch" in r.setup && r.setup.patch, "model_test_patch");
      assert.equal(r.stdout, "");
      assert.equal(r.exitCode, null);
    });

    it("kills the whole process group at the timeout", async () => {
      const script = [
        "import subprocess, sys, time",
        "p = subprocess.Popen(['sleep', '60'])",
        "print(p.pid, flush=True)",
        "time.sleep(60)",
      ].join("\n");
      const started = Date.now();
      const r = await rut.runner.run({ id: "slow", workspace: { kind: "files", files: { "slow.py": script } }, command: { python: ["slow.py"] }, timeoutMs: 1500 });
      assert.equal(r.timedOut, true);
      assert.equal(r.exitCode, null);
      assert.ok(Date.now() - started < 20_000);
      assert.ok(r.notes.some((n) => /timed out/.test(n)));
      const grandchild = Number(r.stdout.trim());
      assert.ok(grandchild > 0, `grandchild pid in ${JSON.stringify(r.stdout)}`);
      assert.equal(running(grandchild), false, "the grandchild survived the timeout");
    });

    it("cuts the network unless asked not to, or says it could not", async () => {
      const server = createServer((s) => {
        s.on("error", () => {});
        s.end("hi");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as { port: number }).port;
      const script = `import socket\ntry:\n    socket.create_connection(('127.0.0.1', ${port}), timeout=3).close()\n    print('connected')\nexcept OSError as e:\n    print('refused', e)\n`;
      try {
        const cut = await rut.runner.run({ id: "net", workspace: { kind: "files", files: { "net.py": script } }, command: { python: ["net.py"] }, timeoutMs: 20_000 });
        const open = await rut.runner.run({ id: "net", workspace: { kind: "files", files: { "net.py": script } }, command: { python: ["net.py"] }, timeoutMs: 20_000, network: true });
        assert.match(open.stdout, /connected/);
        if (cut.notes.some((n) => /network not cut/.test(n))) assert.match(cut.stdout, /connected/);
        else assert.match(cut.stdout, /refused/);
      } finally {
        server.close();
      }
    });

    it("measures coverage of the workspace's files with coverage.py", async () => {
      const r = await rut.runner.run({
        ...repoJob({ patches: [{ name: "gold", diff: FIXED_PATCH }] }),
        command: { python: ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_calc.py"] },
        coverage: { include: ["calc.py"] },
      });
      assert.equal(r.exitCode, 0, r.stdout + r.stderr + r.notes.join("\n"));
      assert.ok(r.coverage, r.notes.join("\n"));
      assert.deepEqual(Object.keys(r.coverage), ["calc.py"]);
      assert.deepEqual(r.coverage["calc.py"]!.missing, [6]);
      assert.ok(r.coverage["calc.py"]!.executed.includes(2));
    });
  });
}
