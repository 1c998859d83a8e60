/**
 * One outcome per custom_id: a batch output that holds a custom_id on several lines (a 500, then a
 * 200 from a retry round appended to it) counts only its last line, as `merge` and the Kimi-Dev
 * scripts' dict of lines do. This pre-pass finds each id's last line without parsing the bodies
 * (the top-level `custom_id` by the byte scan of core/line-ids.ts); lines that are not JSON are
 * left to the main pass, which names them.
 */
import { createReadStream } from "node:fs";
import { readLineIds } from "../core/line-ids.ts";

/** The custom_ids of a file that sit on more than one line, each with its last 1-based line (ids on one line are left out). */
export async function lastLinesOfRepeatedIds(path: string): Promise<Map<string, number>> {
  const last = new Map<string, number>();
  const repeated = new Set<string>();
  for await (const { line, customId } of readLineIds(createReadStream(path), { file: path, onBadLine: () => {} })) {
    if (customId === undefined) continue;
    if (last.has(customId)) repeated.add(customId);
    last.set(customId, line);
  }
  for (const id of last.keys()) if (!repeated.has(id)) last.delete(id);
  return last;
}
