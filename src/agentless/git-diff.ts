/**
 * Unified git diffs from file contents, accepted by `git apply` (and `patch -p1`):
 * `diff --git a/F b/F`, `new file mode 100644` + `--- /dev/null` for a new file, `--- a/F`,
 * `+++ b/F`, hunks with 3 lines of context merged when their contexts overlap or touch (git's rule:
 * at most 6 unchanged lines between two changes), `\ No newline at end of file` after a line that has
 * no final newline, paths quoted the way git quotes them. Files come out once each, sorted by path
 * in byte order; the text ends with a newline, or is empty when nothing changed.
 *
 * The line diff is Myers' O(ND) algorithm in linear space (middle snake, divide and conquer), run
 * after trimming the common head and tail and setting aside lines that occur on one side only
 * (they can never be matched, so the result stays minimal). The common head and tail are found
 * on the texts, before any line is split or hashed: an edit of a few lines in a long file costs
 * a character comparison of the file, not a diff of it. Lines are compared with their line
 * ending, so a CR, or a missing final newline, is a difference like any other.
 */
import { compareBytes } from "../core/custom-id.ts";

/** One file to diff: its repository path, old text (null for a new file) and new text. */
export interface FileChange {
  path: string;
  oldText: string | null;
  newText: string;
}

/** Options of the diff builders. */
export interface GitDiffOptions {
  /** Unchanged lines shown around each change (default 3). */
  context?: number;
}

const DEFAULT_CONTEXT = 3;
const NO_NEWLINE = "\\ No newline at end of file\n";
const COMPARE_BLOCK = 1024;

/** Splits text[from, to) into lines that keep their `\n` (the last one may have none). */
function splitKeepEol(text: string, from = 0, to = text.length): string[] {
  const out: string[] = [];
  let at = from;
  while (at < to) {
    const nl = text.indexOf("\n", at);
    if (nl === -1 || nl >= to) {
      out.push(text.slice(at, to));
      break;
    }
    out.push(text.slice(at, nl + 1));
    at = nl + 1;
  }
  return out;
}

/** The lines of text[from, to), a run of whole lines (the last may lack its `\n` only at the end of the text). */
function countLines(text: string, from: number, to: number): number {
  let n = 0;
  for (let nl = text.indexOf("\n", from); nl !== -1 && nl < to; nl = text.indexOf("\n", nl + 1)) n++;
  return to > from && text.charCodeAt(to - 1) !== 10 ? n + 1 : n;
}

/**
 * The common head and tail of two texts in whole lines, as character counts (the same in both
 * texts): the longest run of equal lines at the start, then the longest at the end that does not
 * reach into the head of either text. A last line without `\n` is a line too.
 */
