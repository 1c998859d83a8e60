import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ApplyEditsOptions, applyEdits, normalizeEditPath } from "../src/agentless/apply-edits.ts";
import { buildGitDiff } from "../src/agentless/git-diff.ts";
import type { SearchReplaceEdit } from "../src/agentless/search-replace.ts";
import { assertPatchApplies } from "./agentless-git.ts";

let nextIndex = 0;
/** An edit as the parser would give it (lines joined with a final `\n` each). */
function edit(path: string, search: string[], replace: string[]): SearchReplaceEdit {
  const join = (lines: string[]) => lines.map((l) => l + "\n").join("");
  const index = nextIndex++;
  return { path, search: join(search), replace: join(replace), index, line: index * 10 + 1 };
}

/** Applies edits to `files`, builds the patch and checks it with git apply against `repoFiles` (default `files`). */
function applyAndCheck(files: Record<string, string | null>, edits: SearchReplaceEdit[], expected: Record<string, string>, options: ApplyEditsOptions & { repoFiles?: Record<string, string> } = {}) {
  const result = applyEdits(edits, new Map(Object.entries(files)), options);
  const patch = buildGitDiff(result.files);
  const repoFiles = options.repoFiles ?? (Object.fromEntries(Object.entries(files).filter(([, v]) => v !== null)) as Record<string, string>);
  assertPatchApplies(repoFiles, patch, expected);
  return { result, patch };
}

const MOD = ["import os", "", "", "def f(x):", "    return x + 1", "", "", "def g(y):", "    return y * 2", ""].join("\n");

describe("applyEdits: the same file text edited again", () => {
  it("starts each call from the text as given (an append, a whitespace match and an exact edit in turn)", () => {
    const text = "def f():\n    return 1"; // no final newline: an append changes the last line's ending
    const files = new Map([["m.py", text]]);
    const appended = applyEdits([edit("m.py", [], ["x = 2"])], files).files[0]!.newText;
    assert.equal(appended, "def f():\n    return 1\nx = 2\n");
    const shifted = applyEdits([edit("m.py", ["  return 1"], ["  return 3"])], files);
    assert.equal(shifted.applied[0]!.match, "whitespace");
    assert.equal(shifted.files[0]!.newText, "def f():\n    return 3");
    assert.equal(applyEdits([edit("m.py", ["def f():"], ["def h():"])], files).files[0]!.newText, "def h():\n    return 1");
    assert.equal(applyEdits([edit("m.py", [], ["x = 2"])], files).files[0]!.newText, appended);
  });
});

describe("applyEdits: exact matches", () => {
  it("applies several edits to one file in order, each on the result of the one before", () => {
    const edits = [
      edit("pkg/mod.py", ["    return x + 1"], ["    return x + 2"]),
      edit("pkg/mod.py", ["def g(y):", "    return y * 2"], ["def g(y):", "    return y * 3"]),
      edit("pkg/mod.py", ["    return x + 2"], ["    return x + 20"]), // only exists after the first edit
    ];
    const { result } = applyAndCheck({ "pkg/mod.py": MOD }, edits, {
      "pkg/mod.py": MOD.replace("x + 1", "x + 20").replace("y * 2", "y * 3"),
    });
    assert.deepEqual(result.failures, []);
    assert.deepEqual(result.applied.map((a) => a.match), ["exact", "exact", "exact"]);
    assert.deepEqual(result.files.map((f) => [f.path, f.edits]), [["pkg/mod.py", edits.map((e) => e.index)]]);
  });

  it("replaces the first occurrence only, on whole lines", () => {
    const text = "x = 1\nyx = 1\nx = 1\n";
    const { result } = applyAndCheck({ "a.py": text }, [edit("a.py", ["x = 1"], ["x = 9"])], { "a.py": "x = 9\nyx = 1\nx = 1\n" });
    assert.equal(result.files[0]!.newText, "x = 9\nyx = 1\nx = 1\n");
  });

  it("edits the first and the last line, and deletes every line", () => {
    applyAndCheck({ "a.py": MOD }, [edit("a.py", ["import os"], ["import sys", "import os"]), edit("a.py", ["    return y * 2"], ["    return -y"])], {
      "a.py": "import sys\n" + MOD.replace("y * 2", "-y"),
    });
    const text = "a = 1\nb = 2\n";
    const { result } = applyAndCheck({ "d.py": text }, [edit("d.py", ["a = 1", "b = 2"], [])], { "d.py": "" });
    assert.equal(result.files[0]!.newText, "");
  });

  it("edits several files, the diff listing each once, sorted", () => {
    const files = { "z/last.py": "z = 1\n", "a/first.py": "a = 1\n", "m.py": "m = 1\n" };
    const { patch } = applyAndCheck(
      files,
      [edit("z/last.py", ["z = 1"], ["z = 2"]), edit("a/first.py", ["a = 1"], ["a = 2"]), edit("z/last.py", ["z = 2"], ["z = 3"])],
      { "z/last.py": "z = 3\n", "a/first.py": "a = 2\n", "m.py": "m = 1\n" },
    );
    assert.deepEqual([...patch.matchAll(/^diff --git a\/(\S+)/gm)].map((m) => m[1]), ["a/first.py", "z/last.py"]);
  });
});

