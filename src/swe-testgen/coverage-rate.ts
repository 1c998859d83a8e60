/**
 * Changed-line coverage: of the gold patch's added/changed lines that coverage.py can execute
 * (it reports them as executed or missing; blank lines, comments, docstrings and excluded lines
 * are neither), the share the generated tests executed. Pooled over all files of the patch.
 */
import type { CoverageData } from "../runners/types.ts";
import { addedLines } from "./changed-lines.ts";

/** `rate` in [0, 1] rounded to 3 places; `uncovered` as `path:line: source`, in patch order. */
export interface ChangedLineCoverage {
  rate: number;
  executable: number;
  executed: number;
  uncovered: string[];
}

/**
 * Coverage of `goldPatch`'s added lines under `coverage` (workspace-relative paths). A patch with
 * no executable added line has rate 1 (nothing to cover). Files of the patch that coverage.py did
 * not measure at all (never imported) count all their non-blank, non-comment added lines as missed.
 */
export function changedLineCoverage(goldPatch: string, coverage: CoverageData): ChangedLineCoverage {
  let executable = 0;
  let executed = 0;
  const uncovered: string[] = [];
  for (const [path, lines] of addedLines(goldPatch)) {
    if (!path.endsWith(".py")) continue;
    const file = coverage[path];
    const ran = new Set(file?.executed ?? []);
    const missing = new Set(file?.missing ?? []);
    for (const [line, source] of lines) {
      const counted = file ? ran.has(line) || missing.has(line) : source.trim() !== "" && !source.trim().startsWith("#");
      if (!counted) continue;
      executable++;
      if (ran.has(line)) executed++;
      else uncovered.push(`${path}:${line}: ${source}`);
    }
  }
  const rate = executable === 0 ? 1 : Math.round((executed / executable) * 1000) / 1000;
  return { rate, executable, executed, uncovered };
}