function commonEnds(a: string, b: string): { head: number; tail: number } {
  const max = Math.min(a.length, b.length);
  // Blocks first: comparing two slices is a native compare, some 30 times faster than a loop over characters.
  let p = 0;
  while (p + COMPARE_BLOCK <= max && a.slice(p, p + COMPARE_BLOCK) === b.slice(p, p + COMPARE_BLOCK)) p += COMPARE_BLOCK;
  while (p < max && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  const head = p === 0 ? 0 : a.lastIndexOf("\n", p - 1) + 1;
  const limit = max - head;
  let q = 0;
  while (q + COMPARE_BLOCK <= limit && a.slice(a.length - q - COMPARE_BLOCK, a.length - q) === b.slice(b.length - q - COMPARE_BLOCK, b.length - q)) q += COMPARE_BLOCK;
  while (q < limit && a.charCodeAt(a.length - 1 - q) === b.charCodeAt(b.length - 1 - q)) q++;
  const startsLine = (t: string, at: number) => at === head || t.charCodeAt(at - 1) === 10;
  if (startsLine(a, a.length - q) && startsLine(b, b.length - q)) return { head, tail: q };
  // Within the equal suffix both texts break lines at the same places: the tail starts after the first break.
  const nl = a.indexOf("\n", a.length - q);
  return { head, tail: nl === -1 ? 0 : a.length - 1 - nl };
}

/** Whether `line` (with its `\n`, if it has one) is a whole line of text[from, to). */
function hasLine(text: string, from: number, to: number, line: string): boolean {
  const ownEol = line.charCodeAt(line.length - 1) === 10;
  for (let at = text.indexOf(line, from); at !== -1 && at + line.length <= to; at = text.indexOf(line, at + 1)) {
    if ((at === 0 || text.charCodeAt(at - 1) === 10) && (ownEol || at + line.length === text.length)) return true;
  }
  return false;
}

/**
 * Marks the lines of `a` deleted and the lines of `b` inserted by a shortest edit script.
 * Unmarked lines of `a` and `b` pair up in order and are equal. `elsewhere(line)` says whether
 * a line occurs in both files outside `a` and `b` (a common head or tail the caller cut off): such
 * a line is not set aside as one-sided, as it would not be in a diff of the whole files.
 */
export function diffSequences(a: ArrayLike<number>, b: ArrayLike<number>, elsewhere?: (line: number) => boolean): { deleted: Uint8Array; inserted: Uint8Array } {
  const n = a.length;
  const m = b.length;
  const deleted = new Uint8Array(n);
  const inserted = new Uint8Array(m);

  // Lines present on one side only cannot be part of any common subsequence: mark them now.
  const countA = new Map<number, number>();
  const countB = new Map<number, number>();
  for (let i = 0; i < n; i++) countA.set(a[i]!, (countA.get(a[i]!) ?? 0) + 1);
  for (let j = 0; j < m; j++) countB.set(b[j]!, (countB.get(b[j]!) ?? 0) + 1);
  const keptA: number[] = [];
  const keptB: number[] = [];
  const seen = new Map<number, boolean>();
  const outside = (line: number) => {
    if (!elsewhere) return false;
    let found = seen.get(line);
    if (found === undefined) seen.set(line, (found = elsewhere(line)));
    return found;
  };
  for (let i = 0; i < n; i++) {
    if (countB.has(a[i]!) || outside(a[i]!)) keptA.push(i);
    else deleted[i] = 1;
  }
  for (let j = 0; j < m; j++) {
    if (countA.has(b[j]!) || outside(b[j]!)) keptB.push(j);
    else inserted[j] = 1;
  }
  const xa = Int32Array.from(keptA, (i) => a[i]!);
  const xb = Int32Array.from(keptB, (j) => b[j]!);
  const delX = new Uint8Array(xa.length);
  const insX = new Uint8Array(xb.length);
  myers(xa, xb, delX, insX);
  for (let i = 0; i < xa.length; i++) if (delX[i]) deleted[keptA[i]!] = 1;
  for (let j = 0; j < xb.length; j++) if (insX[j]) inserted[keptB[j]!] = 1;
  return { deleted, inserted };
}

/** Linear-space Myers: fills `del`/`ins` for a[0..n) against b[0..m). */
function myers(a: Int32Array, b: Int32Array, del: Uint8Array, ins: Uint8Array): void {
  const n = a.length;
  const m = b.length;
  const size = 2 * (n + m) + 3;
  const vf = new Int32Array(size);
  const vb = new Int32Array(size);
  const offset = n + m + 1;

  // Finds a middle snake of a[aLo..aHi) x b[bLo..bHi) (both non-empty, ends differing) and
  // returns the split points [x1, y1, x2, y2]: the optimal path goes (x1,y1) -> (x2,y2) along equal lines.
  const middleSnake = (aLo: number, aHi: number, bLo: number, bHi: number): [number, number, number, number] => {
    const N = aHi - aLo;
    const M = bHi - bLo;
    const delta = N - M;
    const odd = (delta & 1) !== 0;
    const max = Math.ceil((N + M) / 2);
    vf[offset + 1] = 0;
    vb[offset + 1] = 0;
    for (let d = 0; d <= max; d++) {
      for (let k = -d; k <= d; k += 2) {
        let x = k === -d || (k !== d && vf[offset + k - 1]! < vf[offset + k + 1]!) ? vf[offset + k + 1]! : vf[offset + k - 1]! + 1;
        let y = x - k;
        const x0 = x;
        const y0 = y;
        while (x < N && y < M && a[aLo + x] === b[bLo + y]) {
          x++;
          y++;
        }
        vf[offset + k] = x;
        const kr = delta - k;
        if (odd && kr >= -(d - 1) && kr <= d - 1 && x + vb[offset + kr]! >= N) {
          return [aLo + x0, bLo + y0, aLo + x, bLo + y];
        }
      }
      for (let k = -d; k <= d; k += 2) {
        // Backward search, in reversed coordinates: xr counts lines from the end of a.
        let xr = k === -d || (k !== d && vb[offset + k - 1]! < vb[offset + k + 1]!) ? vb[offset + k + 1]! : vb[offset + k - 1]! + 1;
        let yr = xr - k;
        const xr0 = xr;
        const yr0 = yr;
        while (xr < N && yr < M && a[aHi - 1 - xr] === b[bHi - 1 - yr]) {
          xr++;
          yr++;
        }
        vb[offset + k] = xr;
        const kf = delta - k;
        if (!odd && kf >= -d && kf <= d && xr + vf[offset + kf]! >= N) {
          return [aHi - xr, bHi - yr, aHi - xr0, bHi - yr0];
        }
      }
    }
    throw new Error("diffSequences: no middle snake (unreachable)");
  };

  const solve = (aLo: number, aHi: number, bLo: number, bHi: number): void => {
    for (;;) {
      while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) {
        aLo++;
        bLo++;
      }
      while (aLo < aHi && bLo < bHi && a[aHi - 1] === b[bHi - 1]) {
        aHi--;
        bHi--;
      }
      if (aLo === aHi) {
        for (let j = bLo; j < bHi; j++) ins[j] = 1;
        return;
      }
      if (bLo === bHi) {
        for (let i = aLo; i < aHi; i++) del[i] = 1;
        return;
      }
      const [x1, y1, x2, y2] = middleSnake(aLo, aHi, bLo, bHi);
      solve(aLo, x1, bLo, y1);
      // Loop on the second half instead of recursing: keeps the stack shallow on long inputs.
      aLo = x2;
      bLo = y2;
    }
  };
  solve(0, n, 0, m);
}