describe("applyEdits: line endings", () => {
  it("keeps a file without a final newline without one when its last line is edited", () => {
    const text = "a = 1\nb = 2";
    const { result } = applyAndCheck({ "n.py": text }, [edit("n.py", ["b = 2"], ["b = 3", "c = 4"])], { "n.py": "a = 1\nb = 3\nc = 4" });
    assert.equal(result.files[0]!.newText, "a = 1\nb = 3\nc = 4");
  });

  it("edits the middle of a file without a final newline, leaving its end alone", () => {
    applyAndCheck({ "n.py": "a = 1\nb = 2\nc = 3" }, [edit("n.py", ["a = 1"], ["a = 0"])], { "n.py": "a = 0\nb = 2\nc = 3" });
  });

  it("keeps CRLF endings and gives inserted lines the file's CRLF", () => {
    const text = "def f():\r\n    return 1\r\n\r\nX = 1\r\n";
    const { result } = applyAndCheck({ "w.py": text }, [edit("w.py", ["def f():", "    return 1"], ["def f():", "    # fixed", "    return 2"])], {
      "w.py": "def f():\r\n    # fixed\r\n    return 2\r\n\r\nX = 1\r\n",
    });
    assert.equal(result.applied[0]!.match, "exact");
  });
});

describe("applyEdits: whitespace-insensitive matches", () => {
  const CLS = ["class A:", "    def f(self):", "        if self.x:", "            return 1", "        return 0", ""].join("\n");

  it("matches a SEARCH written without the file's indentation and shifts the REPLACE by it", () => {
    const e = edit("c.py", ["def f(self):", "    if self.x:", "        return 1"], ["def f(self):", "    if self.x and self.y:", "        return 1", "    # checked"]);
    const { result } = applyAndCheck({ "c.py": CLS }, [e], {
      "c.py": ["class A:", "    def f(self):", "        if self.x and self.y:", "            return 1", "        # checked", "        return 0", ""].join("\n"),
    });
    assert.deepEqual(result.applied.map((a) => a.match), ["whitespace"]);
  });

  it("shifts left when the SEARCH is indented more than the file, and tolerates trailing blanks", () => {
    const e = edit("c.py", ["            if self.x:   ", "                return 1"], ["            if not self.x:", "                return 1"]);
    applyAndCheck({ "c.py": CLS }, [e], { "c.py": CLS.replace("if self.x:", "if not self.x:") });
  });

  it("reports an edit that matches nothing, with its block index, and still applies the others", () => {
    const missing = edit("c.py", ["def nowhere():"], ["def somewhere():"]);
    const fine = edit("c.py", ["        return 0"], ["        return -1"]);
    const { result } = applyAndCheck({ "c.py": CLS }, [missing, fine], { "c.py": CLS.replace("return 0", "return -1") });
    assert.equal(result.failures.length, 1);
    assert.deepEqual(
      { index: result.failures[0]!.index, path: result.failures[0]!.path, kind: result.failures[0]!.kind },
      { index: missing.index, path: "c.py", kind: "no-match" },
    );
    assert.match(result.failures[0]!.reason, /def nowhere\(\):.*not found in c\.py/);
  });

  it("does not let a SEARCH of blank lines match loosely", () => {
    const result = applyEdits([edit("c.py", ["   "], ["x = 1"])], new Map([["c.py", CLS]]));
    assert.deepEqual(result.failures.map((f) => f.kind), ["no-match"]);
    assert.deepEqual(result.files, []);
  });
});

