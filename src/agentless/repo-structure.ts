/**
 * Agentless repo structures (schemas/repo-structure.ts): loading, file lists, file contents, the
 * prompt tree, and the three kinds of path the stages meet.
 *
 * - structure path: keys joined by `/`, as Agentless names files (`marshmallow/setup.py`,
 *   `src/marshmallow/schema.py`). Stages key everything by it (prompts, matching, FileSource).
 * - model path: what an answer wrote; `resolve` turns it into a structure path or undefined.
 * - repo path: the path in a checkout at `base_commit`, the one `git apply` needs; `repoPath`.
 *
 * Top folder: root files sit under a key named after the clone folder (`structure.marshmallow`),
 * while root directories are its siblings. It is the file's `top_folder` (batchline-built), else the
 * name part of `repo` when that key exists, else the top-level key holding the most typical root
 * files (setup.py, pyproject.toml, README..., LICENSE...).
 *
 * Repo paths: a path not under the top folder T is its own repo path, and so is any path two or more
 * levels under T (the root walk adds only files to T). A direct child `T/x` is the root file `x`
 * when it is one; that is ambiguous only when the repository has a real directory named T
 * (django/django: root files and the package's files share one dict, and a package file hides a
 * root file of the same name). The rule: `T/x` maps to `x` iff
 * - the file lists `root_files` (batchline-built): x is in it (exact);
 * - otherwise (Agentless-built): `structure[T]` holds no `__init__.py` and no non-empty directory,
 *   i.e. it does not look like a real package. In an Agentless structure of a repo whose package has
 *   the clone folder's name, root files such as setup.py then map to `django/setup.py`, which does
 *   not exist at base_commit: a patch to them fails `git apply --check` (rebuild with batchline).
 * The mapping is one-to-one, so it can serve as apply-edits' `repoPathOf`.
 *
 * Test files (`isTestPath`): a path with a directory segment `test`, `tests` or `testing`, or a file
 * named `test_*.py`, `*_test.py` or `conftest.py` (case-insensitive). Real packages named like that
 * (`django/test/`, `sympy/testing/`) are hidden too; Agentless hides every name starting with `test`.
 *
 * Loading: `RepoStructureLoader.load(id)` reads `<dir>/<id>.json` on demand and keeps the last few
 * (LRU). It throws `StructureNotFoundError` (reason `structure_not_found`) for a missing file and
 * `StructureFileError` (reason `structure_invalid`) for one that is not valid JSON, not the right
 * shape, or about another instance: stages catch `StructureError` and write `error.reason` to their
 * failures file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type PythonFileNode, RepoStructureFile } from "../../schemas/repo-structure.ts";
import { compareBytes, idFileNameProblem } from "../core/custom-id.ts";
import { BatchlineError, type Issue } from "../core/errors.ts";
import { flattenIssues } from "../core/stage.ts";
import { type PathResolution, resolvePath } from "./resolve-path.ts";

/** Why a structure could not be had; stages write it as the `reason` of a failure record. */
export type StructureErrorReason = "structure_not_found" | "structure_invalid";

/** A structure that cannot be loaded: which instance, which file, and why. */
export class StructureError extends BatchlineError {
  readonly reason: StructureErrorReason;
  readonly instanceId: string;
  readonly file: string;
  constructor(reason: StructureErrorReason, instanceId: string, file: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
    this.instanceId = instanceId;
    this.file = file;
  }
}

/** No structure file for this instance (reason `structure_not_found`). */
export class StructureNotFoundError extends StructureError {
  constructor(instanceId: string, file: string, detail = "no such file") {
    super("structure_not_found", instanceId, file, `${file}: no repo structure for ${instanceId} (${detail}); build it with \`batchline agentless structure\``);
  }
}

