/**
 * commit-testgen extract / gen / proc / proc --repair through the CLI, on a git repository made
 * in the test (test/commit-testgen-repo.ts) and on answers written here in the OpenAI Batch output
 * shape: fenced, multi-block, unfenced with prose, invalid syntax, truncated, failed requests.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { codeCandidates } from "../src/commit-testgen/answer-code.ts";
import { scriptNameFor } from "../src/commit-testgen/save.ts";
import { PythonSyntaxChecker } from "../src/commit-testgen/syntax-checker.ts";
import { type CommitRepo, createCommitRepo } from "./commit-testgen-repo.ts";
import { parseLines, runCli, tempDir, tempLeftovers } from "./helpers.ts";

/** An OpenAI Batch output line answering `customId` with `content`. */
export function answerLine(customId: string, content: string, finishReason = "stop"): string {
  return JSON.stringify({
    id: `batch_req_${customId.slice(0, 6)}`,
    custom_id: customId,
    response: { status_code: 200, request_id: "req_1", body: { id: "chatcmpl-1", object: "chat.completion", model: "gpt-4.1", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: finishReason }] } },
    error: null,
  });
}

/** A hand-written extraction file (proc and gen need no repository). */
function extraction(hash: string, message: string, category: string, files: { path: string; old: string; diff: string }[] = []) {
  return {
    commit_hash: hash,
    parent_hash: null,
    message,
    author: "A <a@batchline.invalid>",
    date: "2024-01-01 00:00:00 +0000",
    files_changed: files.map((f) => ({ file_path: f.path, old_content: f.old, diff: f.diff, change_type: "modified" })),
    csv_metadata: { category },
  };
}

const SCRIPT = `import json\nimport os\n\n\ndef build_cases():\n    return [{"name": "add", "input": [1, 2], "expected": 3}]\n\n\nif __name__ == "__main__":\n    cases = build_cases()\n    print(json.dumps({"cases": len(cases)}))\n`;

