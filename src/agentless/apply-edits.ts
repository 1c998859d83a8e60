/**
 * Applies parsed SEARCH/REPLACE edits to file contents, in block order, each against the result of
 * the edits before it. Pure: contents come in through a `has/get` source (a Map will do) and the
 * edited files come out; nothing is read or written.
 *
 * Matching, line by line (a file's CRLF or LF endings are kept; search lines never carry `\r`), after
 * the blank lines that open and close SEARCH (and as many blank ones at REPLACE's ends) are dropped:
 * 1. exact: the first place where the SEARCH lines equal consecutive file lines;
 * 2. whitespace: the first place where they are equal once each line is trimmed (a blank SEARCH
 *    line matches only a blank file line). The REPLACE lines are then re-indented by the difference
 *    between the first non-blank SEARCH line's indentation and that of the file line it matched.
 * An empty SEARCH never matches text. Instead: on a file that does not exist, it creates the file
 * with the REPLACE lines; on an existing file that is empty or blank, the REPLACE lines become its
 * whole content; on any other file, they are appended at its end.
 * A match that ends at a last line without a final newline keeps the file without one; deleting
 * the last lines leaves the line before them as it was (with its newline).
 *
 * Paths: `./` and `.` segments are dropped; absolute paths and `..` segments are refused. A path
 * not in the source is looked up as resolve-path.ts says: under `rootFolder` (Agentless structures
 * keep root files under the clone folder's name), without it, then under each of `folders`; two
 * folders holding it make it ambiguous (reported). Whichever way a file was found, the diff and
 * `EditedFile.path` name its repository path, `repoPathOf(key)`, never the model's spelling.
 * A file the source knows but whose content is `null` (unusable, e.g. structure text `""` or a
 * non-Python file) is refused. Every edit not applied is reported with its block index and reason.
 */
import { compareBytes } from "../core/custom-id.ts";
import { TextCache } from "../internal/text-cache.ts";
import { resolvePath } from "./resolve-path.ts";
import { type SearchReplaceEdit, splitLinesLf } from "./search-replace.ts";

/** Where file contents come from: `has` for known paths, `get` gives the text or `null` when unusable. */
export interface FileSource {
  has(key: string): boolean;
  get(key: string): string | null | undefined;
}

/** Options of `applyEdits`. */
export interface ApplyEditsOptions {
  /** The clone folder name under which Agentless structures keep root files (e.g. `requests`). */
  rootFolder?: string;
  /** First-level folders tried as prefixes after `rootFolder` (a `src/` layout). */
  folders?: readonly string[];
  /** Whether an empty SEARCH may create a file the source does not know (default true). */
  allowNewFiles?: boolean;
  /** The repository path of a directly found key (default: the key itself); must be one-to-one. */
  repoPathOf?: (key: string) => string;
}

/** How an edit was applied. */
export type EditMatch = "exact" | "whitespace" | "create" | "fill-empty" | "append";

/** One applied edit: its block index, the file's repository path, and how it matched. */
export interface AppliedEdit {
  index: number;
  path: string;
  match: EditMatch;
}

/** Why an edit was not applied. */
export type EditFailureKind = "unsafe-path" | "unknown-file" | "ambiguous-path" | "unusable-content" | "new-file-refused" | "no-match" | "empty-edit";

/** One edit not applied: block index, the path as the model wrote it, a kind and a sentence. */
export interface EditFailure {
  index: number;
  line: number;
  path: string;
  kind: EditFailureKind;
  reason: string;
}

/** A file at least one edit was applied to; `oldText` is null for a new file. */
export interface EditedFile {
  /** Repository path, as the diff names it. */
  path: string;
  /** The source key its content came from (differs from `path` when the key carries the clone folder). */
  key: string;
  oldText: string | null;
  newText: string;
  /** Block indices applied to this file, in order. */
  edits: number[];
}

/** Result of `applyEdits`: edited files sorted by path (byte order), applied edits and failures in block order. */
export interface ApplyResult {
  files: EditedFile[];
  applied: AppliedEdit[];
  failures: EditFailure[];
}

/** A path made safe to join to a repository root, or why it cannot be. */
export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string };

/** Normalizes a model-given path: `\` to `/`, no `./`, `.` or empty segments; refuses absolute and `..` paths. */
export function normalizeEditPath(raw: string): NormalizedPath {
  const p = raw.trim().replace(/\\/g, "/");
  if (p === "") return { ok: false, reason: "empty path" };
  if (p.startsWith("/") || p.startsWith("~") || /^[A-Za-z]:/.test(p)) return { ok: false, reason: `absolute path ${JSON.stringify(raw)} refused` };
  const segments = p.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) return { ok: false, reason: `path ${JSON.stringify(raw)} leaves the repository (\`..\`)` };
  if (segments.length === 0) return { ok: false, reason: `path ${JSON.stringify(raw)} names no file` };
  return { ok: true, path: segments.join("/") };
}

