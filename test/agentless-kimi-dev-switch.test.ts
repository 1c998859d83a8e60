/**
 * What a user switching from Kimi-Dev's batch_rollout_bugfixer.py / batch_rollout_testwriter.py
 * hits (issue 9), through the CLI on fixtures made in test/agentless-layouts.ts: a psf/requests-like
 * repository (package named like the clone folder) and a pallets/flask-like one (src/ layout), with
 * Agentless-shaped structures. Patches are checked with real `git apply` in clones at base_commit.
 * The consumer readers at the end do, in Python, what Agentless's reproduction-test runner
 * (run_tests.py create_instance_test_dict), its test normalizer, its rerank/majority vote and the
 * SWE-bench harness do with our files: the fields they read, their types, no empty records.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FLASK_GOLD, FLASK_ID, REQUESTS_GOLD, REQUESTS_ID, type World, answered, block, makeWorld, refused, writeLines } from "./agentless-layouts.ts";
import { parseLines, pythonWithPytest, readTree, runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
let world: World;
before(async () => {
  ({ dir, cleanup } = await tempDir());
  world = await makeWorld(dir);
});
after(() => cleanup());

const common = () => ["--dataset", world.dataset, "--repostructure_dir", world.structures];

interface Req {
  custom_id: string;
  body: { temperature: number; model: string; messages: { content: string }[] };
}
interface Failure {
  custom_id: string;
  reason: string;
  detail: string;
  stage: string;
}

function gitApply(repo: string, patch: string, check = false): { ok: boolean; err: string } {
  const r = spawnSync("git", ["-C", repo, "apply", ...(check ? ["--check"] : []), "-"], { input: patch, encoding: "utf8" });
  return { ok: r.status === 0, err: r.stderr };
}

/** Runs a Python reader (its source) with arguments; returns its stdout parsed as JSON. */
function python(source: string, args: string[]): unknown {
  const r = spawnSync(pythonWithPytest(), ["-c", source, ...args], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const SESSIONS_FIX = block(
  "sessions.py",
  // padded with a blank line at both ends: the line above `return` is the `def`, not a blank line
  '\n        return method.upper() + " " + url\n\n',
  '\n        if params:\n            url += "?" + "&".join("%s=%s" % kv for kv in sorted(params.items()))\n        return method.upper() + " " + url\n\n',
);
const CONFIG_FIX = block("flask/config.py", "            self[key] = value\n", "            if key.isupper():\n                self[key] = value\n");
const CONFTEST_EDIT = block("conftest.py", "import pytest\n", "import pytest\nimport os\n");

describe("agentless bugfixer after Kimi-Dev's batch_rollout_bugfixer.py", () => {
  let save = "";
  before(async () => {
    save = join(dir, "bugfix-save");
    const input = writeLines(join(dir, "bugfix-step2.jsonl"), [
      answered(REQUESTS_ID, `<think>\nMaybe sessions.py.\n</think>\nParams must reach the URL.\n\n${SESSIONS_FIX}\n`),
      answered(FLASK_ID, `Only upper-case keys are configuration.\n\n${CONFIG_FIX}\n\nAlso:\n\n${CONFTEST_EDIT}`),
    ]);
    const r = await runCli(["agentless", "bugfixer", "proc_step2", ...common(), "--input_file", input, "--save_dir", save, "--num_workers", "1"]);
    assert.equal(r.code, 0, r.stderr);
  });

  const processed = async () => parseLines(await readFile(join(save, "output_0_processed.jsonl"), "utf8")) as { instance_id: string; model_name_or_path: string; model_patch: string; raw_model_patch: string; edited_files: string[]; original_file_content: string[]; new_file_content: string[] }[];

  it("item 2: `### sessions.py` found as requests/sessions.py is written as requests/sessions.py, and git apply takes it", async () => {
    const rec = (await processed()).find((o) => o.instance_id === REQUESTS_ID)!;
    assert.deepEqual(rec.edited_files, ["requests/sessions.py"]);
    assert.match(rec.model_patch, /^diff --git a\/requests\/sessions\.py b\/requests\/sessions\.py\n/);
    assert.doesNotMatch(rec.model_patch, /[ab]\/sessions\.py/);
    const repo = world.clone(REQUESTS_ID, "item2");
    const applied = gitApply(repo, rec.model_patch);
    assert.ok(applied.ok, applied.err);
    assert.equal(await readFile(join(repo, "requests/sessions.py"), "utf8"), REQUESTS_GOLD["requests/sessions.py"], "item 6: the padded SEARCH applied, giving the gold fix");
  });

  it("item 3: a src/ layout path (`flask/config.py`) is found under its first-level folder; a path two folders hold is reported, not guessed", async () => {
    const rec = (await processed()).find((o) => o.instance_id === FLASK_ID)!;
    assert.deepEqual(rec.edited_files, ["src/flask/config.py"]);
    const repo = world.clone(FLASK_ID, "item3");
    assert.ok(gitApply(repo, rec.model_patch).ok);
    assert.equal(await readFile(join(repo, "src/flask/config.py"), "utf8"), FLASK_GOLD["src/flask/config.py"]);
    const sample = JSON.parse(await readFile(join(save, "samples", `${FLASK_ID}.jsonl`), "utf8")) as { notes: string[] };
    assert.ok(sample.notes.some((n) => /ambiguous-path/.test(n) && /docs\/conftest\.py or tests\/conftest\.py/.test(n)), sample.notes.join("\n"));
  });

  it("item 8: model_name_or_path is the model that answered (the body's `model`), not the --model_name default", async () => {
    for (const rec of await processed()) assert.equal(rec.model_name_or_path, "moonshotai/Kimi-Dev-72B");
    const preds = parseLines(await readFile(join(save, "preds_0.jsonl"), "utf8")) as { model_name_or_path: string }[];
    assert.deepEqual(preds.map((p) => p.model_name_or_path), ["moonshotai/Kimi-Dev-72B", "moonshotai/Kimi-Dev-72B"]);
  });

  it("item 9: raw_model_patch is the SEARCH/REPLACE text; samples/<custom_id>.jsonl has the original's fields under its names", async () => {
    const rec = (await processed()).find((o) => o.instance_id === FLASK_ID)!;
    assert.equal(rec.raw_model_patch, `${CONFIG_FIX}\n${CONFTEST_EDIT}`, "the fenced blocks of the answer, joined by a newline");
    const sample = JSON.parse(await readFile(join(save, "samples", `${REQUESTS_ID}.jsonl`), "utf8")) as Record<string, unknown> & { gt_results: Record<string, unknown> };
    for (const key of ["instance_id", "model_patch", "search_replace_text", "raw_output", "gt_results"]) assert.ok(Object.hasOwn(sample, key), key);
    assert.equal(sample.search_replace_text, SESSIONS_FIX);
    assert.match(String(sample.raw_output), /^<think>\nMaybe sessions\.py\.\n<\/think>/, "raw_output is the whole answer");
    const gt = sample.gt_results;
    assert.deepEqual(Object.keys(gt).sort(), ["found_edit_locs", "found_files", "found_related_locs", "gt_parsed_patch", "gt_patch", "instance_id"]);
    assert.deepEqual(gt.found_files, ["requests/sessions.py"]);
    // Added lines are numbered on the new side and located in the base structure, as the original does:
    // line 6 is inside Session.request (5-6), line 7 is past its end.
    assert.deepEqual(gt.found_related_locs, [{ "requests/sessions.py": ["class: Session\nfunction: Session.request", ""] }]);
    assert.deepEqual(gt.found_edit_locs, [{ "requests/sessions.py": ["class: Session\nfunction: Session.request\nline: 6", "line: 7"] }]);
    assert.equal(gt.gt_patch, world.repos[REQUESTS_ID]!.gold);
  });

  it("consumers: Agentless's rerank (normalize + majority vote) and the SWE-bench harness read the files unchanged", async () => {
    // What rerank.py's normalize_patches/_load_results/majority_voting and SWE-bench's
    // get_predictions_from_file + run_instance read: field names, types, one record per instance per pass.
    const reader = String.raw`
import json, os, subprocess, sys, tempfile
from collections import Counter
save, = sys.argv[1:2]
repos = json.loads(sys.argv[2])
out = {"votes": {}, "preds": []}
for name in sorted(os.listdir(save)):
    if not (name.startswith("output_") and name.endswith("_processed.jsonl")):
        continue
    seen = set()
    with open(os.path.join(save, name)) as f:
        for line in f:
            d = json.loads(line.strip())
            assert d["instance_id"] not in seen, "one record per instance per pass"
            seen.add(d["instance_id"])
            patch = d["model_patch"]
            assert isinstance(patch, str)
            triples = list(zip(d["original_file_content"], d["new_file_content"], d["edited_files"]))
            assert len(triples) == len(d["edited_files"]) == len(d["original_file_content"]) == len(d["new_file_content"])
            for old, new, path in triples:
                assert isinstance(old, str) and isinstance(new, str) and isinstance(path, str)
                # edited_files are real paths of the checkout at base_commit, holding original_file_content
                with open(os.path.join(repos[d["instance_id"]], path)) as g:
                    assert g.read() == old, path
            # normalize_patch's fake git repo: write each old file at its path, commit, write the new one, diff
            play = tempfile.mkdtemp()
            subprocess.run(["git", "init", "-q", play], check=True)
            for old, new, path in triples:
                os.makedirs(os.path.dirname(os.path.join(play, path)) or play, exist_ok=True)
                open(os.path.join(play, path), "w").write(old)
            subprocess.run(["git", "-C", play, "add", "-A"], check=True)
            subprocess.run(["git", "-C", play, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "o"], check=True)
            for old, new, path in triples:
                open(os.path.join(play, path), "w").write(new)
            normalized = subprocess.run(["git", "-C", play, "diff", "."], capture_output=True, text=True).stdout
            assert (normalized.strip() != "") == (patch.strip() != "")
            out["votes"].setdefault(d["instance_id"], Counter())[normalized] += 1
for name in sorted(os.listdir(save)):
    if name.startswith("preds_") and name.endswith(".jsonl"):
        with open(os.path.join(save, name)) as f:
            preds = [json.loads(line) for line in f]
        for p in preds:
            assert isinstance(p, dict) and "instance_id" in p
            assert isinstance(p["model_name_or_path"], str) and isinstance(p["model_patch"], str)
            out["preds"].append([p["instance_id"], p["model_name_or_path"].replace("/", "__"), len(p["model_patch"])])
out["votes"] = {k: max(v.values()) for k, v in out["votes"].items()}
print(json.dumps(out))
`;
    const repos = { [REQUESTS_ID]: world.repos[REQUESTS_ID]!.dir, [FLASK_ID]: world.repos[FLASK_ID]!.dir };
    const result = python(reader, [save, JSON.stringify(repos)]) as { votes: Record<string, number>; preds: [string, string, number][] };
    assert.deepEqual(result.votes, { [FLASK_ID]: 1, [REQUESTS_ID]: 1 });
    assert.deepEqual(result.preds.map((p) => p.slice(0, 2)), [[FLASK_ID, "moonshotai__Kimi-Dev-72B"], [REQUESTS_ID, "moonshotai__Kimi-Dev-72B"]]);
    // The harness applies model_patch with git apply at base_commit.
    for (const p of parseLines(await readFile(join(save, "preds_0.jsonl"), "utf8")) as { instance_id: string; model_patch: string }[]) {
      const check = gitApply(world.clone(p.instance_id, "harness"), p.model_patch, true);
      assert.ok(check.ok, `${p.instance_id}: ${check.err}`);
    }
  });
});

describe("agentless bugfixer proc_step1_gen_step2 after the Python script", () => {
  it("item 3: step-1 paths in a src/ layout are found; an ambiguous one is named in the failure", async () => {
    const input = writeLines(join(dir, "fl-step1.jsonl"), [answered(FLASK_ID, "```\nflask/config.py\n```")]);
    const amb = writeLines(join(dir, "fl-step1-amb.jsonl"), [answered(`${FLASK_ID}__pass1`, "```\nconftest.py\n```")]);
    const out = join(dir, "fl-step2.jsonl");
    const r = await runCli(["agentless", "bugfixer", "proc_step1_gen_step2", ...common(), "--input_file", input, "--output_file", out]);
    assert.equal(r.code, 0, r.stderr);
    const reqs = parseLines(await readFile(out, "utf8")) as Req[];
    assert.deepEqual(reqs.map((q) => q.custom_id), [FLASK_ID]);
    assert.match(reqs[0]!.body.messages[0]!.content, /^### src\/flask\/config\.py$/m);
    const out2 = join(dir, "fl-step2-amb.jsonl");
    assert.equal((await runCli(["agentless", "bugfixer", "proc_step1_gen_step2", ...common(), "--input_file", amb, "--output_file", out2])).code, 0);
    const failures = parseLines(await readFile(`${out2}.failures.jsonl`, "utf8")) as Failure[];
    assert.deepEqual(failures.map((f) => f.reason), ["no_file_found"]);
    assert.match(failures[0]!.detail, /ambiguous: conftest\.py \(docs\/conftest\.py or tests\/conftest\.py\)/);
  });

  it("item 7 / issue 11 item 9: a custom_id on several lines has one outcome, its last line's: one request, no stale failure", async () => {
    const input = writeLines(join(dir, "dup-step1.jsonl"), [
      refused(FLASK_ID, 500),
      answered(REQUESTS_ID, "```\nrequests/sessions.py\n```"),
      answered(FLASK_ID, "```\nflask/config.py\n```"),
      answered(REQUESTS_ID, "```\nsessions.py\n```"),
    ]);
    const out = join(dir, "dup-step2.jsonl");
    const r = await runCli(["agentless", "bugfixer", "proc_step1_gen_step2", ...common(), "--input_file", input, "--output_file", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 earlier line\(s\) of 2 repeated custom_id\(s\) ignored/);
    const reqs = parseLines(await readFile(out, "utf8")) as Req[];
    assert.deepEqual(reqs.map((q) => q.custom_id).sort(), [FLASK_ID, REQUESTS_ID]);
    assert.deepEqual(parseLines(await readFile(`${out}.failures.jsonl`, "utf8")), [], "the 500 lost to the later 200");
    assert.equal((await runCli(["validate", out, "--kind", "request"])).code, 0, "unique custom_ids: the Batch API takes the file");

    // proc_step2 the same way: a 500 then an answer is one sample and no failure; a body without `model` takes --model_name.
    const step2 = writeLines(join(dir, "dup-step2-out.jsonl"), [refused(FLASK_ID, 500), answered(FLASK_ID, CONFIG_FIX), { ...answered(REQUESTS_ID, SESSIONS_FIX), response: { ...(answered(REQUESTS_ID, SESSIONS_FIX).response as object), body: { choices: [{ index: 0, message: { role: "assistant", content: SESSIONS_FIX }, finish_reason: "stop" }] } } }]);
    const save = join(dir, "dup-save");
    const s = await runCli(["agentless", "bugfixer", "proc_step2", ...common(), "--input_file", "-", "--save_dir", save, "--model_name", "my/model"], { input: await readFile(step2) });
    assert.equal(s.code, 0, s.stderr);
    assert.equal((await readFile(join(save, "failures.jsonl"), "utf8")).trim(), "");
    const recs = parseLines(await readFile(join(save, "output_0_processed.jsonl"), "utf8")) as { instance_id: string; model_name_or_path: string; model_patch: string }[];
    assert.deepEqual(recs.map((x) => [x.instance_id, x.model_name_or_path, x.model_patch !== ""]), [[FLASK_ID, "moonshotai/Kimi-Dev-72B", true], [REQUESTS_ID, "my/model", true]]);
  });
});

describe("agentless testwriter after Kimi-Dev's batch_rollout_testwriter.py", () => {
  const TEST_EDIT = block(
    "tests/test_config.py",
    '    assert c["A"] == 1\n',
    '    assert c["A"] == 1\n\n\ndef test_from_mapping_drops_lower_keys():\n    c = Config()\n    c.from_mapping({"a": 1})\n    assert "a" not in c\n',
  );
  const id = (pass: number) => `${FLASK_ID}__pass${pass}`;

  it("item 4: proc_step1_gen_step2 takes the pass from the custom_id: __pass0 at temperature 0, other passes and a bare id at --temp", async () => {
    const input = writeLines(join(dir, "tw-temp-step1.jsonl"), [answered(id(0), "```\ntests/test_config.py\n```"), answered(id(1), "```\ntests/test_config.py\n```"), answered(REQUESTS_ID, "```\ntest_requests.py\n```")]);
    const out = join(dir, "tw-temp-step2.jsonl");
    const r = await runCli(["agentless", "testwriter", "proc_step1_gen_step2", ...common(), "--input_file", input, "--output_file", out, "--temp", "0.7"]);
    assert.equal(r.code, 0, r.stderr);
    const temps = Object.fromEntries((parseLines(await readFile(out, "utf8")) as Req[]).map((q) => [q.custom_id, q.body.temperature]));
    assert.deepEqual(temps, { [id(0)]: 0, [id(1)]: 0.7, [REQUESTS_ID]: 0.7 });
  });

  it("items 1, 5: proc_step2 follows step 1 (failed, no test file, missing: no test), and the reproduction-test file holds successes only", async () => {
    const step1 = writeLines(join(dir, "tw-step1.jsonl"), [
      answered(id(0), "```\ntests/test_config.py\nflask/config.py\n```"),
      refused(id(1), 500),
      answered(id(2), "```\nflask/config.py\n```"),
      answered(id(4), "```\ntests/test_config.py\n```"),
    ]);
    const sourceEdit = block("flask/config.py", "        return True\n", "        return False\n");
    const step2 = writeLines(join(dir, "tw-step2.jsonl"), [
      answered(id(0), TEST_EDIT),
      answered(id(1), TEST_EDIT),
      answered(id(2), sourceEdit), // before: became reproduce_bug.py from src/flask/config.py
      answered(id(3), TEST_EDIT), // not in the step-1 output
      answered(id(4), block("tests/test_config.py", "    assert nothing_like_this\n", "    pass\n")),
      answered("pallets__flask-404__pass0", TEST_EDIT),
    ]);
    const save = join(dir, "tw-save");
    const r = await runCli(["agentless", "testwriter", "proc_step2", ...common(), "--input_file", step2, "--step1_file", step1, "--save_dir", save]);
    assert.equal(r.code, 0, r.stderr);
    const failures = parseLines(await readFile(join(save, "failures.jsonl"), "utf8")) as Failure[];
    assert.deepEqual(failures.map((f) => [f.custom_id, f.reason]), [
      ["pallets__flask-404__pass0", "instance_not_in_dataset"],
      [id(1), "step1_request_failed"],
      [id(2), "no_test_file"],
      [id(3), "not_in_step1"],
      [id(4), "no_edit_applied"],
    ]);
    const files = await readTree(save);
    for (const pass of [1, 2, 3, 4]) assert.equal(files.get(`output_${pass}_processed_reproduction_test.jsonl`), "", `pass ${pass}: no empty record`);
    const recs = parseLines(files.get("output_0_processed_reproduction_test.jsonl")!) as { instance_id: string; model_name_or_path: string; test_patch: string; raw_test_patch: string }[];
    assert.equal(recs.length, 1);
    assert.equal(recs[0]!.model_name_or_path, "moonshotai/Kimi-Dev-72B");
    const sample = JSON.parse(files.get(`samples/${id(0)}.jsonl`)!) as Record<string, unknown>;
    for (const key of ["custom_id", "instance_id", "raw_answer", "search_replace_text", "model_found_files", "found_files", "file_contentes_dict"]) assert.ok(Object.hasOwn(sample, key), key);
    assert.deepEqual(sample.found_files, ["tests/test_config.py"]);
    assert.deepEqual(sample.model_found_files, ["tests/test_config.py", "flask/config.py"]);
    assert.deepEqual(Object.keys(sample.file_contentes_dict as object), ["tests/test_config.py"]);
    for (const pass of [1, 2, 3]) assert.ok(!Object.hasOwn(JSON.parse(files.get(`samples/${id(pass)}.jsonl`)!) as object, "test_patch"), `pass ${pass}: no test built`);

    // Agentless's reproduction-test runner (create_instance_test_dict) and its test normalizer read every record.
    const reader = String.raw`
import ast, json, os, re, sys
save = sys.argv[1]
tests = {}
for name in sorted(os.listdir(save)):
    if not name.endswith("_processed_reproduction_test.jsonl"):
        continue
    with open(os.path.join(save, name)) as f:
        for line in f:
            json_obj = json.loads(line.strip())
            instance_id = json_obj["instance_id"]
            test_patch = json_obj["test_patch"]
            assert test_patch.strip() != "", "every record is a test to run"
            assert "+++ b/reproduce_bug.py" in test_patch
            m = re.compile(r"` + "```" + String.raw`python(.*?)` + "```" + String.raw`", re.DOTALL).search(json_obj["raw_test_patch"])
            assert m is not None, "raw_test_patch holds the test in a python block"
            ast.parse(m.group(1).strip())
            tests[name + ":" + instance_id] = test_patch
print(json.dumps(tests))
`;
    const tests = python(reader, [save]) as Record<string, string>;
    assert.deepEqual(Object.keys(tests), [`output_0_processed_reproduction_test.jsonl:${FLASK_ID}`]);
    // The runner applies the test patch at base_commit and runs `python3 reproduce_bug.py` (the package installed: PYTHONPATH=src).
    const run = (repo: string) => spawnSync(pythonWithPytest(), ["reproduce_bug.py"], { cwd: repo, encoding: "utf8", timeout: 60_000, env: { ...process.env, PYTHONPATH: join(repo, "src") } });
    const base = world.clone(FLASK_ID, "repro");
    assert.ok(gitApply(base, Object.values(tests)[0]!).ok);
    assert.ok(existsSync(join(base, "reproduce_bug.py")));
    assert.equal(run(base).stdout.trim(), "Issue reproduced");
    const fixed = world.clone(FLASK_ID, "repro-fixed");
    assert.ok(gitApply(fixed, Object.values(tests)[0]!).ok);
    assert.ok(gitApply(fixed, world.repos[FLASK_ID]!.gold).ok);
    assert.equal(run(fixed).stdout.trim(), "Issue resolved");
  });
});

describe("agentless inputs are checked where they are made (issue 11 items 9, 10)", () => {
  it("a dataset with a duplicate instance_id is an error naming both lines", async () => {
    const rows = (await readFile(world.dataset, "utf8")).trim().split("\n");
    const dup = join(dir, "dup-dataset.jsonl");
    await writeFile(dup, [rows[0], rows[1], rows[0]].join("\n") + "\n");
    for (const stage of ["gen_step1", "proc_step1_gen_step2"]) {
      const r = await runCli(["agentless", "bugfixer", stage, "--dataset", dup, "--repostructure_dir", world.structures, "--input_file", join(dir, "fl-step1.jsonl"), "--output_file", join(dir, "never.jsonl")]);
      assert.equal(r.code, 1, stage);
      assert.equal(r.stderr, `batchline: ${dup}:3 (instance_id=${REQUESTS_ID}): duplicate instance_id (first seen at ${dup}:1)\n`);
    }
  });

  it("a --repostructure_dir that does not exist is one error, not a structure_not_found failure per instance", async () => {
    const missing = join(dir, "no-such-structures");
    const out = join(dir, "nostruct.jsonl");
    const r = await runCli(["agentless", "bugfixer", "gen_step1", "--dataset", world.dataset, "--repostructure_dir", missing, "--output_file", out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: --repostructure_dir .*no-such-structures: no such directory/);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
    assert.ok(!existsSync(out) && !existsSync(`${out}.failures.jsonl`));
  });
});

describe("item 10: a user's prompt templates, all four prompts, byte for byte", () => {
  const FLASK_TREE_NO_TESTS = "flask/\n    setup.py\ndocs/\n    conftest.py\nsrc/\n    flask/\n        __init__.py\n        config.py";
  const FLASK_TREE = `${FLASK_TREE_NO_TESTS}\ntests/\n    conftest.py\n    test_config.py`;
  const CONFIG_PY = "class Config(dict):\n    def from_mapping(self, mapping):\n        for key, value in mapping.items():\n            self[key] = value\n        return True";
  const TEST_PY = 'from flask.config import Config\n\n\ndef test_from_mapping_keeps_upper_keys():\n    c = Config()\n    c.from_mapping({"A": 1})\n    assert c["A"] == 1';
  const problem = "Config.from_mapping keeps lower-case keys; only upper-case keys are configuration.";
  // Templates in the layout an Agentless-trained model expects (our own words); the file's final newline is not part of the prompt.
  const STEP1 = "Which files?\n\n### Problem ###\n{problem_statement}\n\n###\n\n### Repository Structure ###\n{agentless_structure}\n\n###\n\nA dict such as {key: value} and {name} stay as written.\n";
  const STEP2 = "--- BEGIN ISSUE ---\n{problem_statement}\n--- END ISSUE ---\n--- BEGIN FILE ---\n```\n{agentless_content}\n```\n--- END FILE ---\nEdit {file} ({instance_id}, {repo}).\n";
  const expect1 = (tree: string) => `Which files?\n\n### Problem ###\n${problem}\n\n###\n\n### Repository Structure ###\n${tree}\n\n###\n\nA dict such as {key: value} and {name} stay as written.`;
  const expect2 = (content: string, file: string) => `--- BEGIN ISSUE ---\n${problem}\n--- END ISSUE ---\n--- BEGIN FILE ---\n\`\`\`\n${content}\n\`\`\`\n--- END FILE ---\nEdit ${file} (${FLASK_ID}, pallets/flask).`;
  const flaskOnly = async () => {
    const rows = (await readFile(world.dataset, "utf8")).trim().split("\n").filter((l) => l.includes(FLASK_ID));
    const path = join(dir, "flask-only.jsonl");
    await writeFile(path, rows.join("\n") + "\n");
    return path;
  };

  it("gen_step1 (both roles): the prompt is the template filled, byte for byte; thinking_budget only with --enable_thinking", async () => {
    const t1 = join(dir, "step1.tmpl");
    await writeFile(t1, STEP1);
    const dataset = await flaskOnly();
    for (const [role, flag, tree] of [["bugfixer", "--step1-prompt-template", FLASK_TREE_NO_TESTS], ["testwriter", "--prompt-template", FLASK_TREE]] as const) {
      const out = join(dir, `tmpl-${role}-1.jsonl`);
      const r = await runCli(["agentless", role, "gen_step1", "--dataset", dataset, "--repostructure_dir", world.structures, flag, t1, "--output_file", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /\{name\} is no placeholder and stays as written/);
      const [req] = parseLines(await readFile(out, "utf8")) as (Req & { body: Record<string, unknown> })[];
      assert.equal(req!.body.messages[0]!.content, expect1(tree), role);
      assert.ok(!Object.hasOwn(req!.body, "thinking_budget") && !Object.hasOwn(req!.body, "enable_thinking"), "not asked: not sent");
    }
    const out = join(dir, "tmpl-think.jsonl");
    assert.equal((await runCli(["agentless", "bugfixer", "gen_step1", "--dataset", dataset, "--repostructure_dir", world.structures, "--enable_thinking", "--thinking_budget", "4096", "--output_file", out])).code, 0);
    const [req] = parseLines(await readFile(out, "utf8")) as { body: Record<string, unknown> }[];
    assert.deepEqual([req!.body.enable_thinking, req!.body.thinking_budget], [true, 4096]);
  });

  it("proc_step1_gen_step2 (both roles): files in the Agentless layout, the test file for the testwriter", async () => {
    const t2 = join(dir, "step2.tmpl");
    await writeFile(t2, STEP2);
    const input = writeLines(join(dir, "tmpl-step1-out.jsonl"), [answered(FLASK_ID, "```\ntests/test_config.py\nflask/config.py\n```")]);
    for (const [role, flag, expected] of [["bugfixer", "--step2-prompt-template", expect2(`tests/test_config.py\n${TEST_PY}\n\nsrc/flask/config.py\n${CONFIG_PY}`, "")], ["testwriter", "--prompt-template", expect2(`tests/test_config.py\n${TEST_PY}`, "tests/test_config.py")]] as const) {
      const out = join(dir, `tmpl-${role}-2.jsonl`);
      const r = await runCli(["agentless", role, "proc_step1_gen_step2", ...common(), "--input_file", input, flag, t2, "--output_file", out]);
      assert.equal(r.code, 0, r.stderr);
      const [req] = parseLines(await readFile(out, "utf8")) as Req[];
      assert.equal(req!.body.messages[0]!.content, expected, role);
    }
  });

  it("a step-1 template naming a step-2 placeholder is refused before anything runs", async () => {
    const bad = join(dir, "bad.tmpl");
    await writeFile(bad, "{problem_statement}\n{content}\n");
    const r = await runCli(["agentless", "bugfixer", "gen_step1", ...common(), "--step1-prompt-template", bad, "--output_file", join(dir, "never2.jsonl")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: --step1-prompt-template .*bad\.tmpl: \{content\} only exist\(s\) in step 2/);
  });
});

describe("issue 11 item 16: each agentless stage's --help, and the fixtures' README", () => {
  it("lists that stage's own options, not the generic help", async () => {
    const step2 = await runCli(["agentless", "bugfixer", "proc_step2", "--help"]);
    assert.equal(step2.code, 0);
    assert.match(step2.stdout, /^batchline agentless bugfixer proc_step2 \[options\]\n/);
    assert.match(step2.stdout, /--save-dir <dir>/);
    assert.doesNotMatch(step2.stdout, /--passk|--output-file|--step1-file|--temp|Usage:/, "gen-step options and the generic usage are not shown");
    const tw = await runCli(["agentless", "testwriter", "--stage", "proc_step2", "-h"]);
    assert.match(tw.stdout, /--step1-file <path>/);
    const gen = await runCli(["agentless", "testwriter", "gen_step1", "--help"]);
    assert.match(gen.stdout, /--passk <k>/);
    assert.match(gen.stdout, /--step1-prompt-template <file>/);
    assert.doesNotMatch(gen.stdout, /--save-dir|--input-file|--step2-prompt-template/);
  });

  it("fixtures/agentless/README.md names only documents that are in the repository", async () => {
    const { ROOT } = await import("./helpers.ts");
    const text = await readFile(join(ROOT, "fixtures/agentless/README.md"), "utf8");
    for (const m of text.matchAll(/\b([A-Z][A-Z_-]+\.md)\b/g)) assert.ok(existsSync(join(ROOT, m[1]!)) || existsSync(join(ROOT, "fixtures/agentless", m[1]!)), `${m[1]} is not in the repository`);
  });
});
