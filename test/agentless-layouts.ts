/**
 * Fixtures for the "switching from Kimi-Dev" suite: two tiny repositories in the layouts that
 * tripped the original scripts' users, made here (not copied from anywhere):
 * - `requests` (like psf/requests at SWE-bench Lite's commits): the package `requests/` has the
 *   clone folder's name, so Agentless keeps it and the root files in one dict;
 * - `flask` (like pallets/flask): code under `src/`, tests under `tests/`, and a `conftest.py` in
 *   both `tests/` and `docs/`.
 * `makeWorld` writes each as a real git repository, its Agentless-built structure (batchline's
 * builder, with the batchline-only `root_files`/`top_folder` keys removed, as Agentless writes
 * it), SWE-bench rows whose gold `patch` is a real `git diff`, and helpers for batch output lines.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildStructure } from "../src/agentless/build-structure.ts";

export const REQUESTS_FILES: Record<string, string> = {
  "setup.py": 'from setuptools import setup\n\nsetup(name="requests")\n',
  "requests/__init__.py": "from requests.sessions import Session\n",
  "requests/sessions.py": [
    "class Session:",
    "    def __init__(self):",
    "        self.headers = {}",
    "",
    "    def request(self, method, url, params=None):",
    '        return method.upper() + " " + url',
    "",
    "",
    "def session():",
    "    return Session()",
    "",
  ].join("\n"),
  "test_requests.py": ["from requests.sessions import Session", "", "", "def test_method_is_upper_case():", '    assert Session().request("get", "u") == "GET u"', ""].join("\n"),
};

/** The gold fix of requests: params end up in the URL. */
export const REQUESTS_GOLD: Record<string, string> = {
  "requests/sessions.py": REQUESTS_FILES["requests/sessions.py"]!.replace(
    '        return method.upper() + " " + url\n',
    '        if params:\n            url += "?" + "&".join("%s=%s" % kv for kv in sorted(params.items()))\n        return method.upper() + " " + url\n',
  ),
};

export const FLASK_FILES: Record<string, string> = {
  "setup.py": 'from setuptools import setup\n\nsetup(name="flask", package_dir={"": "src"})\n',
  "src/flask/__init__.py": "",
  "src/flask/config.py": [
    "class Config(dict):",
    "    def from_mapping(self, mapping):",
    "        for key, value in mapping.items():",
    "            self[key] = value",
    "        return True",
    "",
  ].join("\n"),
  "tests/conftest.py": "import pytest\n",
  "docs/conftest.py": "import pytest\n",
  "tests/test_config.py": ["from flask.config import Config", "", "", "def test_from_mapping_keeps_upper_keys():", "    c = Config()", '    c.from_mapping({"A": 1})', '    assert c["A"] == 1', ""].join("\n"),
};

/** The gold fix of flask: only upper-case keys are kept. */
export const FLASK_GOLD: Record<string, string> = {
  "src/flask/config.py": FLASK_FILES["src/flask/config.py"]!.replace("            self[key] = value\n", "            if key.isupper():\n                self[key] = value\n"),
};

export const REQUESTS_ID = "psf__requests-9001";
export const FLASK_ID = "pallets__flask-9001";

/** A built world: repositories, structures, dataset. */
export interface World {
  dir: string;
  structures: string;
  dataset: string;
  /** instance_id -> repository directory (at base_commit) and base commit. */
  repos: Record<string, { dir: string; base: string; gold: string }>;
  /** A fresh clone of an instance's repository at base_commit. */
  clone(instanceId: string, name: string): string;
}