interface Line {
  text: string;
  /** "\n", "\r\n", or "" for a last line without a final newline. */
  eol: string;
}

function toLines(text: string): Line[] {
  const out: Line[] = [];
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf("\n", at);
    if (nl === -1) {
      out.push({ text: text.slice(at), eol: "" });
      break;
    }
    if (nl > at && text.charCodeAt(nl - 1) === 13) out.push({ text: text.slice(at, nl - 1), eol: "\r\n" });
    else out.push({ text: text.slice(at, nl), eol: "\n" });
    at = nl + 1;
  }
  return out;
}

// Every pass of an instance edits the same few files: each text is split (and its lines trimmed,
// for the whitespace-tolerant match) once, and each edit works on copies of the arrays.
const split = new TextCache<{ lines: readonly Line[]; trims: readonly string[] }>(1024 * 1024);

function linesOf(text: string): { lines: readonly Line[]; trims: readonly string[] } {
  return split.get(text, () => {
    const lines = toLines(text);
    return { lines, trims: lines.map((l) => l.text.trim()) };
  });
}

function fromLines(lines: readonly Line[]): string {
  let s = "";
  for (const l of lines) s += l.text + l.eol;
  return s;
}

function dominantEol(lines: readonly Line[]): string {
  let crlf = 0;
  let lf = 0;
  for (const l of lines) {
    if (l.eol === "\r\n") crlf++;
    else if (l.eol === "\n") lf++;
  }
  return crlf > lf ? "\r\n" : "\n";
}

function indentOf(s: string): string {
  return /^[ \t]*/.exec(s)![0];
}

function findRun(lines: readonly Line[], search: readonly string[]): number {
  const n = search.length;
  const first = search[0]!;
  for (let i = 0; i + n <= lines.length; i++) {
    if (lines[i]!.text !== first) continue;
    let k = 1;
    while (k < n && lines[i + k]!.text === search[k]!) k++;
    if (k === n) return i;
  }
  return -1;
}

/** Like `findRun` ignoring surrounding whitespace: `trims` are the file's lines trimmed, `search` is trimmed here. */
function findTrimmedRun(trims: readonly string[], search: readonly string[]): number {
  const want = search.map((s) => s.trim());
  const n = want.length;
  for (let i = 0; i + n <= trims.length; i++) {
    let k = 0;
    while (k < n && trims[i + k] === want[k]) k++;
    if (k === n) return i;
  }
  return -1;
}

/** Shifts replacement lines by the indentation difference found at the anchor line. */
function reindent(replace: readonly string[], searchIndent: string, fileIndent: string): string[] {
  if (searchIndent === fileIndent) return [...replace];
  const delta = fileIndent.length - searchIndent.length;
  const unit = fileIndent[0] ?? searchIndent[0] ?? " ";
  return replace.map((r) => {
    if (r.trim() === "") return r;
    if (r.startsWith(searchIndent)) return fileIndent + r.slice(searchIndent.length);
    const own = indentOf(r);
    if (delta >= 0) return unit.repeat(delta) + r;
    return r.slice(Math.min(own.length, -delta));
  });
}

const isBlank = (line: string) => line.trim() === "";

/**
 * Drops the blank lines that open and close a SEARCH part (models often pad it), and as many blank
 * lines from the same ends of REPLACE (only blank ones), so the padding neither blocks a match nor
 * eats or adds file lines. A SEARCH of blank lines only is left as it is.
 */
export function trimBlankEdges(search: string[], replace: string[]): { search: string[]; replace: string[] } {
  let lead = 0;
  while (lead < search.length && isBlank(search[lead]!)) lead++;
  if (lead === search.length) return { search, replace };
  let trail = 0;
  while (isBlank(search[search.length - 1 - trail]!)) trail++;
  let from = 0;
  while (from < lead && from < replace.length && isBlank(replace[from]!)) from++;
  let to = replace.length;
  while (replace.length - to < trail && to > from && isBlank(replace[to - 1]!)) to--;
  return { search: search.slice(lead, search.length - trail), replace: replace.slice(from, to) };
}

interface Working {
  path: string;
  key: string;
  oldText: string | null;
  lines: Line[];
  /** `lines`' texts trimmed, kept in step with them. */
  trims: string[];
  edits: number[];
}

