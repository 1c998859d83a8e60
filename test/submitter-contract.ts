/**
 * The contract every backend meets, run against each one (the unstorage `testDriver` idea):
 * every custom_id answered exactly once, per-line errors carried through, a run killed with
 * SIGKILL and started again finishes without paying twice for what was already answered.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLI, parseLines, runCli, tempDir } from "./helpers.ts";

/** A backend under test: how to run `submit` against it, and what its server counted. */
export interface ContractTarget {
  /** `submit` arguments after the request and output paths: backend name first. */
  args: string[];
  /** Put before the request/output paths (the backend name), then `args` after. */
  backend: string;
  env: Record<string, string>;
  /** How many times the server executed (answered) each custom_id. */
  executions(): Map<string, number>;
  /** Requests in flight at once, at most (1 for batch backends). */
  inFlight: number;
  close(): Promise<void>;
}

/** Options the suite gives the target: ids that must fail, and whether the backend should be slow (for the kill test). */
export interface TargetOptions {
  failIds: RegExp;
  slow: boolean;
  /** The request file the target may need to prepare for (replay records answers for it). */
  requests: string;
}

/** n instances x 2 passes; each prompt's first line is its custom_id, so servers can count per id. */
export async function writeContractRequests(path: string, instances: number): Promise<string[]> {
  const ids: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i < instances; i++) {
    for (let pass = 0; pass < 2; pass++) {
      const id = `org__repo-${1000 + i}__pass${pass}`;
      ids.push(id);
      lines.push(JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "m-1", messages: [{ role: "system", content: "be brief" }, { role: "user", content: `${id}\nFix the bug in café.py — “quoted”.` }], max_tokens: 64, temperature: 0 } }));
    }
  }
  await writeFile(path, lines.join("\n") + "\n");
  return ids;
}

interface Out {
  custom_id: string;
  response: { status_code: number; body: unknown } | null;
  error: { code: string } | null;
}

const ok = (l: Out) => l.error === null && l.response?.status_code === 200;

/** Runs the contract for one backend. `make` starts a fresh server for each case. */
export function testSubmitter(name: string, make: (options: TargetOptions) => Promise<ContractTarget>): void {
  describe(`submitter contract: ${name}`, () => {
    let dir = "";
    let cleanup = async () => {};
    let n = 0;
    before(async () => ({ dir, cleanup } = await tempDir()));
    after(() => cleanup());

    const run = (t: ContractTarget, requests: string, out: string) => runCli(["submit", t.backend, requests, "-o", out, ...t.args], { env: t.env });

    it("answers every custom_id exactly once and carries per-line errors", async () => {
      const requests = join(dir, `req${n}.jsonl`);
      const out = join(dir, `out${n++}.jsonl`);
      const ids = await writeContractRequests(requests, 6);
      const t = await make({ failIds: /-1003__pass1$/, slow: false, requests });
      try {
        const r = await run(t, requests, out);
        assert.equal(r.code, 1, "a line failed: exit 1, with the counts");
        assert.match(r.stderr, /batchline: 1 of \d+ line\(s\) failed/);
        const lines = parseLines(await readFile(out, "utf8")) as Out[];
        assert.deepEqual(lines.map((l) => l.custom_id), ids, "each id once, in request order");
        const failed = lines.filter((l) => !ok(l)).map((l) => l.custom_id);
        assert.deepEqual(failed, ["org__repo-1003__pass1"], "the failing line is carried as a failure, the rest succeed");
        for (const l of lines.filter(ok)) assert.match(JSON.stringify(l.response!.body), new RegExp(l.custom_id), "each answer belongs to its request");
        for (const [id, count] of t.executions()) assert.equal(count, 1, `${id} executed once`);
      } finally {
        await t.close();
      }
    });

    it("resumes after SIGKILL and does not pay twice for what was answered", async () => {
      const requests = join(dir, `req${n}.jsonl`);
      const out = join(dir, `out${n++}.jsonl`);
      const ids = await writeContractRequests(requests, 10);
      const t = await make({ failIds: /^$/, slow: true, requests });
      try {
        const child = spawn(process.execPath, [CLI, "submit", t.backend, requests, "-o", out, ...t.args, "-q"], { env: { ...process.env, ...t.env }, stdio: "ignore" });
        let gone = false;
        const exited = new Promise((resolve) => child.on("exit", resolve)).then(() => (gone = true));
        for (let i = 0; i < 400 && !gone; i++) {
          const executed = [...t.executions().values()].reduce((a, b) => a + b, 0);
          const state = await readFile(`${out}.state.json`, "utf8").catch(() => "");
          if (executed >= 3 && (t.inFlight > 1 || state.includes('"batchId"'))) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        child.kill("SIGKILL");
        await exited;
        const r = await run(t, requests, out);
        assert.equal(r.code, 0, r.stderr);
        const lines = parseLines(await readFile(out, "utf8")) as Out[];
        assert.deepEqual(lines.map((l) => l.custom_id), ids);
        assert.ok(lines.every(ok), "everything answered after the resume");
        const total = [...t.executions().values()].reduce((a, b) => a + b, 0);
        assert.ok(total <= ids.length + t.inFlight, `executions ${total} <= ${ids.length} + ${t.inFlight} in flight at the kill`);
      } finally {
        await t.close();
      }
    });
  });
}
