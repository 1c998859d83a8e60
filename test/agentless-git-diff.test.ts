import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { buildGitDiff, diffFile, diffHunks, diffSequences } from "../src/agentless/git-diff.ts";
import { assertPatchApplies, createRepo } from "./agentless-git.ts";

const numbered = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `line ${i + from}\n`).join("");

/** The hunks `git diff` writes for a file changed from `oldText` to `newText` (headers and `@@` section names dropped). */
function gitHunks(oldText: string, newText: string): string {
  const repo = createRepo({ "f.py": oldText });
  try {
    writeFileSync(`${repo.dir}/f.py`, newText);
    const out = repo.git(["diff", "--no-color", "-U3", "f.py"]);
    return out.slice(out.indexOf("\n@@") + 1).replace(/^(@@ [^@]+ @@).*$/gm, "$1");
  } finally {
    repo.cleanup();
  }
}

/** Seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function lcsLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(row[j]!, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}

describe("diffSequences (Myers)", () => {
  it("finds a shortest edit script whose kept lines pair up equal, on 400 random pairs", () => {
    const rand = prng(42);
    for (let round = 0; round < 400; round++) {
      const alphabet = 1 + Math.floor(rand() * 6);
      const a = Array.from({ length: Math.floor(rand() * 25) }, () => Math.floor(rand() * alphabet));
      const b = Array.from({ length: Math.floor(rand() * 25) }, () => Math.floor(rand() * alphabet));
      const { deleted, inserted } = diffSequences(a, b);
      const keptA = a.filter((_, i) => !deleted[i]);
      const keptB = b.filter((_, j) => !inserted[j]);
      assert.deepEqual(keptA, keptB, `kept lines differ for ${JSON.stringify([a, b])}`);
      assert.equal(keptA.length, lcsLength(a, b), `not minimal for ${JSON.stringify([a, b])}`);
    }
  });
});

describe("diffFile", () => {
  it("writes git's exact format for a one-line change", () => {
    const old = numbered(10);
    const patch = diffFile({ path: "pkg/mod.py", oldText: old, newText: old.replace("line 5\n", "line five\n") });
    assert.equal(
      patch,
      "diff --git a/pkg/mod.py b/pkg/mod.py\n--- a/pkg/mod.py\n+++ b/pkg/mod.py\n" +
        "@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n",
    );
    assertPatchApplies({ "pkg/mod.py": old }, patch, { "pkg/mod.py": old.replace("line 5\n", "line five\n") });
  });

  it("gives the same hunks as git diff itself on simple edits", () => {
    const old = numbered(40);
    const next = old.replace("line 1\n", "first\n").replace("line 9\n", "").replace("line 20\n", "line 20\nadded\n").replace("line 40\n", "last\n");
    const repo = createRepo({ "f.py": old });
    try {
      const ours = diffFile({ path: "f.py", oldText: old, newText: next });
      writeFileSync(`${repo.dir}/f.py`, next);
      const theirs = repo
        .git(["diff", "--no-color", "-U3", "f.py"])
        .split("\n")
        .filter((l) => !l.startsWith("index "))
        .map((l) => l.replace(/^(@@ [^@]+ @@).*$/, "$1"))
        .join("\n");
      assert.equal(ours, theirs);
    } finally {
      repo.cleanup();
    }
  });

  it("matches git diff at the ends of a file and next to the common head and tail it cuts off", () => {
    const old = numbered(40);
    const blanks = "\n".repeat(12);
    const cases: [string, string, string][] = [
      ["first line changed", old, old.replace("line 1\n", "one\n")],
      ["last line changed", old, old.replace("line 40\n", "forty\n")],
      ["line inserted before the first", old, "zero\n" + old],
      ["line appended after the last", old, old + "line 41\n"],
      ["first and last lines deleted", old, old.replace("line 1\n", "").replace("line 40\n", "")],
      ["change on line 4 (3 lines of head before it)", old, old.replace("line 4\n", "four\n")],
      ["change on line 3 (context cut by the start)", old, old.replace("line 3\n", "three\n")],
      ["change on line 37 (3 lines of tail after it)", old, old.replace("line 37\n", "x37\n")],
      ["change on line 38 (context cut by the end)", old, old.replace("line 38\n", "x38\n")],
      ["two changes 7 lines apart near the end", old, old.replace("line 30\n", "x30\n").replace("line 38\n", "x38\n")],
      ["old text without a final newline, last line changed", old.slice(0, -1), old.replace("line 40\n", "forty")],
      ["final newline removed", old, old.slice(0, -1)],
      ["final newline added", old.slice(0, -1), old],
      ["change next to a last line without newline", old.slice(0, -1), old.replace("line 39\n", "x39\n").slice(0, -1)],
      ["a line of the head copied into the middle", old, old.replace("line 20\n", "line 2\n")],
      ["line inserted at the top of repeated blank lines", blanks, "top\n\n" + blanks],
      ["repeated lines on both sides of an insertion", "a\n" + blanks + "b\n", "a\n" + blanks.slice(6) + "mid\n" + blanks.slice(6) + "b\n"],
      ["a CR-only change of the last line", old, old.replace("line 40\n", "line 40\r\n")],
    ];
    // Hunks equal to git's own apply as git's do, so only the text is compared.
    for (const [name, oldText, newText] of cases) assert.equal(diffHunks(oldText, newText), gitHunks(oldText, newText), name);
  });

  it("merges hunks whose contexts touch (6 unchanged lines between) and splits at 7", () => {
    const old = numbered(30);
    const six = old.replace("line 5\n", "x5\n").replace("line 12\n", "x12\n"); // lines 6..11 unchanged: 6
    const seven = old.replace("line 5\n", "x5\n").replace("line 13\n", "x13\n"); // lines 6..12 unchanged: 7
    const h6 = diffHunks(old, six);
    const h7 = diffHunks(old, seven);
    assert.equal(h6.match(/^@@/gm)?.length, 1, h6);
    assert.match(h6, /^@@ -2,14 \+2,14 @@$/m);
    assert.equal(h7.match(/^@@/gm)?.length, 2, h7);
    assertPatchApplies({ "a.py": old }, diffFile({ path: "a.py", oldText: old, newText: six }), { "a.py": six });
    assertPatchApplies({ "a.py": old }, diffFile({ path: "a.py", oldText: old, newText: seven }), { "a.py": seven });
  });

  it("marks a missing final newline on the old side, the new side, and both", () => {
    const cases: [string, string][] = [
      ["a\nb\nc", "a\nb\nc\n"], // newline added
      ["a\nb\nc\n", "a\nb\nc"], // newline removed
      ["a\nb\nc", "a\nB\nc"], // neither has one: c is context followed by the marker
      ["a\nb\nc", "a\nb\nC"], // last line changed, neither has one
      ["only", "changed"],
    ];
    for (const [oldText, newText] of cases) {
      const patch = diffFile({ path: "x.py", oldText, newText });
      assert.ok(patch.includes("\\ No newline at end of file\n"), patch);
      assert.ok(patch.endsWith("\n"));
      assertPatchApplies({ "x.py": oldText }, patch, { "x.py": newText });
    }
    const both = diffFile({ path: "x.py", oldText: "a\nb\nc", newText: "a\nB\nc" });
    assert.ok(both.endsWith(" c\n\\ No newline at end of file\n"), both);
    assert.equal(diffFile({ path: "x.py", oldText: "a\nb\n", newText: "a\nB\n" }).includes("No newline"), false);
  });

  it("keeps CRLF line endings, including a change of ending only", () => {
    const old = "import os\r\n\r\ndef f():\r\n    return 1\r\n";
    const next = "import os\r\n\r\ndef f():\r\n    return 2\r\n";
    assertPatchApplies({ "w.py": old }, diffFile({ path: "w.py", oldText: old, newText: next }), { "w.py": next });
    const lf = old.replace(/\r\n/g, "\n");
    assertPatchApplies({ "w.py": old }, diffFile({ path: "w.py", oldText: old, newText: lf }), { "w.py": lf });
  });

  it("creates new files, with and without content or a final newline", () => {
    const withText = diffFile({ path: "pkg/new.py", oldText: null, newText: "x = 1\ny = 2\n" });
    assert.equal(withText, "diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,2 @@\n+x = 1\n+y = 2\n");
    const noEol = diffFile({ path: "n.py", oldText: null, newText: "x = 1" });
    const empty = diffFile({ path: "e.py", oldText: null, newText: "" });
    assert.equal(empty, "diff --git a/e.py b/e.py\nnew file mode 100644\n");
    assertPatchApplies({ "keep.py": "k\n" }, withText + noEol + empty, { "pkg/new.py": "x = 1\ny = 2\n", "n.py": "x = 1", "e.py": "" });
  });

  it("deletes every line of a file, and fills an empty one", () => {
    const old = numbered(5);
    const gone = diffFile({ path: "d.py", oldText: old, newText: "" });
    assert.match(gone, /^@@ -1,5 \+0,0 @@$/m);
    assertPatchApplies({ "d.py": old }, gone, { "d.py": "" });
    const filled = diffFile({ path: "d.py", oldText: "", newText: "a\n" });
    assert.match(filled, /^@@ -0,0 \+1 @@$/m);
    assertPatchApplies({ "d.py": "" }, filled, { "d.py": "a\n" });
  });

  it("edits the first and the last line", () => {
    const old = numbered(12);
    const next = old.replace("line 1\n", "start\n").replace("line 12\n", "end\n");
    const patch = diffFile({ path: "s.py", oldText: old, newText: next });
    assert.equal(patch.match(/^@@/gm)?.length, 2);
    assert.match(patch, /^@@ -1,4 \+1,4 @@$/m);
    assert.match(patch, /^@@ -9,4 \+9,4 @@$/m);
    assertPatchApplies({ "s.py": old }, patch, { "s.py": next });
  });

  it("is empty when nothing changed", () => {
    assert.equal(diffFile({ path: "a.py", oldText: "same\n", newText: "same\n" }), "");
    assert.equal(buildGitDiff([{ path: "a.py", oldText: "x", newText: "x" }]), "");
    assert.equal(buildGitDiff([]), "");
  });

  it("quotes paths the way git does (space, non-ASCII)", () => {
    const files = { "my dir/a b.py": "a\n", "pkg/é.py": "e\n" };
    const patch = buildGitDiff([
      { path: "my dir/a b.py", oldText: "a\n", newText: "A\n" },
      { path: "pkg/é.py", oldText: "e\n", newText: "E\n" },
    ]);
    assert.ok(patch.includes('diff --git "a/pkg/\\303\\251.py" "b/pkg/\\303\\251.py"\n'), patch);
    assert.ok(patch.includes("--- a/my dir/a b.py\t\n"), patch);
    assertPatchApplies(files, patch, { "my dir/a b.py": "A\n", "pkg/é.py": "E\n" });
  });
});

describe("buildGitDiff", () => {
  it("writes each file once, sorted by path, ending with a newline", () => {
    const base = { "b/mod.py": numbered(8), "a.py": numbered(3), "c.py": "keep\n" };
    const patch = buildGitDiff([
      { path: "b/mod.py", oldText: base["b/mod.py"], newText: base["b/mod.py"].replace("line 4\n", "four\n") },
      { path: "z_new.py", oldText: null, newText: "new\n" },
      { path: "a.py", oldText: base["a.py"], newText: base["a.py"] + "line 4\n" },
      { path: "c.py", oldText: "keep\n", newText: "keep\n" },
    ]);
    const headers = [...patch.matchAll(/^diff --git a\/(\S+) /gm)].map((m) => m[1]);
    assert.deepEqual(headers, ["a.py", "b/mod.py", "z_new.py"]);
    assert.ok(patch.endsWith("\n"));
    assertPatchApplies(base, patch, {
      "a.py": base["a.py"] + "line 4\n",
      "b/mod.py": base["b/mod.py"].replace("line 4\n", "four\n"),
      "z_new.py": "new\n",
      "c.py": "keep\n",
    });
  });

  it("refuses a path given twice", () => {
    assert.throws(() => buildGitDiff([{ path: "a.py", oldText: "1\n", newText: "2\n" }, { path: "a.py", oldText: "2\n", newText: "3\n" }]), /a\.py given twice/);
  });

  it("applies after random edits of random files (git apply is the judge)", () => {
    const rand = prng(7);
    const words = ["pass", "return x", "", "    y = 1", "}", "def f():", "# note", "x += 1"];
    const base: Record<string, string> = {};
    const changes = [];
    const expected: Record<string, string> = {};
    for (let f = 0; f < 12; f++) {
      const lines = Array.from({ length: 5 + Math.floor(rand() * 60) }, () => words[Math.floor(rand() * words.length)]!);
      const next = [...lines];
      for (let e = Math.floor(rand() * 8); e > 0; e--) {
        const at = Math.floor(rand() * (next.length + 1));
        const kind = rand();
        if (kind < 0.33) next.splice(at, 1);
        else if (kind < 0.66) next.splice(at, 0, `inserted ${e}`);
        else next.splice(at, 1, words[Math.floor(rand() * words.length)]!);
      }
      const oldText = lines.join("\n") + (rand() < 0.5 ? "\n" : "");
      const newText = next.join("\n") + (rand() < 0.5 ? "\n" : "");
      base[`f${f}.py`] = oldText;
      expected[`f${f}.py`] = newText;
      changes.push({ path: `f${f}.py`, oldText, newText });
    }
    assertPatchApplies(base, buildGitDiff(changes), expected);
  });

  it("is fast on files of several thousand lines (scattered edits, full rewrite, reordering)", () => {
    const rand = prng(3);
    const n = 6000;
    const lines = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? "" : `    value_${i} = compute(${i % 13})`));
    const scattered = [...lines];
    for (let e = 0; e < 150; e++) scattered[Math.floor(rand() * n)] = `    changed_${e} = 0`;
    const rewrite = lines.map((l, i) => `new_${i}: ${l}`);
    const reordered = [...lines.slice(n / 2), ...lines.slice(0, n / 2)];
    const oldText = lines.join("\n") + "\n";
    for (const next of [scattered, rewrite, reordered]) {
      const newText = next.join("\n") + "\n";
      const t0 = performance.now();
      const patch = diffFile({ path: "big.py", oldText, newText });
      const ms = performance.now() - t0;
      assert.ok(ms < 3000, `diff took ${ms.toFixed(0)} ms`);
      assertPatchApplies({ "big.py": oldText }, patch, { "big.py": newText });
    }
  });
});