describe("applyEdits: empty SEARCH", () => {
  it("creates a file the structure does not know", () => {
    const { result } = applyAndCheck({ "a.py": "a\n" }, [edit("tests/test_new.py", [], ["def test_x():", "    assert True"])], {
      "tests/test_new.py": "def test_x():\n    assert True\n",
      "a.py": "a\n",
    });
    assert.deepEqual(result.files.map((f) => [f.path, f.oldText]), [["tests/test_new.py", null]]);
    assert.equal(result.applied[0]!.match, "create");
  });

  it("fills an empty known file, and appends to a non-empty one (adding its missing final newline)", () => {
    const { result } = applyAndCheck({ "pkg/__init__.py": "", "pkg/b.py": "b = 1" }, [edit("pkg/__init__.py", [], ["from .b import b"]), edit("pkg/b.py", [], ["c = 2"])], {
      "pkg/__init__.py": "from .b import b\n",
      "pkg/b.py": "b = 1\nc = 2\n",
    });
    assert.deepEqual(result.applied.map((a) => a.match), ["fill-empty", "append"]);
  });

  it("refuses new files when asked to, and an edit with nothing in it", () => {
    const result = applyEdits([edit("new.py", [], ["x"]), edit("a.py", [], [])], new Map([["a.py", "a\n"]]), { allowNewFiles: false });
    assert.deepEqual(result.failures.map((f) => f.kind), ["new-file-refused", "empty-edit"]);
    assert.deepEqual(result.files, []);
  });
});

describe("applyEdits: SEARCH padded with blank lines", () => {
  it("drops blank lines that open and close SEARCH (and as many blank ones of REPLACE) before matching", () => {
    // The file has `import os` right above `def f`: a SEARCH padded with a blank line before and after matches nothing as written.
    const text = "import os\ndef f(x):\n    return x + 1\nprint(f(1))\n";
    const { result } = applyAndCheck(
      { "m.py": text },
      [edit("m.py", ["", "def f(x):", "    return x + 1", "", ""], ["", "def f(x):", "    return x + 2", "", ""])],
      { "m.py": "import os\ndef f(x):\n    return x + 2\nprint(f(1))\n" },
    );
    assert.deepEqual(result.failures, []);
    assert.deepEqual(result.applied.map((a) => a.match), ["exact"]);
  });

  it("keeps REPLACE's own lines when it has no blank padding, and the indentation shift of the tolerant match", () => {
    const text = "class A:\n    def f(self):\n        return 1\n";
    const { result } = applyAndCheck(
      { "a.py": text },
      [edit("a.py", ["", "def f(self):", "    return 1", ""], ["def f(self):", "    return 2", "", "def g(self):", "    return 3"])],
      { "a.py": "class A:\n    def f(self):\n        return 2\n\n    def g(self):\n        return 3\n" },
    );
    assert.deepEqual(result.applied.map((a) => a.match), ["whitespace"]);
  });

  it("leaves a SEARCH of blank lines only as it is", () => {
    const result = applyEdits([edit("b.py", ["", ""], ["x = 1"])], new Map([["b.py", "a = 1\n\n\nb = 2\n"]]));
    assert.deepEqual(result.files.map((f) => f.newText), ["a = 1\nx = 1\nb = 2\n"]);
  });
});

