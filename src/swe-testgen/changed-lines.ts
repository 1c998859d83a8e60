/**
 * The lines a patch adds or changes, numbered as in the patched file (the "+" side), per file.
 * Deleted files and pure deletions add nothing. Used for coverage: which of these lines the
 * generated tests execute.
 */

/** Path (as in `b/<path>`) -> added line numbers (1-based, ascending) -> their text. */
export type ChangedLines = Map<string, Map<number, string>>;

/** Parses a unified diff (git's form) into the added lines of each file. */
export function addedLines(patch: string): ChangedLines {
  const out: ChangedLines = new Map();
  let file: Map<number, string> | undefined;
  let newLine = 0;
  let oldLeft = 0;
  let newLeft = 0;
  for (const line of patch.split("\n")) {
    if (oldLeft === 0 && newLeft === 0) {
      if (line.startsWith("+++ ")) {
        const target = line.slice(4).trim();
        if (target === "/dev/null") {
          file = undefined;
        } else {
          const path = target.replace(/^b\//, "");
          file = out.get(path) ?? new Map();
          out.set(path, file);
        }
        continue;
      }
      const hunk = /^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
      if (hunk) {
        oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
        newLine = Number(hunk[2]);
        newLeft = hunk[3] === undefined ? 1 : Number(hunk[3]);
      }
      continue;
    }
    if (line.startsWith("\\")) continue; // "\ No newline at end of file"
    const mark = line[0] ?? " ";
    if (mark === "+") {
      file?.set(newLine, line.slice(1));
      newLine++;
      newLeft--;
    } else if (mark === "-") {
      oldLeft--;
    } else {
      newLine++;
      newLeft--;
      oldLeft--;
    }
  }
  for (const [path, lines] of out) if (lines.size === 0) out.delete(path);
  return out;
}