function git(cwd: string, args: string[], input?: string): string {
  return execFileSync("git", args, { cwd, input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

function makeRepo(dir: string, files: Record<string, string>, gold: Record<string, string>): { base: string; gold: string } {
  mkdirSync(dir, { recursive: true });
  git(dir, ["init", "-q"]);
  for (const [k, v] of [["user.name", "batchline test"], ["user.email", "test@batchline.invalid"], ["core.autocrlf", "false"], ["commit.gpgsign", "false"]]) git(dir, ["config", k!, v!]);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  git(dir, ["add", "-A"]);
  git(dir, ["commit", "-q", "-m", "base"]);
  const base = git(dir, ["rev-parse", "HEAD"]).trim();
  for (const [path, text] of Object.entries(gold)) writeFileSync(join(dir, path), text);
  const patch = git(dir, ["diff"]);
  git(dir, ["checkout", "-q", "--", "."]);
  return { base, gold: patch };
}

/** Builds both repositories, their Agentless-shaped structures and a dataset under `dir`. */
export async function makeWorld(dir: string): Promise<World> {
  const structures = join(dir, "structures");
  const repos: World["repos"] = {};
  const rows: string[] = [];
  for (const [id, clone, files, gold, problem] of [
    [REQUESTS_ID, "requests", REQUESTS_FILES, REQUESTS_GOLD, "Session.request ignores params: request('get', 'u', params={'a': 1}) should ask for u?a=1."],
    [FLASK_ID, "flask", FLASK_FILES, FLASK_GOLD, "Config.from_mapping keeps lower-case keys; only upper-case keys are configuration."],
  ] as const) {
    const repoDir = join(dir, "repos", id, clone);
    const made = makeRepo(repoDir, files, gold);
    repos[id] = { dir: repoDir, ...made };
    await buildStructure({ repo: repoDir, commit: made.base, instanceId: id, outDir: structures });
    const file = join(structures, `${id}.json`);
    const value = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    delete value.root_files; // as Agentless writes it: nothing says which names under the clone folder are root files
    delete value.top_folder;
    writeFileSync(file, JSON.stringify(value));
    rows.push(JSON.stringify({ repo: id.replace(/__/, "/").replace(/-\d+$/, ""), instance_id: id, base_commit: made.base, patch: made.gold, test_patch: "", problem_statement: problem, hints_text: "", created_at: "2024-01-01T00:00:00Z", version: "1.0", FAIL_TO_PASS: "[]", PASS_TO_PASS: "[]", environment_setup_commit: made.base }));
  }
  const dataset = join(dir, "dataset.jsonl");
  writeFileSync(dataset, rows.join("\n") + "\n");
  let n = 0;
  return {
    dir,
    structures,
    dataset,
    repos,
    clone(instanceId, name) {
      const target = join(dir, "clones", `${name}-${n++}`, instanceId.includes("flask") ? "flask" : "requests");
      mkdirSync(dirname(target), { recursive: true });
      execFileSync("git", ["clone", "-q", repos[instanceId]!.dir, target]);
      git(target, ["checkout", "-q", repos[instanceId]!.base]);
      return target;
    },
  };
}

/** A successful batch output line whose answer is `content`, written by `model`. */
export function answered(customId: string, content: string | null, model = "moonshotai/Kimi-Dev-72B"): Record<string, unknown> {
  return {
    id: `batch_req_${customId}`,
    custom_id: customId,
    response: {
      status_code: 200,
      request_id: `req_${customId}`,
      body: { id: `chatcmpl-${customId}`, object: "chat.completion", created: 1717000000, model, choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 } },
    },
    error: null,
  };
}

/** A batch output line for a request the endpoint refused with HTTP `status`. */
export function refused(customId: string, status = 500): Record<string, unknown> {
  return { id: `batch_req_${customId}_${status}`, custom_id: customId, response: { status_code: status, request_id: `req_${customId}_${status}`, body: { error: { message: "The server had an error while processing your request.", type: "server_error" } } }, error: null };
}

/** Writes batch output lines to `path` (one JSON object per line). */
export function writeLines(path: string, lines: Record<string, unknown>[]): string {
  writeFileSync(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  return path;
}

/** One SEARCH/REPLACE block in a ```python fence, as a model writes it. */
export function block(path: string, search: string, replace: string): string {
  return `\`\`\`python\n### ${path}\n<<<<<<< SEARCH\n${search}=======\n${replace}>>>>>>> REPLACE\n\`\`\``;
}