describe("applyEdits: paths", () => {
  it("refuses absolute paths and .. segments, reporting each", () => {
    const files = new Map([["a.py", "x = 1\n"]]);
    const result = applyEdits(
      [edit("/etc/passwd", ["x = 1"], ["y"]), edit("../a.py", ["x = 1"], ["y"]), edit("pkg/../../a.py", [], ["y"]), edit("C:\\a.py", ["x = 1"], ["y"]), edit("./a.py", ["x = 1"], ["x = 2"])],
      files,
    );
    assert.deepEqual(result.failures.map((f) => f.kind), ["unsafe-path", "unsafe-path", "unsafe-path", "unsafe-path"]);
    assert.deepEqual(result.files.map((f) => [f.path, f.newText]), [["a.py", "x = 2\n"]]);
    assert.deepEqual(normalizeEditPath("./pkg//./m.py"), { ok: true, path: "pkg/m.py" });
    assert.equal(normalizeEditPath("pkg\\..\\..\\x.py").ok, false);
  });

  it("retries a root file under the clone folder, and writes the diff for the real path", () => {
    // The structure keeps setup.py under `requests/`; the checkout has it at the root.
    const structure = { "requests/setup.py": "from setuptools import setup\nsetup(name='requests')\n", "requests/api.py": "def get():\n    pass\n" };
    const { result, patch } = applyAndCheck(
      structure,
      [edit("setup.py", ["setup(name='requests')"], ["setup(name='requests', version='1')"]), edit("requests/api.py", ["    pass"], ["    return None"])],
      { "setup.py": "from setuptools import setup\nsetup(name='requests', version='1')\n", "requests/api.py": "def get():\n    return None\n" },
      { rootFolder: "requests", repoPathOf: (k) => (k === "requests/setup.py" ? "setup.py" : k), repoFiles: { "setup.py": structure["requests/setup.py"], "requests/api.py": structure["requests/api.py"] } },
    );
    assert.deepEqual(result.files.map((f) => [f.path, f.key]), [["requests/api.py", "requests/api.py"], ["setup.py", "requests/setup.py"]]);
    assert.ok(patch.includes("diff --git a/setup.py b/setup.py\n"));
  });

  it("a file found under the clone folder is named by its real path, not the model's (psf/requests: `### sessions.py`)", () => {
    // Agentless structures of psf/requests keep the package and the root files in one dict, `requests/`.
    const structure = { "requests/sessions.py": "def request():\n    pass\n", "requests/setup.py": "setup()\n" };
    const { result, patch } = applyAndCheck(structure, [edit("sessions.py", ["    pass"], ["    return 1"])], { "requests/sessions.py": "def request():\n    return 1\n" }, { rootFolder: "requests" });
    assert.deepEqual(result.files.map((f) => [f.path, f.key]), [["requests/sessions.py", "requests/sessions.py"]]);
    assert.match(patch, /^diff --git a\/requests\/sessions\.py b\/requests\/sessions\.py\n/);
    assert.doesNotMatch(patch, /a\/sessions\.py/);
  });

  it("tries each first-level folder (src/ layouts), and reports a path two folders hold instead of guessing", () => {
    const structure = { "src/flask/config.py": "DEBUG = False\n", "flask/setup.py": "setup()\n", "tests/conftest.py": "A = 1\n", "docs/conftest.py": "A = 1\n" };
    const { result } = applyAndCheck(structure, [edit("flask/config.py", ["DEBUG = False"], ["DEBUG = True"])], { "src/flask/config.py": "DEBUG = True\n" }, { rootFolder: "flask", folders: ["docs", "flask", "src", "tests"] });
    assert.deepEqual(result.files.map((f) => f.path), ["src/flask/config.py"]);
    const amb = applyEdits([edit("conftest.py", ["A = 1"], ["A = 2"])], new Map(Object.entries(structure)), { rootFolder: "flask", folders: ["docs", "flask", "src", "tests"] });
    assert.deepEqual(amb.failures.map((f) => f.kind), ["ambiguous-path"]);
    assert.match(amb.failures[0]!.reason, /docs\/conftest\.py or tests\/conftest\.py/);
    assert.deepEqual(amb.files, []);
  });

  it("refuses a file whose structure content is unusable, and one it does not know", () => {
    const edits = [edit("broken.py", ["x"], ["y"]), edit("README.rst", ["x"], ["y"]), edit("ghost.py", ["x"], ["y"])];
    const result = applyEdits(edits, new Map<string, string | null>([["broken.py", null], ["README.rst", null]]), { rootFolder: "repo" });
    assert.deepEqual(result.failures.map((f) => [f.kind, f.index, f.line]), [
      ["unusable-content", edits[0]!.index, edits[0]!.line],
      ["unusable-content", edits[1]!.index, edits[1]!.line],
      ["unknown-file", edits[2]!.index, edits[2]!.line],
    ]);
    assert.match(result.failures[2]!.reason, /ghost\.py is not in the repository structure \(nor as repo\/ghost\.py\)/);
    assert.deepEqual(result.files, []);
  });
});
