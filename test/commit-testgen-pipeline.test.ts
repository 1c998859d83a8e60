/**
 * `batchline pipeline commit-testgen` end to end through the CLI: a git repository made in the test, an OpenAI-compatible
 * answer server on 127.0.0.1 (port 0) that replays recorded answers per commit and per call
 * (fenced, multi-block, unfenced with prose, invalid syntax, truncated, a script that raises at
 * run time and is repaired in round 2, an HTTP 400 that the --fallback backend answers), real
 * python3 for the syntax checks and the runs.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CommitRepo, createCommitRepo } from "./commit-testgen-repo.ts";
import { parseLines, readBody, runCli, tempDir } from "./helpers.ts";

const script = (name: string) => `import json\n\n\ndef build_cases():\n    return [{"name": "${name}", "input": [1, 2], "expected": 3}]\n\n\nif __name__ == "__main__":\n    with open("test_cases.json", "w") as f:\n        json.dump(build_cases(), f)\n    print(json.dumps({"cases": len(build_cases())}))\n`;

interface Answer {
  content: string;
  finish?: string;
  status?: number;
}

/** A chat-completions server answering each commit's n-th call with its n-th recorded answer. */
async function startAnswerServer(answers: Map<string, Answer[]>) {
  const calls = new Map<string, number>();
  const seen: { hash: string; roles: string[] }[] = [];
  const server = createServer(async (req, res) => {
    const body = JSON.parse(await readBody(req)) as { model: string; messages: { role: string; content: string }[] };
    const hash = /Commit ([0-9a-f]{40})/.exec(body.messages.map((m) => m.content).join("\n"))?.[1] ?? "";
    const n = calls.get(hash) ?? 0;
    calls.set(hash, n + 1);
    seen.push({ hash, roles: body.messages.map((m) => m.role) });
    const list = answers.get(hash) ?? [];
    const a = list[Math.min(n, list.length - 1)];
    if (!a || a.status) {
      res.writeHead(a?.status ?? 404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "no recorded answer for this request", type: "invalid_request_error" } }));
      return;
    }
    const completion = {
      id: `chatcmpl-${hash.slice(0, 6)}-${n}`,
      object: "chat.completion",
      created: 1_700_000_000,
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: a.content }, finish_reason: a.finish ?? "stop" }],
      usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 },
    };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(completion));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return { baseURL: `http://127.0.0.1:${port}/v1`, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("pipeline commit-testgen", () => {
  let repo: CommitRepo;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    repo = createCommitRepo();
    tmp = await tempDir();
  });
  after(async () => {
    repo.cleanup();
    await tmp.cleanup();
  });

  test("through the CLI: extract -> gen -> submit -> fallback -> proc -> run, and a round that repairs the syntax error, the truncated answer and the script that raised", async () => {
    const c = repo.commits;
    const raising = "import json\n\n\ndef build_cases():\n    raise RuntimeError('shape mismatch in the new kernel')\n\n\nif __name__ == \"__main__\":\n    build_cases()\n";
    const answers = new Map<string, Answer[]>([
      [c.add, [{ content: `Here is the generator:\n\n\`\`\`python\n${script("add")}\`\`\`\n` }]],
      [c.modify, [{ content: `Imports and helpers:\n\`\`\`python\nimport json\n\n\ndef build_cases():\n    return [{"name": "mul", "input": [2, 3], "expected": 6}]\n\`\`\`\nEntry point:\n\`\`\`python\nif __name__ == "__main__":\n    print(json.dumps({"cases": len(build_cases())}))\n\`\`\`\n` }]],
      [c.delete, [{ content: `The script below covers the removal.\nIt needs only the standard library.\n\n${script("delete")}` }]],
      [c.rename, [{ content: "```python\nimport json\n\ndef build_cases(:\n    return []\n```" }, { content: `\`\`\`python\n${script("rename fixed")}\`\`\`` }]],
      [c.binary, [{ content: `\`\`\`python\n${script("binary").slice(0, 50)}`, finish: "length" }, { content: `\`\`\`python\n${script("binary")}\`\`\`` }]],
      [c.merge, [{ content: `\`\`\`python\n${raising}\`\`\`` }, { content: `\`\`\`python\n${script("merge fixed")}\`\`\`` }]],
      [c.root, [{ content: "", status: 400 }]],
    ]);
    const server = await startAnswerServer(answers);
    // The fallback backend: a recording (replay) that holds the answer for the line the primary refused.
    const recording = join(tmp.dir, "fallback-recording.jsonl");
    await writeFile(recording, `${JSON.stringify({ id: "batch_req_r", custom_id: c.root, response: { status_code: 200, request_id: "r1", body: { choices: [{ index: 0, message: { role: "assistant", content: `\`\`\`python\n${script("root")}\`\`\`` }, finish_reason: "stop" }] } }, error: null })}\n`);
    const workdir = join(tmp.dir, "work");
    const logs: string[] = [];
    try {
      const args = [
        "pipeline", "commit-testgen",
        "--workdir", workdir,
        "--backend", "openai-compatible",
        "--base-url", server.baseURL,
        "--repo", repo.dir,
        "--commits", [c.root, c.add, c.modify, c.delete, c.rename, c.binary, c.merge].join(","),
        "--model", "gpt-4.1",
        "--rounds", "2",
        "--fallback", "replay",
        "--fallback-from", recording,
        "--run-timeout", "20",
      ];
      const r = await runCli(args, { env: { OPENAI_API_KEY: "test-key" } });
      logs.push(r.stderr);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(await readFile(join(workdir, "report.json"), "utf8")) as { error?: string; steps: Record<string, unknown> };
      assert.equal(report.error, undefined, r.stderr);

      const save = join(workdir, "save");
      const index = JSON.parse(await readFile(join(save, "index.json"), "utf8")) as { commit_hash: string; script_path: string; message: string }[];
      const all = [c.root, c.add, c.modify, c.delete, c.rename, c.binary, c.merge].sort();
      assert.deepEqual(index.map((e) => e.commit_hash), all, "every commit ends with a script");
      assert.equal(await readFile(join(save, "failures.jsonl"), "utf8"), "", "nothing is left failing");
      const runs = new Map((parseLines(await readFile(join(save, "runs.jsonl"), "utf8")) as { commit_hash: string; status: string; produced_test_cases: boolean }[]).map((r) => [r.commit_hash, r]));
      for (const h of all) assert.equal(runs.get(h)?.status, "passed", h);
      assert.match(await readFile(join(save, `${c.merge.slice(0, 8)}_test_case_generator.py`), "utf8"), /merge fixed/, "the script that raised was replaced by its repair");
      assert.match(await readFile(join(save, `${c.rename.slice(0, 8)}_test_case_generator.py`), "utf8"), /rename fixed/);
      assert.match(await readFile(join(save, `${c.modify.slice(0, 8)}_test_case_generator.py`), "utf8"), /def build_cases[\s\S]*__main__/, "multi-block joined");

      // Round 1 sent repairs (the script back as the model's turn) for the syntax error and the run-time error, and the generation request again for the truncated answer.
      const round1 = parseLines(await readFile(join(workdir, "round1", "requests.jsonl"), "utf8")) as { custom_id: string; body: { messages: { role: string; content: string }[] } }[];
      const byId = new Map(round1.map((r) => [r.custom_id, r.body.messages]));
      assert.deepEqual([...byId.keys()].sort(), [c.rename, c.binary, c.merge].sort());
      assert.deepEqual(byId.get(c.merge)!.map((m) => m.role), ["system", "user", "assistant", "user"]);
      assert.match(byId.get(c.merge)!.at(-1)!.content, /^That script failed when it ran:\n\nexit code 1; RuntimeError: shape mismatch in the new kernel/);
      assert.match(byId.get(c.rename)!.at(-1)!.content, /^Python could not parse that script/);
      assert.deepEqual(byId.get(c.binary)!.map((m) => m.role), ["system", "user"], "no script: the generation request again");

      // The fallback: the root commit failed on the primary (HTTP 400) and was answered by replay.
      const merged = parseLines(await readFile(join(workdir, "answers.jsonl"), "utf8")) as { custom_id: string; backend: string }[];
      assert.equal(merged.find((l) => l.custom_id === c.root)!.backend, "replay");
      assert.ok(merged.filter((l) => l.custom_id !== c.root).every((l) => l.backend === "openai-compatible"));
      assert.deepEqual(report.steps.fallback, { lines: 7, failedOnPrimary: 1, resent: 1, answeredByFallback: 1 });

      // Round 2 had nothing to do.
      assert.ok(logs.some((l) => /round2: nothing left to retry/.test(l)), logs.join("\n"));
      assert.ok(!(await readdir(join(workdir, "round2"))).includes("requests.jsonl"), "round 2 sent nothing");
    } finally {
      await server.close();
    }
  });

  test("options are checked before the first step: --repo or --extractions-dir, --commits or --csv, the runner", async () => {
    const workdir = join(tmp.dir, "bad-options");
    const recording = join(tmp.dir, "empty-recording.jsonl");
    await writeFile(recording, "");
    const base = ["pipeline", "commit-testgen", "--workdir", workdir, "--backend", "replay", "--from-submit", recording];
    const neither = await runCli(base);
    assert.equal(neither.code, 1);
    assert.match(neither.stderr, /give --repo \(with --commits or --csv\) or --extractions-dir/);
    const both = await runCli([...base, "--repo", repo.dir]);
    assert.match(both.stderr, /--repo needs exactly one of --commits and --csv/);
    const runner = await runCli([...base, "--repo", repo.dir, "--commits", "HEAD", "--runner", "kubernetes"]);
    assert.match(runner.stderr, /--runner kubernetes: expected one of local/);
    const dir = await runCli([...base, "--extractions-dir", join(tmp.dir, "nope")]);
    assert.match(dir.stderr, /--extractions-dir .*nope: no such directory/);
  });
});
