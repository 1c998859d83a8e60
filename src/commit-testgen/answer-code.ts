/**
 * Taking the Python script out of a model's answer. The rules, in order:
 * - Fenced blocks (``` or ~~~, closed or cut off at the end): blocks tagged python/py/python3 count;
 *   with none, untagged blocks do; other languages never do. One block: that block. Several: the
 *   longest one and all of them joined (in answer order, a blank line between) are both candidates;
 *   the longest goes first when it holds an `if __name__` guard (the others are fragments beside a
 *   whole script), else the joined one goes first (the answer split one script into parts).
 * - No fence: the text from the first line that starts code (`import`, `from x import`, `def`,
 *   `async def`, `class`, `@`, `#`, `if __name__`) to the end; prose before it is dropped.
 * - What is left must look like a script (40+ characters with an import, def or class, as
 *   generate_test_generators.py requires), else there is no code.
 * The caller tries the candidates with Python's parser and keeps the first that parses.
 */

/** One way to read the script out of the answer; `how` names the rule, for the record. */
export interface CodeCandidate {
  code: string;
  how: "fenced" | "fenced-longest" | "fenced-joined" | "unfenced" | "unfenced-prose-stripped";
}

const PYTHON_TAGS = new Set(["python", "py", "python3", "py3"]);
const CODE_START = /^(import\s|from\s+\S+\s+import\s|def\s|async\s+def\s|class\s|@|#|if\s+__name__)/;
const MAIN_GUARD = /^if\s+__name__\s*==/m;

interface Block {
  tag: string;
  text: string;
}

/** Fenced blocks of `text`; a fence left open runs to the end. */
function fencedBlocks(text: string): Block[] | undefined {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let open: { fence: string; tag: string; body: string[] } | undefined;
  let sawFence = false;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, "");
    if (open === undefined) {
      const m = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
      if (m) {
        open = { fence: m[1]!, tag: m[2]!.toLowerCase(), body: [] };
        sawFence = true;
      }
      continue;
    }
    const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
    if (close && close[1]![0] === open.fence[0] && close[1]!.length >= open.fence.length) {
      blocks.push({ tag: open.tag, text: open.body.join("\n") });
      open = undefined;
    } else open.body.push(line);
  }
  if (open) blocks.push({ tag: open.tag, text: open.body.join("\n") });
  return sawFence ? blocks : undefined;
}

/** True when `code` looks like a script rather than a fragment or nothing. */
export function looksLikeScript(code: string): boolean {
  const s = code.trim();
  return s.length >= 40 && /\b(import|def|class)\b/.test(s);
}

const withNewline = (code: string) => (code.endsWith("\n") ? code : `${code}\n`);

/** The candidate scripts of an answer, best first (see the header); empty when it holds no code. */
export function codeCandidates(answer: string): CodeCandidate[] {
  const blocks = fencedBlocks(answer);
  let candidates: CodeCandidate[];
  if (blocks !== undefined) {
    const python = blocks.filter((b) => PYTHON_TAGS.has(b.tag));
    const chosen = (python.length > 0 ? python : blocks.filter((b) => b.tag === "")).filter((b) => b.text.trim() !== "");
    if (chosen.length === 0) return [];
    if (chosen.length === 1) candidates = [{ code: chosen[0]!.text, how: "fenced" }];
    else {
      const longest = chosen.reduce((a, b) => (b.text.length > a.text.length ? b : a));
      const joined: CodeCandidate = { code: chosen.map((b) => b.text.replace(/\n+$/, "")).join("\n\n"), how: "fenced-joined" };
      const single: CodeCandidate = { code: longest.text, how: "fenced-longest" };
      candidates = MAIN_GUARD.test(longest.text) ? [single, joined] : [joined, single];
    }
  } else {
    const lines = answer.split("\n");
    const start = lines.findIndex((l) => CODE_START.test(l));
    if (start < 0) return [];
    candidates = [{ code: lines.slice(start).join("\n"), how: start === 0 ? "unfenced" : "unfenced-prose-stripped" }];
  }
  return candidates.filter((c) => looksLikeScript(c.code)).map((c) => ({ ...c, code: withNewline(c.code.replace(/^\n+/, "")) }));
}
