/**
 * `gt_results` of a bugfixer sample record, as Kimi-Dev's batch_rollout_bugfixer.py writes it into
 * samples/<custom_id>.jsonl: the gold patch of the dataset row, parsed, and the files, functions
 * and lines it touches, located with the structure's class/function line ranges.
 *
 * - `gt_parsed_patch`: per file of the patch (`+++ b/<path>`), its hunks: `start_line` of the new
 *   side and `changes` (`{type: "add"|"delete", content: trimmed text, line}`). `line` counts as the
 *   Agentless parser does: a running new-side line number, less the lines of the other kind seen
 *   so far in the hunk.
 * - `found_files`: the patch's files, in patch order.
 * - `found_related_locs` / `found_edit_locs`: `[{<file>: [...]}]`, per changed line the enclosing
 *   method (`class: C\nfunction: C.m`) or top-level function (`function: f`), `""` / `line: N`
 *   when none encloses it; `found_edit_locs` adds `\nline: N`. Duplicates dropped, order kept.
 *   Files not in the structure have no entry.
 */
import type { RepoStructure } from "./repo-structure.ts";

/** One change line of a gold patch hunk. */
export interface GoldChange {
  type: "add" | "delete";
  content: string;
  line: number;
}

/** One file of a parsed gold patch. */
export interface GoldFile {
  file: string;
  hunks: { start_line: number; changes: GoldChange[] }[];
}

/** The `gt_results` record. */
export interface GoldResults {
  instance_id: string;
  found_files: string[];
  found_related_locs: Record<string, string[]>[];
  found_edit_locs: Record<string, string[]>[];
  gt_parsed_patch: GoldFile[];
  gt_patch: string;
}

/** Parses a unified git diff into files and hunks with the line numbering described in the header. */
export function parseGoldPatch(patch: string): GoldFile[] {
  const files: GoldFile[] = [];
  let file: GoldFile | undefined;
  let hunk: GoldFile["hunks"][number] | undefined;
  let added = 0;
  let deleted = 0;
  for (const line of patch.split("\n")) {
    if (line.startsWith("diff --git")) {
      file = { file: "", hunks: [] };
      files.push(file);
      hunk = undefined;
    } else if (line.startsWith("--- a/")) {
      // the old name: the new one (`+++ b/`) names the file
    } else if (line.startsWith("+++ b/")) {
      if (file) file.file = line.slice(6);
    } else if (line.startsWith("@@ ")) {
      const m = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
      if (file && m) {
        hunk = { start_line: Number(m[1]), changes: [] };
        file.hunks.push(hunk);
        added = 0;
        deleted = 0;
      }
    } else if (line.startsWith("+") || line.startsWith("-")) {
      if (!hunk) continue;
      if (line.startsWith("-")) {
        deleted++;
        hunk.changes.push({ type: "delete", content: line.slice(1).trim(), line: hunk.start_line - added });
      } else {
        added++;
        hunk.changes.push({ type: "add", content: line.slice(1).trim(), line: hunk.start_line - deleted });
      }
      hunk.start_line++;
    } else if (hunk) {
      hunk.start_line++;
    }
  }
  return files;
}

interface Ranged {
  name: string;
  start_line: number;
  end_line: number;
  methods?: Ranged[];
}

function ranged(value: unknown): value is Ranged {
  const v = value as Ranged | null;
  return typeof v === "object" && v !== null && typeof v.start_line === "number" && typeof v.end_line === "number" && typeof v.name === "string";
}

/** The `gt_results` of one row: its gold patch parsed and located in the structure. */
export function goldResults(instanceId: string, goldPatch: string, structure: RepoStructure): GoldResults {
  const parsed = parseGoldPatch(goldPatch);
  const related = new Map<string, string[]>();
  const edits = new Map<string, string[]>();
  const push = (map: Map<string, string[]>, file: string, item: string) => {
    const list = map.get(file) ?? [];
    if (!list.includes(item)) list.push(item);
    map.set(file, list);
  };
  for (const { file, hunks } of parsed) {
    const node = structure.node(file) ?? (structure.topFolder ? structure.node(`${structure.topFolder}/${file}`) : undefined);
    if (!node) continue;
    const classes = (Array.isArray(node.classes) ? node.classes : []).filter(ranged);
    const functions = (Array.isArray(node.functions) ? node.functions : []).filter(ranged);
    for (const hunk of hunks) {
      for (const { line } of hunk.changes) {
        let found = false;
        for (const c of classes) {
          for (const m of (c.methods ?? []).filter(ranged)) {
            if (m.start_line <= line && line <= m.end_line) {
              found = true;
              push(related, file, `class: ${c.name}\nfunction: ${c.name}.${m.name}`);
              push(edits, file, `class: ${c.name}\nfunction: ${c.name}.${m.name}\nline: ${line}`);
            }
          }
        }
        for (const f of functions) {
          if (f.start_line <= line && line <= f.end_line) {
            found = true;
            push(related, file, `function: ${f.name}`);
            push(edits, file, `function: ${f.name}\nline: ${line}`);
          }
        }
        if (!found) {
          push(related, file, "");
          push(edits, file, `line: ${line}`);
        }
      }
    }
  }
  return {
    instance_id: instanceId,
    found_files: parsed.map((f) => f.file),
    found_related_locs: [...related].map(([file, items]) => ({ [file]: items })),
    found_edit_locs: [...edits].map(([file, items]) => ({ [file]: items })),
    gt_parsed_patch: parsed,
    gt_patch: goldPatch,
  };
}