describe("commit-testgen extract", () => {
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

  test("one JSON per commit with each kind of change, the merge against its first parent, CSV columns as csv_metadata; a re-run writes the same bytes", async () => {
    const c = repo.commits;
    const csv = join(tmp.dir, "commits.csv");
    const rows = [c.root, c.add, c.modify, c.delete, c.rename, c.binary, c.merge].map((h, i) => `${h.slice(0, 10)},cat-${i},${i % 2 ? "TRUE" : "FALSE"},"clue, ${i}"`);
    await writeFile(csv, `commit_hash,category,json_has_tests,sample_clues\n${rows.join("\n")}\n`);
    const out = join(tmp.dir, "ex");
    const r = await runCli(["commit-testgen", "extract", "--repo", repo.dir, "--csv", csv, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    const names = (await readdir(out)).sort();
    assert.equal(names.length, 7);
    const read = async (h: string) => JSON.parse(await readFile(join(out, `${h}.json`), "utf8"));

    const root = await read(c.root);
    assert.equal(root.parent_hash, null);
    assert.deepEqual(root.files_changed.map((f: { change_type: string }) => f.change_type), ["added", "added", "added"]);
    assert.deepEqual(root.csv_metadata, { category: "cat-0", json_has_tests: "FALSE", sample_clues: "clue, 0" });

    const modify = await read(c.modify);
    assert.equal(modify.parent_hash, c.add);
    assert.equal(modify.message, "Speed up math ops\n\nAdds mul and a docstring.");
    assert.equal(modify.author, "Test Author <author@batchline.invalid>");
    assert.match(modify.date, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/);
    const [m] = modify.files_changed;
    assert.equal(m.change_type, "modified");
    assert.equal(m.old_content, "def add(a, b):\n    return a + b\n");
    assert.match(m.diff, /^diff --git a\/pkg\/math_ops.py b\/pkg\/math_ops.py\n/);
    assert.equal(m.lines_added, 5);
    assert.equal(m.lines_removed, 0);

    const del = (await read(c.delete)).files_changed[0];
    assert.equal(del.change_type, "deleted");
    assert.equal(del.old_content, "# old module, removed later\nVALUE = 1\n");
    assert.match(del.diff, /deleted file mode/);

    const ren = (await read(c.rename)).files_changed;
    assert.equal(ren.length, 1);
    assert.equal(ren[0].change_type, "renamed");
    assert.equal(ren[0].file_path, "pkg/helpers.py");
    assert.equal(ren[0].old_path, "pkg/helpers_old.py");
    assert.match(ren[0].old_content, /def café\(\):/);
    assert.match(ren[0].diff, /rename from pkg\/helpers_old.py\nrename to pkg\/helpers.py/);

    const bin = (await read(c.binary)).files_changed[0];
    assert.equal(bin.binary, true);
    assert.equal(bin.old_content, "");
    assert.doesNotMatch(bin.diff, /@@/);

    const merge = await read(c.merge);
    assert.equal(merge.parent_hash, c.binary, "a merge is diffed against its first parent");
    assert.deepEqual(merge.files_changed.map((f: { file_path: string }) => f.file_path), ["pkg/side.py"]);
    assert.deepEqual(merge.summary, { total_files: 1, files_added: 1, files_deleted: 0, files_modified: 0, files_renamed: 0 });

    const before = await Promise.all(names.map((n) => readFile(join(out, n))));
    const again = await runCli(["commit-testgen", "extract", "--repo", repo.dir, "--csv", csv, "-o", out, "-q"]);
    assert.equal(again.code, 0, again.stderr);
    const afterBytes = await Promise.all(names.map((n) => readFile(join(out, n))));
    assert.deepEqual(afterBytes, before);
    assert.deepEqual(await tempLeftovers(out), []);
  });

  test("a commit not in the repository is one clear error naming it, and nothing is written", async () => {
    const out = join(tmp.dir, "missing");
    const r = await runCli(["commit-testgen", "extract", "--repo", repo.dir, "--commits", `${repo.commits.add},0123456789abcdef`, "-o", out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: commit 0123456789abcdef \(--commits item 2\) is not in .*; nothing was written\n$/);
    assert.equal(existsSync(out), false);
    const notRepo = await runCli(["commit-testgen", "extract", "--repo", tmp.dir, "--commits", "HEAD", "-o", out]);
    assert.equal(notRepo.code, 1);
    assert.match(notRepo.stderr, /^batchline: --repo .*: not a git repository\n$/);
    const both = await runCli(["commit-testgen", "extract", "--repo", repo.dir, "-o", out]);
    assert.match(both.stderr, /exactly one of --commits/);
    const unknown = await runCli(["commit-testgen", "extract", "--repo", repo.dir, "--commits", "HEAD", "--bogus", "-o", out]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /bogus/);
  });
});

describe("commit-testgen gen", () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let ex: string;
  const A = "a".repeat(40);
  const B = "b".repeat(40);
  before(async () => {
    tmp = await tempDir();
    ex = join(tmp.dir, "ex");
    await mkdir(ex);
    const big = "x = 1\n".repeat(2000);
    await writeFile(join(ex, `${A}.json`), JSON.stringify(extraction(A, "Small change", "kernel-based", [{ path: "a.py", old: "y = 2\n", diff: "diff --git a/a.py b/a.py\n+y = 3\n" }]), null, 2));
    await writeFile(
      join(ex, `${B}.json`),
      JSON.stringify(extraction(B, "Big change", "model-based", [{ path: "big.py", old: big, diff: `diff --git a/big.py b/big.py\n${"+z = 1\n".repeat(300)}` }, { path: "small.py", old: "s = 1\n", diff: "diff --git a/small.py b/small.py\n+s = 2\n" }]), null, 2),
    );
    await writeFile(join(ex, "extraction_summary.json"), "{}");
  });
  after(() => tmp.cleanup());

  test("one request per commit, custom_id = full hash, the extraction file's text in the user message; defaults from the environment", async () => {
    const out = join(tmp.dir, "req.jsonl");
    const env = { LLM_PROVIDER: "", OPENAI_API_KEY: "", ANTHROPIC_API_KEY: "", OPENAI_MODEL: "", ANTHROPIC_MODEL: "", TEST_CASE_GENERATOR_PROMPT: "" };
    const r = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "-o", out], { env });
    assert.equal(r.code, 0, r.stderr);
    const reqs = parseLines(await readFile(out, "utf8")) as { custom_id: string; url: string; body: Record<string, unknown> & { messages: { role: string; content: string }[] } }[];
    assert.deepEqual(reqs.map((q) => q.custom_id), [A, B]);
    assert.equal(reqs[0]!.url, "/v1/chat/completions");
    // The original's default model is gpt-5, which takes max_completion_tokens and no temperature.
    assert.equal(reqs[0]!.body.model, "gpt-5-2025-08-07");
    assert.equal(reqs[0]!.body.max_completion_tokens, 65536);
    assert.equal(reqs[0]!.body.temperature, undefined);
    assert.equal(reqs[0]!.body.messages[0]!.role, "system");
    assert.match(reqs[0]!.body.messages[0]!.content, /standalone Python 3 script/);
    assert.ok(reqs[0]!.body.messages[1]!.content.includes(await readFile(join(ex, `${A}.json`), "utf8")), "the file's text is sent as it is");

    const anthropic = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--only-hash", "bbbb", "-o", "-", "-q"], { env: { ...env, LLM_PROVIDER: "anthropic", ANTHROPIC_MODEL: "claude-opus-4-1" } });
    assert.equal(anthropic.code, 0, anthropic.stderr);
    const [q] = parseLines(anthropic.stdout) as { custom_id: string; body: Record<string, unknown> }[];
    assert.equal(q!.custom_id, B);
    assert.equal(q!.body.model, "claude-opus-4-1");
    assert.equal(q!.body.temperature, 0.1);
    assert.equal(q!.body.max_tokens, 64000);

    const byKey = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--limit", "1", "-o", "-", "-q"], { env: { ...env, ANTHROPIC_API_KEY: "k", ANTHROPIC_MODEL: "claude-x" } });
    assert.deepEqual((parseLines(byKey.stdout) as { body: { model: string } }[]).map((x) => x.body.model), ["claude-x"]);
    const bad = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--provider", "bedrock", "-o", "-"], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^batchline: --provider bedrock: expected openai or anthropic\n$/);
  });

  test("the template comes from --prompt-template, else TEST_CASE_GENERATOR_PROMPT, with {commit_json} and per-field placeholders", async () => {
    const flagTpl = join(tmp.dir, "flag.md");
    const envTpl = join(tmp.dir, "env.md");
    await writeFile(flagTpl, "Commit {commit_hash} ({category}): {commit_message}\nFiles: {changed_files}\nKeep {this}.\n{commit_json}");
    await writeFile(envTpl, "ENV TEMPLATE for {commit_hash}");
    const env = { TEST_CASE_GENERATOR_PROMPT: envTpl };
    const viaEnv = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--model", "gpt-4.1", "--only-hash", "aaaa", "-o", "-", "-q"], { env });
    const [e] = parseLines(viaEnv.stdout) as { body: { messages: { role: string; content: string }[]; temperature: number; max_tokens: number } }[];
    assert.deepEqual(e!.body.messages[0], { role: "system", content: `ENV TEMPLATE for ${A}` });
    assert.equal(e!.body.temperature, 0.1);
    assert.equal(e!.body.max_tokens, 65536);
    const viaFlag = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--model", "gpt-4.1", "--prompt-template", flagTpl, "--only-hash", "aaaa", "-o", "-", "-q"], { env });
    const [f] = parseLines(viaFlag.stdout) as { body: { messages: { role: string; content: string }[] } }[];
    assert.equal(f!.body.messages.length, 1, "a template that places {commit_json} is the whole user message");
    const text = f!.body.messages[0]!.content;
    assert.ok(text.startsWith(`Commit ${A} (kernel-based): Small change\nFiles: [\n  "a.py"\n]\nKeep {this}.\n{\n  "commit_hash"`), text.slice(0, 200));
    const missing = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--model", "m", "-o", "-"], { env: { TEST_CASE_GENERATOR_PROMPT: join(tmp.dir, "nope.md") } });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^batchline: TEST_CASE_GENERATOR_PROMPT .*nope.md: cannot read the prompt template\n$/);
  });

  test("a commit over --max-context-tokens is trimmed, old_content first and then the largest diffs, and the request records the cuts", async () => {
    const out = join(tmp.dir, "trim.jsonl");
    const r = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--model", "gpt-4.1", "--max-tokens", "1000", "--max-context-tokens", "2300", "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 request\(s\) .*1 trimmed to the context, 0 failure\(s\)/);
    const [small, big] = parseLines(await readFile(out, "utf8")) as { body: { messages: { content: string }[] } }[];
    assert.doesNotMatch(small!.body.messages[1]!.content, /batchline_trimmed/);
    const sent = big!.body.messages[1]!.content;
    const json = JSON.parse(sent.slice(sent.indexOf("```json\n") + 8, sent.lastIndexOf("\n```")));
    assert.deepEqual(json.batchline_trimmed.cut, [
      { file_path: "big.py", field: "old_content", chars: 12000 },
      { file_path: "small.py", field: "old_content", chars: 6 },
      { file_path: "big.py", field: "diff", chars: 2129 },
    ]);
    assert.ok(json.batchline_trimmed.input_tokens_after <= 1300, String(json.batchline_trimmed.input_tokens_after));
    assert.ok(json.batchline_trimmed.input_tokens_before > 1300);
    assert.equal(json.files_changed[1].diff, "diff --git a/small.py b/small.py\n+s = 2\n", "the smaller diff is kept");
    assert.match(json.files_changed[0].old_content, /^\[cut by batchline/);

    const tiny = await runCli(["commit-testgen", "gen", "--extractions-dir", ex, "--model", "gpt-4.1", "--max-tokens", "1000", "--max-context-tokens", "1100", "-o", out, "-q"]);
    assert.equal(tiny.code, 0, tiny.stderr);
    const failures = parseLines(await readFile(`${out}.failures.jsonl`, "utf8")) as { reason: string; custom_id: string }[];
    assert.deepEqual(failures.map((f) => [f.custom_id, f.reason]), [[A, "context_exceeded"], [B, "context_exceeded"]]);
  });
});