/** One change: a[aStart..aEnd) replaced by b[bStart..bEnd) (either range may be empty). */
interface Change {
  aStart: number;
  aEnd: number;
  bStart: number;
  bEnd: number;
}

/** The runs of marked lines as changes; `first` is the line number of index 0 on both sides. */
function changesOf(deleted: Uint8Array, inserted: Uint8Array, first = 0): Change[] {
  const n = deleted.length;
  const m = inserted.length;
  const out: Change[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if ((i < n && deleted[i]) || (j < m && inserted[j])) {
      const aStart = i;
      const bStart = j;
      while ((i < n && deleted[i]) || (j < m && inserted[j])) {
        if (i < n && deleted[i]) i++;
        else j++;
      }
      out.push({ aStart: aStart + first, aEnd: i + first, bStart: bStart + first, bEnd: j + first });
    } else {
      i++;
      j++;
    }
  }
  return out;
}

function range(start: number, count: number): string {
  // GNU/git unified format: a count of 1 is implied; an empty range names the line before it.
  const first = count === 0 ? start : start + 1;
  return count === 1 ? `${first}` : `${first},${count}`;
}

function emitLine(prefix: string, line: string): string {
  return line.endsWith("\n") ? prefix + line : prefix + line + "\n" + NO_NEWLINE;
}

