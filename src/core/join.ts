/**
 * Join two JSONL sources by custom_id. Batch results come back in any order, so files are never
 * zipped by position. The right side is indexed in memory (pass the smaller file there, or `pick`
 * only what you need from it); the left side streams. Missing and duplicate ids are reported with
 * their file and line numbers.
 */
import type { Location } from "./errors.ts";
import { customIdOf } from "./jsonl.ts";

/** One side of a join: a file name for messages and its records (line number and value; the value's custom_id is the key). */
export interface JoinSource<T = unknown> {
  file: string;
  records: AsyncIterable<{ line: number; value: T }>;
}

/** A custom_id seen more than once in one file, with every line it is on. */
export interface DuplicateId {
  file: string;
  customId: string;
  lines: number[];
}

/** Everything that did not pair up one to one. Filled while the rows are consumed. */
export interface JoinReport {
  matched: number;
  /** Left records whose id is not in the right file. */
  missingRight: Location[];
  /** Right records whose id never appeared on the left. */
  missingLeft: Location[];
  duplicates: DuplicateId[];
  /** Records without a string custom_id. */
  withoutId: Location[];
}

/** A joined row: both sides when matched, one side otherwise. Rows come in left order, then right-only rows. */
export interface JoinedRow<L, R> {
  customId: string;
  left?: { line: number; value: L };
  right?: { line: number; value: R };
}

/** Options: `pick` keeps only part of each right value in the index (memory stays per id, not per byte). */
export interface JoinOptions<R, P> {
  pick?: (value: R) => P;
}

/** Full outer join by custom_id; the first occurrence of a duplicated id is the one joined. */
export function joinByCustomId<L, R, P = R>(left: JoinSource<L>, right: JoinSource<R>, options: JoinOptions<R, P> = {}) {
  const report: JoinReport = { matched: 0, missingRight: [], missingLeft: [], duplicates: [], withoutId: [] };
  const pick = options.pick ?? ((v: R) => v as unknown as P);

  async function* rows(): AsyncGenerator<JoinedRow<L, P>> {
    const index = new Map<string, { line: number; value: P; used: boolean }>();
    const rightDupes = new Map<string, number[]>();
    for await (const rec of right.records) {
      const id = customIdOf(rec.value);
      if (id === undefined) {
        report.withoutId.push({ file: right.file, line: rec.line });
        continue;
      }
      const seen = index.get(id);
      if (seen) rightDupes.set(id, [...(rightDupes.get(id) ?? [seen.line]), rec.line]);
      else index.set(id, { line: rec.line, value: pick(rec.value), used: false });
    }
    for (const [customId, lines] of rightDupes) report.duplicates.push({ file: right.file, customId, lines });

    const leftSeen = new Map<string, number[]>();
    for await (const rec of left.records) {
      const id = customIdOf(rec.value);
      if (id === undefined) {
        report.withoutId.push({ file: left.file, line: rec.line });
        continue;
      }
      const lines = leftSeen.get(id);
      if (lines) {
        lines.push(rec.line);
        continue;
      }
      leftSeen.set(id, [rec.line]);
      const match = index.get(id);
      if (match) {
        match.used = true;
        report.matched++;
        yield { customId: id, left: { line: rec.line, value: rec.value }, right: { line: match.line, value: match.value } };
      } else {
        report.missingRight.push({ file: left.file, line: rec.line, customId: id });
        yield { customId: id, left: { line: rec.line, value: rec.value } };
      }
    }
    for (const [customId, lines] of leftSeen) if (lines.length > 1) report.duplicates.push({ file: left.file, customId, lines });
    for (const [customId, entry] of index) {
      if (entry.used) continue;
      report.missingLeft.push({ file: right.file, line: entry.line, customId });
      yield { customId, right: { line: entry.line, value: entry.value } };
    }
  }

  return { rows: rows(), report };
}