describe("code extraction rules", () => {
  test("fenced, several blocks, unfenced with prose, other languages, nothing", () => {
    assert.deepEqual(codeCandidates(`Here:\n\`\`\`python\n${SCRIPT}\`\`\`\nBye`).map((c) => c.how), ["fenced"]);
    const parts = `Part 1:\n\`\`\`python\nimport json\n\ndef build():\n    return [1, 2, 3]\n\`\`\`\nPart 2:\n\`\`\`python\nif __name__ == "__main__":\n    print(json.dumps(build()))\n\`\`\`\n`;
    const split = codeCandidates(parts);
    assert.deepEqual(split.map((c) => c.how), ["fenced-joined"]);
    assert.equal(split[0]!.code, 'import json\n\ndef build():\n    return [1, 2, 3]\n\nif __name__ == "__main__":\n    print(json.dumps(build()))\n');
    const whole = codeCandidates(`\`\`\`python\n${SCRIPT}\`\`\`\nUsage:\n\`\`\`python\nimport subprocess  # run it\n\`\`\`\n\`\`\`bash\npython3 x.py\n\`\`\``);
    assert.equal(whole[0]!.how, "fenced-longest", "a whole script beside a fragment goes first");
    assert.equal(whole[0]!.code, SCRIPT);
    const prose = codeCandidates(`Sure! The script below builds the cases.\nIt needs nothing else.\n\n${SCRIPT}`);
    assert.deepEqual(prose.map((c) => [c.how, c.code]), [["unfenced-prose-stripped", SCRIPT]]);
    assert.deepEqual(codeCandidates("```bash\nls -la && echo hello there, this is long enough\n```"), []);
    assert.deepEqual(codeCandidates("I cannot help with that."), []);
    const cut = codeCandidates(`\`\`\`python\n${SCRIPT.slice(0, 90)}`);
    assert.equal(cut[0]!.code, `${SCRIPT.slice(0, 90)}\n`, "an unclosed fence runs to the end");
  });

  test("names: 8 characters, longer when another commit holds the prefix, the commit's own name kept", () => {
    const holders = new Map([["abcdef12_test_case_generator.py", "abcdef12" + "0".repeat(32)]]);
    assert.equal(scriptNameFor("abcdef12" + "0".repeat(32), holders), "abcdef12_test_case_generator.py");
    assert.equal(scriptNameFor("abcdef12" + "1".repeat(32), holders), "abcdef121111_test_case_generator.py");
  });

  test("the syntax checker answers many scripts through one process and reports a missing interpreter clearly", async () => {
    const checker = new PythonSyntaxChecker();
    const verdicts = await Promise.all([checker.check(SCRIPT), checker.check("def f(:\n    pass\n"), checker.check("x = (1,\n")]);
    assert.deepEqual(verdicts[0], { ok: true });
    assert.equal(verdicts[1]!.ok, false);
    assert.equal((verdicts[1] as { line: number }).line, 1);
    assert.equal((verdicts[2] as { line: number }).line, 1);
    await checker.close();
    const none = new PythonSyntaxChecker({ python: "/nonexistent/python3" });
    await assert.rejects(none.check("x = 1"), /cannot start \/nonexistent\/python3 for syntax checks \(ENOENT\); pass the interpreter with --python/);
  });
});

