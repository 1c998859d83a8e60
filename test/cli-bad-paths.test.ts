/**
 * Bad paths on every command give one line, `batchline: <what> (<path>)`, exit 1, and no stack
 * trace: a missing input or --from, stdin where a file is needed, a port in use, a --workdir or
 * --save_dir that is a file, an -o that is a directory. Nothing is left behind (no temp files).
 */
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const REQUESTS = join(FIXTURES, "batch/requests.jsonl");
const OUTPUT = join(FIXTURES, "batch/output-round1.jsonl");
const A = join(FIXTURES, "agentless");
const AGENTLESS = ["--dataset", join(A, "dataset.jsonl"), "--repostructure_dir", join(A, "repostructures")];

let dir = "";
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(join(dir, "adir"));
  await writeFile(join(dir, "afile"), "");
});
after(() => cleanup());

/** Runs the cases two at a time (each is a CLI start-up) and checks each gives one line naming `names`. */
async function expectOneLine(cases: { argv: string[]; names: string; input?: string }[]): Promise<void> {
  const queue = [...cases];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const r = await runCli(c.argv, { cwd: dir, ...(c.input !== undefined ? { input: c.input } : {}) });
      const what = c.argv.join(" ");
      assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^ {4}at /m, `${what}: a stack trace\n${r.stderr}`);
      // progress lines may come first (the demo starts its servers); the error is one last line
      assert.match(r.stderr, /(^|\n)batchline: [^\n]+\n$/, `${what}: no error line at the end\n${r.stderr}`);
      assert.equal(r.stderr.match(/^batchline: /gm)?.length, 1, `${what}: not one error line\n${r.stderr}`);
      assert.ok(r.stderr.includes(c.names), `${what}: does not name ${c.names}\n${r.stderr}`);
    }
  };
  await Promise.all([worker(), worker()]);
  const left = (await readdir(dir, { recursive: true })).filter((n) => n.includes(".tmp-"));
  assert.deepEqual(left, [], "no temp file left anywhere");
}

describe("bad paths", () => {
  it("a missing input file, on every command that reads one", async () => {
    await expectOneLine([
      { argv: ["validate", "missing.jsonl"], names: "missing.jsonl" },
      { argv: ["slice", "missing.jsonl"], names: "missing.jsonl" },
      { argv: ["demux", "missing.jsonl"], names: "missing.jsonl" },
      { argv: ["merge", "missing.jsonl"], names: "missing.jsonl" },
      { argv: ["retry", "missing.jsonl", OUTPUT], names: "missing.jsonl" },
      { argv: ["retry", REQUESTS, "missing.jsonl"], names: "missing.jsonl" },
      { argv: ["plan", "missing.jsonl"], names: "(missing.jsonl)" },
      { argv: ["submit", "openai-compatible", "missing.jsonl", "-o", "c/out.jsonl", "--base-url", "http://127.0.0.1:9/v1"], names: "(missing.jsonl)" },
      { argv: ["submit", "replay", "missing.jsonl", "-o", "r/out.jsonl", "--from", OUTPUT], names: "(missing.jsonl)" },
      { argv: ["submit", "replay", REQUESTS, "-o", "f/out.jsonl", "--from", "missing.jsonl"], names: "(missing.jsonl)" },
      { argv: ["serve", "--replay", "missing.jsonl"], names: "(missing.jsonl)" },
      { argv: ["requests", "rewrite", "-i", "missing.jsonl", "--model", "m"], names: "missing.jsonl" },
      { argv: ["agentless", "bugfixer", "proc_step1_gen_step2", ...AGENTLESS, "-i", "missing.jsonl"], names: "missing.jsonl" },
      { argv: ["agentless", "bugfixer", "gen_step1", "--dataset", "missing.jsonl", "--repostructure_dir", join(A, "repostructures")], names: "missing.jsonl" },
      { argv: ["coverage", "missing-dir"], names: "missing-dir" },
    ]);
  });

  it("a directory or a file where the other is needed: -o a directory, --workdir/--save_dir a file", async () => {
    await expectOneLine([
      { argv: ["slice", REQUESTS, "-o", "adir"], names: "(adir)" },
      { argv: ["merge", OUTPUT, "-o", "adir"], names: "(adir)" },
      { argv: ["retry", REQUESTS, OUTPUT, "-o", "adir"], names: "(adir)" },
      { argv: ["requests", "rewrite", "-i", REQUESTS, "--model", "m", "-o", "adir"], names: "(adir)" },
      { argv: ["submit", "replay", REQUESTS, "-o", "adir", "--from", OUTPUT], names: "(adir)" },
      { argv: ["agentless", "bugfixer", "gen_step1", ...AGENTLESS, "-o", "adir"], names: "(adir)" },
      { argv: ["agentless", "bugfixer", "proc_step2", ...AGENTLESS, "-i", join(A, "bugfixer-step2-output.jsonl"), "--save_dir", "afile"], names: "afile" },
      { argv: ["pipeline", "agentless-bugfixer", ...AGENTLESS, "--backend", "replay", "--from-step1", join(A, "bugfixer-step1-output.jsonl"), "--from-step2", join(A, "bugfixer-step2-output.jsonl"), "--workdir", "afile"], names: "afile" },
      { argv: ["demo", "--workdir", "afile"], names: "afile" },
      { argv: ["demux", OUTPUT, "-d", "afile"], names: "afile" },
      { argv: ["validate", "adir"], names: "adir" },
      { argv: ["plan", "adir"], names: "(adir)" },
    ]);
    assert.deepEqual(await readdir(join(dir, "adir")), [], "nothing written into the directory");
  });

  it("serve --port in use", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await expectOneLine([{ argv: ["serve", "--replay", OUTPUT, "--port", String(port)], names: `(127.0.0.1:${port})` }]);
    } finally {
      taken.close();
    }
  });
});
