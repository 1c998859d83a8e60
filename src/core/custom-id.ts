/**
 * custom_id codec, ranges and shards.
 * A custom_id is `<instance_id>` when passk is 1, else `<instance_id>__pass<N>` (N from 0).
 * Instance ids contain `__` themselves (`django__django-11099`), so we split on the LAST `__pass`.
 */
import { BatchlineError, UsageError } from "./errors.ts";

const PASS_SEPARATOR = "__pass";

/**
 * `id` (a custom_id or instance_id) as one file or folder name (`samples/<custom_id>.jsonl`,
 * `<instance_id>.json`, `logs/<phase>/<instance_id>/`). Refused when it could name another place:
 * empty, `.` or `..`, or with a slash, a backslash or a NUL in it (`../x` would write outside).
 */
export function idFileName(id: string, suffix = ""): string {
  const why = idFileNameProblem(id);
  if (why) throw new BatchlineError(`id ${JSON.stringify(id)} cannot name a file (${why}): ids become file names here`);
  return id + suffix;
}

/** Why `id` cannot be a file name (see idFileName), or undefined when it can. */
export function idFileNameProblem(id: string): string | undefined {
  const bad = /[/\\\0]/.exec(id)?.[0];
  return id === "" ? "it is empty" : id === "." || id === ".." ? `it is ${id}` : bad !== undefined ? `it contains ${JSON.stringify(bad)}` : undefined;
}

/** The custom_id of one pass of one instance; passk 1 keeps the bare instance id. */
export function formatCustomId(instanceId: string, pass: number, passk: number): string {
  return passk <= 1 ? instanceId : `${instanceId}${PASS_SEPARATOR}${pass}`;
}

/** Instance id and pass of a custom_id; `hasPass` is false (and pass 0) for a bare instance id. */
export interface ParsedCustomId {
  instanceId: string;
  pass: number;
  hasPass: boolean;
}

/** Splits `<instance_id>__pass<N>` on the last `__pass` followed only by digits. */
export function parseCustomId(customId: string): ParsedCustomId {
  const at = customId.lastIndexOf(PASS_SEPARATOR);
  if (at > 0) {
    const digits = customId.slice(at + PASS_SEPARATOR.length);
    if (/^(0|[1-9][0-9]*)$/.test(digits)) {
      return { instanceId: customId.slice(0, at), pass: Number(digits), hasPass: true };
    }
  }
  return { instanceId: customId, pass: 0, hasPass: false };
}

/**
 * Compares strings in UTF-8 byte order (what `sort` in the C locale and Python's `sorted` on
 * bytes give). JS `<` compares UTF-16 units, which differs only between surrogates and U+E000..U+FFFF.
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** One end of a range: a custom_id, or a 0-based position in the byte-sorted id list. */
export type RangeBound = { kind: "id"; id: string } | { kind: "position"; index: number };

/** Parses a `--start`/`--end` value: a non-negative integer is a position, anything else a custom_id. */
export function parseRangeBound(raw: string | number | undefined, flag: string): RangeBound | undefined {
  if (raw === undefined || raw === "") return undefined;
  const text = String(raw);
  if (/^[0-9]+$/.test(text)) {
    const index = Number(text);
    if (!Number.isSafeInteger(index)) throw new UsageError(`${flag} ${text}: position is too large`);
    return { kind: "position", index };
  }
  if (/^-[0-9]+$/.test(text)) throw new UsageError(`${flag} ${text}: positions count from 0 and cannot be negative`);
  return { kind: "id", id: text };
}

/** A range of custom_ids, start inclusive and end exclusive, in byte order; absent ends are open. */
export interface IdRange {
  start?: string;
  end?: string;
}

/** True when a range bound is a position, so the sorted id list must be read first. */
export function needsIdList(...bounds: (RangeBound | undefined)[]): boolean {
  return bounds.some((b) => b?.kind === "position");
}

/**
 * Resolves bounds to custom_id bounds. Positions index `sortedIds` (byte-sorted, unique);
 * a position past the end selects nothing from there on.
 */
export function resolveRange(start: RangeBound | undefined, end: RangeBound | undefined, sortedIds?: readonly string[]): IdRange & { empty: boolean } {
  const resolve = (b: RangeBound | undefined): string | undefined | null => {
    if (!b) return undefined;
    if (b.kind === "id") return b.id;
    if (!sortedIds) throw new Error("resolveRange: positions need the sorted id list");
    return b.index < sortedIds.length ? sortedIds[b.index]! : null; // null: past the end
  };
  const s = resolve(start);
  const e = resolve(end);
  if (s === null) return { empty: true };
  const range: IdRange = {};
  if (s !== undefined) range.start = s;
  if (e !== null && e !== undefined) range.end = e;
  const empty = range.start !== undefined && range.end !== undefined && compareBytes(range.start, range.end) >= 0;
  return { ...range, empty };
}

/** True when start <= id < end in byte order. */
export function inRange(id: string, range: IdRange): boolean {
  if (range.start !== undefined && compareBytes(id, range.start) < 0) return false;
  if (range.end !== undefined && compareBytes(id, range.end) >= 0) return false;
  return true;
}

/** A shard: keep ids whose stable hash mod `count` is `index`. */
export interface Shard {
  index: number;
  count: number;
}

/** Parses `i/n` with 0 <= i < n. */
export function parseShard(raw: string | undefined): Shard | undefined {
  if (raw === undefined || raw === "") return undefined;
  const m = /^([0-9]+)\/([0-9]+)$/.exec(String(raw));
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new UsageError(`--shard ${raw}: expected i/n with 0 <= i < n, e.g. 0/4`);
  return { index, count };
}

/** FNV-1a, 32 bits, over the UTF-8 bytes of `s`: stable across runs, machines and languages. */
export function stableHash(s: string): number {
  let h = 0x811c9dc5;
  const step = (byte: number) => {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  };
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) step(c);
    else if (c < 0x800) {
      step(0xc0 | (c >> 6));
      step(0x80 | (c & 63));
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      step(0xf0 | (c >> 18));
      step(0x80 | ((c >> 12) & 63));
      step(0x80 | ((c >> 6) & 63));
      step(0x80 | (c & 63));
    } else {
      step(0xe0 | (c >> 12));
      step(0x80 | ((c >> 6) & 63));
      step(0x80 | (c & 63));
    }
  }
  return h >>> 0;
}

/** True when `id` belongs to `shard`. */
export function inShard(id: string, shard: Shard): boolean {
  return stableHash(id) % shard.count === shard.index;
}