describe("commit-testgen proc", () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let ex: string;
  const H = {
    fenced: "1111111111111111111111111111111111111111",
    multi: "2222222222222222222222222222222222222222",
    prose: "3333333333333333333333333333333333333333",
    syntax: "4444444444444444444444444444444444444444",
    truncated: "5555555555555555555555555555555555555555",
    failed: "6666666666666666666666666666666666666666",
    twinA: "abcdef1200000000000000000000000000000000",
    twinB: "abcdef1211111111111111111111111111111111",
  };
  before(async () => {
    tmp = await tempDir();
    ex = join(tmp.dir, "ex");
    await mkdir(ex);
    for (const [kind, hash] of Object.entries(H)) await writeFile(join(ex, `${hash}.json`), JSON.stringify(extraction(hash, `Commit ${kind}`, kind === "fenced" ? "kernel-based" : "misc"), null, 2));
  });
  after(() => tmp.cleanup());

  function outputFile(): string {
    const failed = JSON.stringify({ id: "batch_req_f", custom_id: H.failed, response: { status_code: 500, request_id: "r", body: { error: { message: "upstream broke", type: "server_error" } } }, error: null });
    return [
      answerLine(H.fenced, `Here is the generator.\n\n\`\`\`python\n${SCRIPT}\`\`\`\n\nIt prints a summary.`),
      answerLine(H.multi, `First the helpers:\n\`\`\`python\nimport json\n\n\ndef build_cases():\n    return [{"name": "mul", "input": [2, 3], "expected": 6}]\n\`\`\`\nThen the entry point:\n\`\`\`python\nif __name__ == "__main__":\n    print(json.dumps({"cases": len(build_cases())}))\n\`\`\`\n`),
      answerLine(H.prose, `Below is a complete script that writes the cases.\nRun it with python3.\n${SCRIPT}`),
      answerLine(H.syntax, "```python\nimport json\n\ndef build_cases(:\n    return []\n\nprint(json.dumps(build_cases()))\n```"),
      answerLine(H.truncated, `\`\`\`python\n${SCRIPT.slice(0, 60)}`, "length"),
      failed,
      answerLine(H.twinB, `\`\`\`python\n${SCRIPT}\`\`\``),
      answerLine(H.twinA, `\`\`\`python\n${SCRIPT.replace("add", "sub")}\`\`\``),
    ].join("\n") + "\n";
  }

  test("scripts, index.json and failures.jsonl with reasons; a shared 8-character prefix gets a longer name; a re-run is identical", async () => {
    const input = join(tmp.dir, "output.jsonl");
    await writeFile(input, outputFile());
    const outDir = join(tmp.dir, "gen");
    const r = await runCli(["commit-testgen", "proc", "-i", input, "--extractions-dir", ex, "--out-dir", outDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /5 script\(s\), 3 failure\(s\) \((syntax_error 1|truncated 1|request_failed 1|, )+\)/);
    const files = (await readdir(outDir)).sort();
    assert.deepEqual(files, [
      "11111111_test_case_generator.py",
      "22222222_test_case_generator.py",
      "33333333_test_case_generator.py",
      "abcdef12_test_case_generator.py",
      "abcdef121111_test_case_generator.py",
      "failures.jsonl",
      "index.json",
    ].sort());
    assert.equal(await readFile(join(outDir, "11111111_test_case_generator.py"), "utf8"), SCRIPT);
    assert.equal(await readFile(join(outDir, "33333333_test_case_generator.py"), "utf8"), SCRIPT, "prose before the code is dropped");
    const multi = await readFile(join(outDir, "22222222_test_case_generator.py"), "utf8");
    assert.match(multi, /def build_cases[\s\S]*if __name__ == "__main__":/, "the two blocks are joined into one script");
    assert.match(await readFile(join(outDir, "abcdef12_test_case_generator.py"), "utf8"), /"sub"/, "names are given in hash order, whatever the line order");

    const index = JSON.parse(await readFile(join(outDir, "index.json"), "utf8"));
    assert.deepEqual(index.map((e: { commit_hash: string }) => e.commit_hash), [H.fenced, H.multi, H.prose, H.twinA, H.twinB]);
    assert.deepEqual(index[0], { commit_hash: H.fenced, script_path: `${outDir}/11111111_test_case_generator.py`, category: "kernel-based", message: "Commit fenced" });

    const failures = parseLines(await readFile(join(outDir, "failures.jsonl"), "utf8")) as Record<string, unknown>[];
    assert.deepEqual(failures.map((f) => [f.commit_hash, f.reason]), [[H.syntax, "syntax_error"], [H.truncated, "truncated"], [H.failed, "request_failed"]]);
    assert.equal(failures[0]!.line, 3);
    assert.equal(typeof failures[0]!.column, "number");
    assert.match(String(failures[0]!.detail), /at line 3, column \d+/);
    assert.match(String(failures[0]!.code), /def build_cases\(:/);
    assert.match(String(failures[2]!.detail), /^http_500: upstream broke$/);

    const before = new Map(await Promise.all(files.map(async (f) => [f, await readFile(join(outDir, f), "utf8")] as const)));
    const again = await runCli(["commit-testgen", "proc", "-i", input, "--extractions-dir", ex, "--out-dir", outDir, "-q"]);
    assert.equal(again.code, 0, again.stderr);
    for (const f of files) assert.equal(await readFile(join(outDir, f), "utf8"), before.get(f), f);
    assert.deepEqual(await tempLeftovers(outDir), []);
  });

  test("a later run merges: new scripts join the index, fixed commits leave failures.jsonl, other entries stay", async () => {
    const outDir = join(tmp.dir, "merge");
    const first = join(tmp.dir, "first.jsonl");
    await writeFile(first, outputFile());
    assert.equal((await runCli(["commit-testgen", "proc", "-i", first, "--extractions-dir", ex, "--out-dir", outDir, "-q"])).code, 0);
    const second = join(tmp.dir, "second.jsonl");
    await writeFile(second, `${answerLine(H.syntax, `\`\`\`python\n${SCRIPT}\`\`\``)}\n`);
    const r = await runCli(["commit-testgen", "proc", "-i", second, "--extractions-dir", ex, "--out-dir", outDir]);
    assert.equal(r.code, 0, r.stderr);
    const index = JSON.parse(await readFile(join(outDir, "index.json"), "utf8"));
    assert.equal(index.length, 6);
    assert.deepEqual(index.map((e: { commit_hash: string }) => e.commit_hash), [H.fenced, H.multi, H.prose, H.syntax, H.twinA, H.twinB]);
    const failures = parseLines(await readFile(join(outDir, "failures.jsonl"), "utf8")) as { commit_hash: string }[];
    assert.deepEqual(failures.map((f) => f.commit_hash), [H.truncated, H.failed]);
  });

  test("--repair writes a follow-up with the script and its syntax error, and the generation request again for commits with no script", async () => {
    const outDir = join(tmp.dir, "repair");
    const input = join(tmp.dir, "repair-in.jsonl");
    await writeFile(input, outputFile());
    const reqs = join(tmp.dir, "repair_requests.jsonl");
    const r = await runCli(["commit-testgen", "proc", "-i", input, "--extractions-dir", ex, "--out-dir", outDir, "--repair", "-o", reqs, "--model", "gpt-4.1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /3 follow-up request\(s\) \(syntax_error 1, regenerate 2\), 5 commit\(s\) done/);
    const lines = parseLines(await readFile(reqs, "utf8")) as { custom_id: string; body: { model: string; messages: { role: string; content: string }[] } }[];
    assert.deepEqual(lines.map((l) => l.custom_id), [H.syntax, H.truncated, H.failed]);
    const fix = lines[0]!.body.messages.at(-1)!.content;
    assert.match(fix, /could not parse the script you wrote for commit 4444/);
    assert.match(fix, /at line 3/);
    assert.match(fix, /def build_cases\(:/);
    assert.equal(lines[0]!.body.model, "gpt-4.1");
    assert.match(lines[1]!.body.messages[1]!.content, /Its extraction JSON/);
  });

  test("bad input: a custom_id that is no commit, a malformed line, a missing interpreter, -o without --repair", async () => {
    const outDir = join(tmp.dir, "bad");
    const input = join(tmp.dir, "bad.jsonl");
    await writeFile(input, `${answerLine(H.fenced, SCRIPT)}\n${answerLine("f".repeat(40), SCRIPT)}\n`);
    const r = await runCli(["commit-testgen", "proc", "-i", input, "--extractions-dir", ex, "--out-dir", outDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: .*bad.jsonl:2 \(custom_id=f{40}\): custom_id f{40} is not the hash of a commit in --extractions-dir\n$/);
    assert.equal(existsSync(join(outDir, "index.json")), false, "nothing is written from a bad file");
    await writeFile(input, `${answerLine(H.fenced, SCRIPT)}\n{not json\n`);
    const skipped = await runCli(["commit-testgen", "proc", "-i", input, "--extractions-dir", ex, "--out-dir", outDir, "--skip-bad"]);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.match(skipped.stderr, /skipped .*bad.jsonl:2/);
    const noPython = await runCli(["commit-testgen", "proc", "-i", input, "--extractions-dir", ex, "--out-dir", outDir, "--skip-bad", "--python", "/nonexistent/python3"]);
    assert.equal(noPython.code, 1);
    assert.match(noPython.stderr, /batchline: .*cannot start \/nonexistent\/python3 for syntax checks/);
    const stray = await runCli(["commit-testgen", "proc", "-i", input, "--extractions-dir", ex, "--out-dir", outDir, "-o", "x.jsonl"]);
    assert.match(stray.stderr, /^batchline: -o only applies with --repair/);
  });
});