/** Applies edits in order; see the file header for matching, empty-SEARCH and path rules. */
export function applyEdits(edits: readonly SearchReplaceEdit[], source: FileSource, options: ApplyEditsOptions = {}): ApplyResult {
  const allowNew = options.allowNewFiles ?? true;
  const byKey = new Map<string, Working>();
  const applied: AppliedEdit[] = [];
  const failures: EditFailure[] = [];
  const fail = (edit: SearchReplaceEdit, kind: EditFailureKind, reason: string) => {
    failures.push({ index: edit.index, line: edit.line, path: edit.path, kind, reason: `block ${edit.index} (${edit.path}): ${reason}` });
  };

  for (const edit of edits) {
    const norm = normalizeEditPath(edit.path);
    if (!norm.ok) {
      fail(edit, "unsafe-path", norm.reason);
      continue;
    }
    const { search, replace } = trimBlankEdges(splitLinesLf(edit.search), splitLinesLf(edit.replace));
    if (search.length === 0 && replace.length === 0) {
      fail(edit, "empty-edit", "SEARCH and REPLACE are both empty");
      continue;
    }

    // Resolve the file (directly, under the clone folder, under a first-level folder), then (empty SEARCH only) as a new file.
    const found = resolvePath(norm.path, (k) => source.has(k), { topFolder: options.rootFolder, folders: options.folders });
    if (!found.ok && found.reason === "ambiguous") {
      fail(edit, "ambiguous-path", `${norm.path} could be ${found.candidates.join(" or ")}; not guessed`);
      continue;
    }
    const key = found.ok ? found.key : undefined;
    const path = key === undefined ? norm.path : options.repoPathOf ? options.repoPathOf(key) : key;
    let work = key === undefined ? byKey.get(norm.path) : byKey.get(key);
    if (!work) {
      if (key === undefined) {
        if (search.length > 0) {
          fail(edit, "unknown-file", `${norm.path} is not in the repository structure${options.rootFolder ? ` (nor as ${options.rootFolder}/${norm.path})` : ""}${options.folders?.length ? ` nor under ${options.folders.join(", ")}` : ""}`);
          continue;
        }
        if (!allowNew) {
          fail(edit, "new-file-refused", `${norm.path} is not in the repository structure and new files are not allowed`);
          continue;
        }
        work = { path: norm.path, key: norm.path, oldText: null, lines: [], trims: [], edits: [] };
      } else {
        const text = source.get(key);
        if (text === null || text === undefined) {
          fail(edit, "unusable-content", `${key} has no usable content in the repository structure`);
          continue;
        }
        const parts = linesOf(text);
        work = { path, key, oldText: text, lines: [...parts.lines], trims: [...parts.trims], edits: [] };
      }
      byKey.set(work.key, work);
    }

    const { lines, trims } = work;
    const eol = dominantEol(lines);
    let match: EditMatch;
    // Line objects may be shared with the cache: they are replaced, never changed.
    const put = (at: number, remove: number, toAdd: Line[]) => {
      lines.splice(at, remove, ...toAdd);
      trims.splice(at, remove, ...toAdd.map((l) => l.text.trim()));
    };
    if (search.length === 0) {
      const toAdd = replace.map((text) => ({ text, eol }));
      if (work.oldText === null && work.edits.length === 0) {
        match = "create";
        put(lines.length, 0, toAdd);
      } else if (trims.every((t) => t === "")) {
        match = "fill-empty";
        put(0, lines.length, toAdd);
      } else {
        match = "append";
        const last = lines[lines.length - 1]!;
        if (last.eol === "") lines[lines.length - 1] = { text: last.text, eol };
        put(lines.length, 0, toAdd);
      }
    } else {
      let at = findRun(lines, search);
      let newLines = replace;
      match = "exact";
      if (at === -1 && search.some((s) => s.trim() !== "")) {
        at = findTrimmedRun(trims, search);
        if (at !== -1) {
          match = "whitespace";
          const anchor = search.findIndex((s) => s.trim() !== "");
          newLines = reindent(replace, indentOf(search[anchor]!), indentOf(lines[at + anchor]!.text));
        }
      }
      if (at === -1) {
        fail(edit, "no-match", `SEARCH text (${search.length} line${search.length === 1 ? "" : "s"}, first: ${JSON.stringify(search[0]!.trim().slice(0, 60))}) not found in ${work.key}, exactly or ignoring surrounding whitespace`);
        continue;
      }
      const endsFile = at + search.length === lines.length && lines[lines.length - 1]!.eol === "";
      const toAdd = newLines.map((text) => ({ text, eol }));
      if (endsFile && toAdd.length > 0) toAdd[toAdd.length - 1]!.eol = "";
      put(at, search.length, toAdd);
    }
    work.edits.push(edit.index);
    applied.push({ index: edit.index, path: work.path, match });
  }

  const files: EditedFile[] = [...byKey.values()]
    .filter((w) => w.edits.length > 0)
    .map((w) => ({ path: w.path, key: w.key, oldText: w.oldText, newText: fromLines(w.lines), edits: w.edits }))
    .sort((a, b) => compareBytes(a.path, b.path));
  return { files, applied, failures };
}
