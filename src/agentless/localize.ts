/**
 * File localization answers -> structure paths: fenced blocks if the answer has any, else every
 * line; each line trimmed of bullets, numbering, backticks and `./`; matched against the
 * structure (`RepoStructure.locate`: exact, with or without the clone-folder prefix, then under each
 * first-level folder); deduplicated; order kept; at most 5. A path two first-level folders hold is
 * ambiguous: it is reported, not picked.
 */
import { type RepoStructure, isTestPath } from "./repo-structure.ts";

export const MAX_FILES = 5;

/** Lines inside ``` fences, or all lines when there are no fences. */
export function candidateLines(answer: string): string[] {
  const lines = answer.replace(/\r\n?/g, "\n").split("\n");
  const fenced: string[] = [];
  let inside = false;
  let sawFence = false;
  for (const line of lines) {
    if (/^\s*(```|~~~)/.test(line)) {
      inside = !inside;
      sawFence = true;
      continue;
    }
    if (inside) fenced.push(line);
  }
  return sawFence ? fenced : lines;
}

/** What an answer names: structure paths (in order, unique, at most `max`) and the paths left out as ambiguous. */
export interface Localized {
  files: string[];
  ambiguous: { path: string; candidates: string[] }[];
}

/** The structure paths an answer names, with the ambiguous ones reported. */
export function localize(answer: string, structure: RepoStructure, max = MAX_FILES): Localized {
  const files: string[] = [];
  const ambiguous: Localized["ambiguous"] = [];
  for (const raw of candidateLines(answer)) {
    const line = raw.trim().replace(/^(?:[-*+•]|\d+[.)])\s+/, "").replace(/^`+|`+$/g, "").trim();
    if (!line) continue;
    const found = structure.locate(line);
    if (found.ok && !files.includes(found.key)) files.push(found.key);
    else if (!found.ok && found.reason === "ambiguous") ambiguous.push({ path: line, candidates: found.candidates });
    if (files.length >= max) break;
  }
  return { files, ambiguous };
}

/** The structure paths an answer names, in order, unique, at most `max`. */
export function localizeFiles(answer: string, structure: RepoStructure, max = MAX_FILES): string[] {
  return localize(answer, structure, max).files;
}

/** The testwriter's file: the first file found that is a test file (`isTestPath`) with usable content. */
export function chooseTestFile(found: readonly string[], structure: RepoStructure): string | undefined {
  return found.find((f) => isTestPath(f) && typeof structure.get(f) === "string");
}
