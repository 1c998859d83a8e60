/**
 * Where a model-written path is in a repo structure, tried in this order (the first rule that
 * finds a file decides):
 * 1. the path itself;
 * 2. under the clone folder, `<top>/<path>` (Agentless keeps root files there: `requests/sessions.py`);
 * 3. without a leading `<top>/`;
 * 4. under each first-level folder, `<folder>/<path>` (a `src/` layout: `flask/config.py` is
 *    `src/flask/config.py`). When two folders hold the path, it is ambiguous: reported with both
 *    candidates, never guessed.
 * Kimi-Dev's scripts try 1 and then every first-level folder, taking the first hit in dict order.
 */

/** The folders a path may be found under. */
export interface PathContext {
  /** The clone-folder key under which root files sit. */
  topFolder?: string | undefined;
  /** First-level folders of the structure (byte order), tried as prefixes last. */
  folders?: readonly string[] | undefined;
}

/** The structure key of a path, or why there is none. */
export type PathResolution =
  | { ok: true; key: string }
  | { ok: false; reason: "not_found" }
  | { ok: false; reason: "ambiguous"; candidates: string[] };

/** Every key `resolvePath` may look at for `path`, in the order it looks (no duplicates). */
export function candidatePaths(path: string, context: PathContext): string[] {
  const keys = [path];
  const top = context.topFolder;
  if (top !== undefined) {
    keys.push(`${top}/${path}`);
    if (path.startsWith(`${top}/`)) keys.push(path.slice(top.length + 1));
  }
  for (const folder of context.folders ?? []) keys.push(`${folder}/${path}`);
  return [...new Set(keys)];
}

/** Resolves `path` (already cleaned: no `./`, no leading `/`) against the keys `has` knows; rules in the file header. */
export function resolvePath(path: string, has: (key: string) => boolean, context: PathContext): PathResolution {
  if (has(path)) return { ok: true, key: path };
  const top = context.topFolder;
  if (top !== undefined) {
    if (has(`${top}/${path}`)) return { ok: true, key: `${top}/${path}` };
    if (path.startsWith(`${top}/`) && has(path.slice(top.length + 1))) return { ok: true, key: path.slice(top.length + 1) };
  }
  const found = [...new Set((context.folders ?? []).map((f) => `${f}/${path}`))].filter(has);
  if (found.length === 1) return { ok: true, key: found[0]! };
  if (found.length > 1) return { ok: false, reason: "ambiguous", candidates: found };
  return { ok: false, reason: "not_found" };
}