/** A structure file that is unreadable, not JSON, not the right shape, or about another instance (reason `structure_invalid`). */
export class StructureFileError extends StructureError {
  readonly issues: Issue[];
  constructor(instanceId: string, file: string, what: string, extra: { issues?: Issue[]; cause?: unknown } = {}) {
    super("structure_invalid", instanceId, file, `${file}: ${what}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.issues = extra.issues ?? [];
  }
}

/** A directory of a structure, as read from JSON (nodes are checked as they are walked). */
export type StructureDirNode = Record<string, unknown>;

const PYTHON_FILE_KEYS = ["classes", "functions", "text"];
const TEST_DIRS = new Set(["test", "tests", "testing"]);
const ROOT_MARKERS = /^(setup\.py|setup\.cfg|pyproject\.toml|tox\.ini|manifest\.in|\.gitignore|readme(\..*)?|license(\..*)?|copying(\..*)?)$/i;

function isObject(value: unknown): value is StructureDirNode {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True for a Python file node: an object with exactly the keys `classes`, `functions`, `text`. */
export function isPythonFileNode(node: unknown): node is PythonFileNode {
  if (!isObject(node)) return false;
  const keys = Object.keys(node);
  return keys.length === 3 && PYTHON_FILE_KEYS.every((k) => Object.hasOwn(node, k));
}

/** True for a directory that holds something: an object that is neither a Python file nor `{}`. */
function isNonEmptyDir(node: unknown): node is StructureDirNode {
  return isObject(node) && !isPythonFileNode(node) && Object.keys(node).length > 0;
}

/** A Python file's content: its lines joined by `\n` plus a final `\n` (`[]` gives ""); null when `text` is not a list of lines (`""`: failed to parse). */
export function pythonFileContent(node: PythonFileNode): string | null {
  const text: unknown = node.text;
  if (!Array.isArray(text) || !text.every((line) => typeof line === "string")) return null;
  return text.length === 0 ? "" : `${text.join("\n")}\n`;
}

/** True for a test path (see the file header): a `test`/`tests`/`testing` directory segment, `test_*.py`, `*_test.py`, `conftest.py`. */
export function isTestPath(path: string): boolean {
  const parts = path.toLowerCase().split("/");
  const name = parts.pop() ?? "";
  if (parts.some((p) => TEST_DIRS.has(p))) return true;
  return name === "conftest.py" || (name.endsWith(".py") && (name.startsWith("test_") || name.endsWith("_test.py")));
}

function walkPythonFiles(dir: StructureDirNode, prefix: string, out: Map<string, PythonFileNode>): void {
  for (const [name, node] of Object.entries(dir)) {
    if (name === ".git") continue;
    const path = prefix === "" ? name : `${prefix}/${name}`;
    if (isPythonFileNode(node)) out.set(path, node);
    else if (isNonEmptyDir(node)) walkPythonFiles(node, path, out);
  }
}

/** Every Python file of a structure, structure path -> node, in byte order of path; `.git` is skipped at any depth. */
export function pythonFiles(structure: StructureDirNode): Map<string, PythonFileNode> {
  const found = new Map<string, PythonFileNode>();
  walkPythonFiles(structure, "", found);
  return new Map([...found].sort(([a], [b]) => compareBytes(a, b)));
}

/** What `renderTree` shows. */
export interface RenderTreeOptions {
  /** Show test files and directories (`isTestPath`); the bugfixer hides them, the testwriter shows them. */
  includeTests: boolean;
}

function renderDir(dir: StructureDirNode, prefix: string, depth: number, includeTests: boolean, out: string[]): void {
  const indent = "    ".repeat(depth);
  for (const name of Object.keys(dir).sort(compareBytes)) {
    if (name === ".git") continue;
    const node = dir[name];
    const path = prefix === "" ? name : `${prefix}/${name}`;
    if (isPythonFileNode(node)) {
      if (includeTests || !isTestPath(path)) out.push(indent + name);
    } else if (isNonEmptyDir(node)) {
      if (!includeTests && TEST_DIRS.has(name.toLowerCase())) continue;
      const sub: string[] = [];
      renderDir(node, path, depth + 1, includeTests, sub);
      if (sub.length > 0) out.push(`${indent}${name}/`, ...sub);
    }
  }
}

/**
 * The repo tree for prompts: one line per entry, 4 spaces of indent per level, directories end in
 * `/`, Python files only, names in byte order at each level; directories with nothing shown under
 * them and `.git` are left out. Lines joined by `\n`, no final newline ("" when nothing is shown).
 */
export function renderTree(structure: StructureDirNode, options: RenderTreeOptions): string {
  const out: string[] = [];
  renderDir(structure, "", 0, options.includeTests, out);
  return out.join("\n");
}

function agentlessTreeLines(dir: StructureDirNode, spacing: number, includeTests: boolean, out: string[]): void {
  for (const [name, node] of Object.entries(dir)) {
    if (name.includes(".") && !name.includes(".py")) continue;
    if (!includeTests && name.startsWith("test")) continue;
    out.push(" ".repeat(spacing) + name + (name.includes(".") ? "" : "/"));
    if (isObject(node) && !Object.hasOwn(node, "classes")) agentlessTreeLines(node, spacing + 4, includeTests, out);
  }
}

/**
 * The repo tree as Agentless and Kimi-Dev print it into their prompts (for user templates that
 * must match them byte for byte): entries in the structure file's key order; a name with a `.`
 * but no `.py` skipped; with `includeTests` false, every name starting with `test` skipped; a
 * name without a `.` shown as a directory (`name/`, even a file such as `LICENSE`), its children
 * 4 spaces deeper; no final newline. (JavaScript objects put integer-like keys first; a
 * directory named `0` would move.)
 */
export function renderAgentlessTree(structure: StructureDirNode, options: RenderTreeOptions): string {
  const out: string[] = [];
  agentlessTreeLines(structure, 0, options.includeTests, out);
  return out.join("\n").trim();
}

/**
 * A model-written path reduced to a clean relative path, or undefined: bullets (`-`, `*`, `1.`),
 * backticks, `**`, quotes, a `File:`-style label and trailing words are dropped, as are a trailing
 * `:` / `,` / `.`, line numbers (`:12`, `:12-30`, `#L12`), `\` (made `/`), `./` and a leading `/`.
 * A path with a `..` segment gives undefined.
 */
export function cleanModelPath(raw: string): string | undefined {
  let s = raw.trim().replace(/^(?:[-*+•]\s+|\d+[.)]\s+)+/, "").replace(/`|\*\*/g, "").replace(/\\/g, "/");
  const tokens = s.split(/\s+/).filter((t) => t !== "");
  s = tokens.find((t) => /\.py\b/.test(t)) ?? tokens.find((t) => t.includes("/")) ?? tokens[0] ?? "";
  s = s.replace(/^["'([<]+/, "");
  for (let before = ""; before !== s; ) {
    before = s;
    s = s.replace(/["')\]>:,;.]+$/, "").replace(/(?:[:#]L?\d+(?:[-–:]L?\d+)*)$/, "");
  }
  const segments = s.split("/").filter((seg) => seg !== "" && seg !== ".");
  if (segments.length === 0 || segments.includes("..")) return undefined;
  return segments.join("/");
}

/** The clone-folder key of a structure file (see the file header), or undefined when none is found. */
export function findTopFolder(file: Pick<RepoStructureFile, "repo" | "structure" | "top_folder">): string | undefined {
  const structure = file.structure;
  if (file.top_folder !== undefined && isObject(structure[file.top_folder])) return file.top_folder;
  const fromRepo = file.repo.split("/").pop() ?? "";
  if (fromRepo !== "" && isObject(structure[fromRepo])) return fromRepo;
  let best: string | undefined;
  let bestCount = 0;
  for (const key of Object.keys(structure).sort(compareBytes)) {
    const node = structure[key];
    if (key === ".git" || !isNonEmptyDir(node)) continue;
    const count = Object.keys(node).filter((name) => ROOT_MARKERS.test(name)).length;
    if (count > bestCount) [best, bestCount] = [key, count];
  }
  return best;
}

/** Why `content` gave no text: the path is no Python file of the structure, or its `text` is `""` (failed to parse). */
export type FileContent = { ok: true; text: string } | { ok: false; reason: "not_found" | "unparsed" };

/** Options of `RepoStructure.fromJSON`. */
export interface RepoStructureOptions {
  /** File name used in errors (default `<instance_id>.json`). */
  file?: string;
  /** Instance id used in errors when the value has none (the loader passes the one asked for). */
  instanceId?: string;
  /** The clone-folder key, overriding the file's `top_folder` and the guess. */
  topFolder?: string;
}

/**
 * One loaded structure with its Python files indexed. Implements apply-edits' `FileSource` over
 * structure paths (`has`, `get`: text, null when unusable, undefined when unknown).
 */
export class RepoStructure {
  readonly instanceId: string;
  readonly repo: string;
  readonly baseCommit: string | null;
  /** The clone-folder key under which root files sit, if any. */
  readonly topFolder: string | undefined;
  readonly structure: StructureDirNode;
  readonly #files: Map<string, PythonFileNode>;
  /** File texts rebuilt so far (`get` joins a file's lines once). */
  readonly #texts = new Map<string, string | null>();
  /** Direct children of the top folder that are root files. */
  readonly #rootFiles: ReadonlySet<string>;
  /** First-level folders that hold something, in byte order. */
  readonly #folders: string[];

  constructor(file: RepoStructureFile, options: { topFolder?: string } = {}) {
    this.instanceId = file.instance_id;
    this.repo = file.repo;
    this.baseCommit = file.base_commit;
    this.structure = file.structure;
    this.topFolder = options.topFolder ?? findTopFolder(file);
    this.#files = pythonFiles(file.structure);
    const top = this.topFolder === undefined ? undefined : file.structure[this.topFolder];
    let rootFiles: string[] = [];
    if (file.root_files !== undefined && (options.topFolder === undefined || options.topFolder === file.top_folder)) rootFiles = file.root_files;
    else if (isObject(top) && !isPythonFileNode(top)) {
      const looksLikePackage = isPythonFileNode(top["__init__.py"]) || Object.values(top).some(isNonEmptyDir);
      if (!looksLikePackage) rootFiles = Object.keys(top);
    }
    this.#rootFiles = new Set(rootFiles);
    this.#folders = Object.keys(file.structure).filter((k) => k !== ".git" && isNonEmptyDir(file.structure[k])).sort(compareBytes);
  }

  /** Checks the top level of a parsed structure file; throws `StructureFileError` naming the file. */
  static fromJSON(value: unknown, options: RepoStructureOptions = {}): RepoStructure {
    const parsed = RepoStructureFile.safeParse(value);
    const id = options.instanceId ?? (isObject(value) && typeof value.instance_id === "string" ? value.instance_id : "(unknown instance)");
    const file = options.file ?? `${id}.json`;
    if (!parsed.success) {
      const issues = flattenIssues(parsed.error);
      const detail = issues.map((i) => (i.path ? `${i.message} at ${i.path}` : i.message)).join("; ");
      throw new StructureFileError(id, file, `not a repo structure {repo, base_commit, instance_id, structure}: ${detail}`, { issues });
    }
    return new RepoStructure(parsed.data, options.topFolder === undefined ? {} : { topFolder: options.topFolder });
  }

  /** Structure paths of every Python file, in byte order. */
  pythonFiles(): string[] {
    return [...this.#files.keys()];
  }

  /** True when `path` is a Python file of the structure (usable or not). */
  has(path: string): boolean {
    return this.#files.has(path);
  }

  /** The rebuilt content of a Python file (see `pythonFileContent`); null when unusable, undefined when not a Python file here. */
  get(path: string): string | null | undefined {
    const node = this.#files.get(path);
    if (node === undefined) return undefined;
    let text = this.#texts.get(path);
    if (text === undefined) this.#texts.set(path, (text = pythonFileContent(node)));
    return text;
  }

  /** Like `get`, with the reason spelled out for failure records. */
  content(path: string): FileContent {
    const text = this.get(path);
    if (text === undefined) return { ok: false, reason: "not_found" };
    if (text === null) return { ok: false, reason: "unparsed" };
    return { ok: true, text };
  }

  /** The node of a Python file (classes, functions, text), or undefined. */
  node(path: string): PythonFileNode | undefined {
    return this.#files.get(path);
  }

  /** First-level folders of the structure that hold something (`src`, `tests`, the clone folder), in byte order. */
  folders(): string[] {
    return [...this.#folders];
  }

  /**
   * Where a path a model named is (`cleanModelPath` first, then the rules of resolve-path.ts: the
   * path, `<top>/<path>`, the path without `<top>/`, each first-level folder as a prefix).
   */
  locate(raw: string): PathResolution {
    const path = cleanModelPath(raw);
    if (path === undefined) return { ok: false, reason: "not_found" };
    return resolvePath(path, (k) => this.#files.has(k), { topFolder: this.topFolder, folders: this.#folders });
  }

  /** The structure path of a Python file a model named (see `locate`); undefined when there is none or it is ambiguous. */
  resolve(raw: string): string | undefined {
    const found = this.locate(raw);
    return found.ok ? found.key : undefined;
  }

  /** The repository path of a structure path, as `git apply` at base_commit needs it (rule in the file header). */
  repoPath(path: string): string {
    const top = this.topFolder;
    if (top === undefined || !path.startsWith(`${top}/`)) return path;
    const rest = path.slice(top.length + 1);
    return !rest.includes("/") && this.#rootFiles.has(rest) ? rest : path;
  }

  /** `renderTree` of this structure. */
  tree(options: RenderTreeOptions): string {
    return renderTree(this.structure, options);
  }

  /** `renderAgentlessTree` of this structure. */
  agentlessTree(options: RenderTreeOptions): string {
    return renderAgentlessTree(this.structure, options);
  }
}

/** Options of `RepoStructureLoader`. */
export interface RepoStructureLoaderOptions {
  /** The directory holding `<instance_id>.json` files. */
  dir: string;
  /** Structures kept in memory, least recently used dropped first (default 4, at least 1). */
  cacheSize?: number;
  /** The clone-folder key for every structure, overriding each file's own (rarely needed). */
  topFolder?: string;
}

/** Loads `<dir>/<instance_id>.json` on demand, keeping the `cacheSize` most recently used structures. */
export class RepoStructureLoader {
  readonly dir: string;
  readonly cacheSize: number;
  readonly #topFolder: string | undefined;
  readonly #cache = new Map<string, Promise<RepoStructure>>();

  constructor(options: RepoStructureLoaderOptions) {
    this.dir = options.dir;
    this.cacheSize = Math.max(1, Math.floor(options.cacheSize ?? 4));
    this.#topFolder = options.topFolder;
  }

  /** The file a structure is read from. */
  pathOf(instanceId: string): string {
    return join(this.dir, `${instanceId}.json`);
  }

  /** Instance ids held in the cache, least recently used first. */
  cachedIds(): string[] {
    return [...this.#cache.keys()];
  }

  /** The structure of one instance; throws `StructureNotFoundError` or `StructureFileError` (never cached). */
  load(instanceId: string): Promise<RepoStructure> {
    const hit = this.#cache.get(instanceId);
    if (hit) {
      this.#cache.delete(instanceId);
      this.#cache.set(instanceId, hit);
      return hit;
    }
    const loading = this.#read(instanceId);
    this.#cache.set(instanceId, loading);
    loading.catch(() => {
      if (this.#cache.get(instanceId) === loading) this.#cache.delete(instanceId);
    });
    while (this.#cache.size > this.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    return loading;
  }

  async #read(instanceId: string): Promise<RepoStructure> {
    const file = this.pathOf(instanceId);
    if (idFileNameProblem(instanceId) !== undefined) {
      throw new StructureNotFoundError(instanceId, file, "the instance id is not a usable file name");
    }
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new StructureNotFoundError(instanceId, file);
      throw new StructureFileError(instanceId, file, `cannot read (${code ?? (err as Error).message})`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new StructureFileError(instanceId, file, `not valid JSON (${(err as Error).message})`, { cause: err });
    }
    const structure = RepoStructure.fromJSON(value, this.#topFolder === undefined ? { file, instanceId } : { file, instanceId, topFolder: this.#topFolder });
    if (structure.instanceId !== instanceId) {
      throw new StructureFileError(instanceId, file, `holds the structure of ${structure.instanceId}, not ${instanceId}`);
    }
    return structure;
  }
}
