/**
 * Line-based parser of SEARCH/REPLACE edit blocks, as Agentless-style repair answers write them:
 *
 *     ### path/to/file.py          (the file line: `### `, backticks, `**` and a `File:` label are tolerated)
 *     <<<<<<< SEARCH
 *     lines to find
 *     =======
 *     lines to put instead
 *     >>>>>>> REPLACE
 *
 * Rules, in the order they apply:
 * - Input is normalized first: CRLF and lone CR become LF. Code fences (```) are ignored, so blocks
 *   may sit in one fence, in several, or in none, and the file line may be inside or before a fence.
 * - A block's file is the nearest non-blank, non-fence line before its SEARCH marker (and after the
 *   previous block) when that line looks like a path; otherwise the previous block's file. A first
 *   block with no file is a problem.
 * - A block ends at the first REPLACE marker after its SEARCH marker. If another SEARCH marker
 *   comes first, or the text ends, the block is a problem (no terminator).
 * - The divider is the FIRST line that is exactly `=======` (7 `=`, trailing blanks allowed) between
 *   the two markers: replacement code may itself contain `=======` lines and keeps them. A SEARCH
 *   part that contains such a line is split at the wrong place; it then fails to match, and the
 *   applier reports it rather than guessing.
 * - `search` and `replace` are the block's lines, each ending with `\n` (an empty part is `""`).
 *   An edit identical to an earlier one (same file, search and replace) is reported and dropped,
 *   since answers often repeat their final edits.
 */

/** One parsed edit; `index` is the 0-based position of its block among all blocks of the answer. */
export interface SearchReplaceEdit {
  path: string;
  search: string;
  replace: string;
  index: number;
  /** 1-based line of the SEARCH marker in the normalized answer. */
  line: number;
}

/** Why a block was not turned into an edit. */
export type ParseProblemKind = "no-file" | "no-terminator" | "no-divider" | "duplicate";

/** A block that yields no edit, with its block index and the 1-based line of its SEARCH marker. */
export interface ParseProblem {
  kind: ParseProblemKind;
  index: number;
  line: number;
  message: string;
}

/** What `parseSearchReplace` found: edits in answer order, and problems in answer order. */
export interface ParsedEdits {
  edits: SearchReplaceEdit[];
  problems: ParseProblem[];
}

const SEARCH_MARKER = /^\s*<{5,9}\s*SEARCH\s*$/;
const DIVIDER = /^={7}\s*$/;
const REPLACE_MARKER = /^\s*>{5,9}\s*REPLACE\s*$/;
const FENCE = /^\s*(```|~~~)/;

/** Splits text into lines after turning CRLF and lone CR into LF; a final newline adds no empty line. */
export function splitLinesLf(text: string): string[] {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * The path named by a file line, or undefined when the line does not look like one.
 * Accepts `### a/b.py`, `a/b.py`, `` `a/b.py` ``, `**a/b.py**`, `File: a/b.py`, with a trailing `:`.
 */
export function pathFromLine(line: string): string | undefined {
  let s = line.trim().replace(/^#+\s*/, "");
  s = s.replace(/^(?:file(?:\s*path)?|path)\s*:\s*/i, "");
  s = s.replace(/:$/, "").trim();
  for (;;) {
    const m = /^(\*\*|`|'|")(.*)\1$/.exec(s);
    if (!m) break;
    s = m[2]!.trim();
  }
  // A path: no blanks, only path characters, and a `.` or `/` in it (bare words are prose, not files).
  if (!/^[\w.\-/\\@+~]+$/.test(s)) return undefined;
  if (!/[./]/.test(s) || /^\.+$/.test(s)) return undefined;
  return s;
}

function joinLines(lines: readonly string[]): string {
  let out = "";
  for (const l of lines) out += l + "\n";
  return out;
}

/** Parses every SEARCH/REPLACE block of an answer (reasoning already stripped); never throws. */
export function parseSearchReplace(answer: string): ParsedEdits {
  const lines = splitLinesLf(answer);
  const edits: SearchReplaceEdit[] = [];
  const problems: ParseProblem[] = [];
  const seen = new Set<string>();
  let currentPath: string | undefined;
  let candidate: string | undefined; // the last non-blank, non-fence line since the previous block
  let index = 0;
  let i = 0;
  while (i < lines.length) {
    const text = lines[i]!;
    if (!SEARCH_MARKER.test(text)) {
      if (text.trim() !== "" && !FENCE.test(text)) candidate = text;
      i++;
      continue;
    }
    const blockIndex = index++;
    const markerLine = i + 1;
    const named = candidate === undefined ? undefined : pathFromLine(candidate);
    candidate = undefined;
    if (named !== undefined) currentPath = named;

    let end = -1;
    let next = -1;
    for (let j = i + 1; j < lines.length; j++) {
      if (REPLACE_MARKER.test(lines[j]!)) {
        end = j;
        break;
      }
      if (SEARCH_MARKER.test(lines[j]!)) {
        next = j;
        break;
      }
    }
    if (end === -1) {
      problems.push({ kind: "no-terminator", index: blockIndex, line: markerLine, message: `block ${blockIndex} (line ${markerLine}): no \`>>>>>>> REPLACE\` before ${next === -1 ? "the end of the answer" : `the next SEARCH at line ${next + 1}`}` });
      i = next === -1 ? lines.length : next;
      continue;
    }
    let divider = -1;
    for (let j = i + 1; j < end; j++) {
      if (DIVIDER.test(lines[j]!)) {
        divider = j;
        break;
      }
    }
    i = end + 1;
    if (divider === -1) {
      problems.push({ kind: "no-divider", index: blockIndex, line: markerLine, message: `block ${blockIndex} (line ${markerLine}): no \`=======\` line between SEARCH and REPLACE` });
      continue;
    }
    if (currentPath === undefined) {
      problems.push({ kind: "no-file", index: blockIndex, line: markerLine, message: `block ${blockIndex} (line ${markerLine}): no file path before it and no earlier block to take one from` });
      continue;
    }
    const search = joinLines(lines.slice(markerLine, divider));
    const replace = joinLines(lines.slice(divider + 1, end));
    const key = JSON.stringify([currentPath, search, replace]);
    if (seen.has(key)) {
      problems.push({ kind: "duplicate", index: blockIndex, line: markerLine, message: `block ${blockIndex} (line ${markerLine}): repeats an earlier edit of ${currentPath}; skipped` });
      continue;
    }
    seen.add(key);
    edits.push({ path: currentPath, search, replace, index: blockIndex, line: markerLine });
  }
  return { edits, problems };
}

/**
 * The SEARCH/REPLACE text of an answer (reasoning already removed), as Agentless-style tools keep
 * it in `raw_model_patch` / `search_replace_text`: its fenced blocks (fences included) joined by
 * `\n`, or the whole answer when it has no complete fence.
 */
export function searchReplaceText(answer: string): string {
  const blocks = answer.match(/```[\s\S]*?```/g);
  return blocks ? blocks.join("\n") : answer;
}
