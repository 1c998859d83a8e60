/**
 * One outcome per custom_id: a batch output that holds a custom_id on several lines (a 500, then a
 * 200 from a retry round appended to it) counts only its last line, as `merge` and the Kimi-Dev
 * scripts' dict of lines do. This pre-pass finds each id's last line without parsing the bodies:
 * the id is read from the line's first `"custom_id": "..."` (top-level in every batch output line,
 * and a quote inside a JSON string is always escaped, so string contents cannot fake it).
 */
import { createReadStream } from "node:fs";
import { readJsonlLines } from "../core/jsonl.ts";

const CUSTOM_ID = /"custom_id"\s*:\s*("(?:[^"\\]|\\.)*")/;

/** The custom_id of a raw JSONL line by a text scan, or undefined. */
export function scanCustomId(text: string): string | undefined {
  const m = CUSTOM_ID.exec(text);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as string;
  } catch {
    return undefined;
  }
}

/** The custom_ids of a file that sit on more than one line, each with its last 1-based line (ids on one line are left out). */
export async function lastLinesOfRepeatedIds(path: string): Promise<Map<string, number>> {
  const last = new Map<string, number>();
  const repeated = new Set<string>();
  for await (const { line, text } of readJsonlLines(createReadStream(path))) {
    const id = scanCustomId(text);
    if (id === undefined) continue;
    if (last.has(id)) repeated.add(id);
    last.set(id, line);
  }
  for (const id of last.keys()) if (!repeated.has(id)) last.delete(id);
  return last;
}