/** The hunks (`@@` headers and lines) turning `oldText` into `newText`; empty when they are equal. */
export function diffHunks(oldText: string, newText: string, options: GitDiffOptions = {}): string {
  if (oldText === newText) return "";
  const context = options.context ?? DEFAULT_CONTEXT;
  // Only the lines between the common head and tail are split and diffed, with up to `context`
  // lines of each around them for the hunks; line numbers count from the head's line count.
  const { head, tail } = commonEnds(oldText, newText);
  const headLines = countLines(oldText, 0, head);
  const oldTailAt = oldText.length - tail;
  const newTailAt = newText.length - tail;
  let from = head;
  let padHead = 0;
  for (; padHead < context && from > 0; padHead++) from = from >= 2 ? oldText.lastIndexOf("\n", from - 2) + 1 : 0;
  let padTail = 0;
  let tailPadChars = 0;
  for (; padTail < context && oldTailAt + tailPadChars < oldText.length; padTail++) {
    const nl = oldText.indexOf("\n", oldTailAt + tailPadChars);
    tailPadChars = nl === -1 ? tail : nl + 1 - oldTailAt;
  }
  const a = splitKeepEol(oldText, from, oldTailAt + tailPadChars);
  const b = splitKeepEol(newText, from, newTailAt + tailPadChars);
  const base = headLines - padHead; // a[0] and b[0] are line `base` (0-based) of their files
  const aLines = headLines + (a.length - padHead - padTail) + countLines(oldText, oldTailAt, oldText.length);
  const ids = new Map<string, number>();
  const lineOf: string[] = [];
  const idOf = (line: string) => {
    let id = ids.get(line);
    if (id === undefined) {
      id = ids.size;
      ids.set(line, id);
      lineOf.push(line);
    }
    return id;
  };
  const xa = Int32Array.from(a.slice(padHead, a.length - padTail), idOf);
  const xb = Int32Array.from(b.slice(padHead, b.length - padTail), idOf);
  const elsewhere = (id: number) => hasLine(oldText, 0, head, lineOf[id]!) || hasLine(oldText, oldTailAt, oldText.length, lineOf[id]!);
  const { deleted, inserted } = diffSequences(xa, xb, elsewhere);
  const changes = changesOf(deleted, inserted, headLines);
  const parts: string[] = [];
  let h = 0;
  while (h < changes.length) {
    // Gather changes separated by at most 2*context unchanged lines into one hunk.
    let last = h;
    while (last + 1 < changes.length && changes[last + 1]!.aStart - changes[last]!.aEnd <= 2 * context) last++;
    const first = changes[h]!;
    const end = changes[last]!;
    const lead = Math.min(context, first.aStart);
    const trail = Math.min(context, aLines - end.aEnd);
    const aStart = first.aStart - lead;
    const bStart = first.bStart - lead;
    const aEnd = end.aEnd + trail;
    const bEnd = end.bEnd + trail;
    parts.push(`@@ -${range(aStart, aEnd - aStart)} +${range(bStart, bEnd - bStart)} @@\n`);
    let i = aStart;
    for (let c = h; c <= last; c++) {
      const ch = changes[c]!;
      for (; i < ch.aStart; i++) parts.push(emitLine(" ", a[i - base]!));
      for (let k = ch.aStart; k < ch.aEnd; k++) parts.push(emitLine("-", a[k - base]!));
      for (let k = ch.bStart; k < ch.bEnd; k++) parts.push(emitLine("+", b[k - base]!));
      i = ch.aEnd;
    }
    for (; i < aEnd; i++) parts.push(emitLine(" ", a[i - base]!));
    h = last + 1;
  }
  return parts.join("");
}

const C_ESCAPES: Record<string, string> = { "\u0007": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\" };

/** `prefix + path`, C-quoted as git quotes names with `"`, `\`, control or non-ASCII characters. */
function quotePath(prefix: string, path: string): string {
  const name = prefix + path;
  if (!/[\u0000-\u001f"\\\u007f-\uffff]/.test(name)) return name;
  let out = '"';
  for (const ch of name) {
    const esc = C_ESCAPES[ch];
    if (esc !== undefined) out += esc;
    else if (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f || ch.codePointAt(0)! > 0x7f) {
      for (const byte of Buffer.from(ch, "utf8")) out += "\\" + byte.toString(8).padStart(3, "0");
    } else out += ch;
  }
  return out + '"';
}

/** A `---`/`+++` name: git ends an unquoted name that contains a space with a tab. */
function headerName(prefix: string, path: string): string {
  const q = quotePath(prefix, path);
  return !q.startsWith('"') && q.includes(" ") ? q + "\t" : q;
}

/** The git diff of one file; empty when its text did not change. */
export function diffFile(change: FileChange, options: GitDiffOptions = {}): string {
  const { path, oldText, newText } = change;
  if (oldText !== null && oldText === newText) return "";
  let head = `diff --git ${quotePath("a/", path)} ${quotePath("b/", path)}\n`;
  if (oldText === null) {
    head += "new file mode 100644\n";
    // An empty new file has no hunk, and git then writes no ---/+++ lines either.
    if (newText === "") return head;
  }
  const hunks = diffHunks(oldText ?? "", newText, options);
  return `${head}--- ${oldText === null ? "/dev/null" : headerName("a/", path)}\n+++ ${headerName("b/", path)}\n${hunks}`;
}

/** The git diff of several files, each once, sorted by path; throws on a path given twice (a caller bug). */
export function buildGitDiff(changes: readonly FileChange[], options: GitDiffOptions = {}): string {
  const seen = new Set<string>();
  for (const c of changes) {
    if (seen.has(c.path)) throw new Error(`buildGitDiff: ${c.path} given twice`);
    seen.add(c.path);
  }
  return [...changes]
    .sort((x, y) => compareBytes(x.path, y.path))
    .map((c) => diffFile(c, options))
    .join("");
}
