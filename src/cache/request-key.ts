/**
 * The request cache's key: the sha256 of what decides an answer. That is the request as sent
 * (method, url, and the body in canonical JSON: keys sorted, so key order never matters), the
 * backend that answers it, and where that backend sends it (its base URL, the anthropic-version,
 * for replay the recording's content). The custom_id is left out by default (two files that ask
 * the same thing share the answer) but its pass number is kept: `x__pass3` is the 4th sample of
 * `x`, and at temperature > 0 the samples must differ. A bare id counts as pass 0.
 */
import { hash } from "node:crypto";
import { UsageError } from "../core/errors.ts";
import { parseCustomId } from "../core/custom-id.ts";

/** Who answers: the backend and what changes its answers. Never an API key. */
export interface CacheScope {
  backend: string;
  /** The base URL the requests go to (no trailing slash), or null for the provider's own. */
  baseURL: string | null;
  /** Anything else that changes the answer (anthropic-version, replay recording's sha256). */
  extra?: Record<string, string>;
}

/** What the key leaves out: the custom_id (default) and top-level body fields. */
export interface KeyIgnore {
  customId: boolean;
  bodyFields: string[];
}

export const DEFAULT_KEY_IGNORE = "custom_id";

/** Parses `--cache-key-ignore`: a comma list of `custom_id`, `body.<field>`, or `none`. */
export function parseKeyIgnore(raw: unknown): KeyIgnore {
  const text = raw === undefined || raw === null || raw === true ? DEFAULT_KEY_IGNORE : String(Array.isArray(raw) ? raw[raw.length - 1] : raw);
  const ignore: KeyIgnore = { customId: false, bodyFields: [] };
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (part === "none") continue;
    if (part === "custom_id") ignore.customId = true;
    else if (/^body\.[^.]+$/.test(part) && part !== "body.model") ignore.bodyFields.push(part.slice(5));
    else throw new UsageError(`--cache-key-ignore ${text}: expected a comma list of custom_id, body.<field> (not body.model) or none`);
  }
  ignore.bodyFields.sort();
  return ignore;
}

/** JSON with object keys sorted at every depth (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  // Fast way: a copy whose objects hold their keys in sorted order, written by one JSON.stringify
  // (half the time of joining the pieces by hand, which a submit pays twice per request line).
  const copy = sortedCopy(value);
  return copy === UNORDERABLE ? joinedCanonicalJson(value) : (JSON.stringify(copy) ?? "null");
}

/** Marks a value whose sorted copy would not keep its key order (see `sortedCopy`). */
const UNORDERABLE: unique symbol = Symbol("unorderable");

/**
 * `value` with the keys of every object inserted in sorted order (undefined values left out, as
 * JSON.stringify leaves them out), or UNORDERABLE when an object has a key that an object does
 * not enumerate in insertion order: keys that start with a digit (integer keys come first, in
 * numeric order) and `__proto__` (an assignment sets the prototype).
 */
function sortedCopy(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = sortedCopy(value[i]);
      if (v === UNORDERABLE) return UNORDERABLE;
      out[i] = v === undefined ? null : v;
    }
    return out;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const c = k.charCodeAt(0);
    if ((c >= 48 && c <= 57) || k === "__proto__") return UNORDERABLE;
    if (obj[k] === undefined) continue;
    const v = sortedCopy(obj[k]);
    if (v === UNORDERABLE) return UNORDERABLE;
    out[k] = v;
  }
  return out;
}

/** canonicalJson by its definition, joining the pieces: the way for values whose sorted copy would not keep its order, and the reference the fast way is tested against. */
export function joinedCanonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : joinedCanonicalJson(v))).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${joinedCanonicalJson(obj[k])}`).join(",")}}`;
}

/** The request line fields the key reads. */
export interface KeyedRequest {
  custom_id: string;
  method?: string;
  url: string;
  body: Record<string, unknown>;
}

/** The text whose sha256 is the key (stored with the entry, so `cache verify` can recompute it). */
export function keyMaterial(request: KeyedRequest, scope: CacheScope, ignore: KeyIgnore): string {
  let body = request.body;
  if (ignore.bodyFields.length > 0) {
    body = { ...body };
    for (const f of ignore.bodyFields) delete body[f];
  }
  const id = ignore.customId ? { pass: parseCustomId(request.custom_id).pass } : { custom_id: request.custom_id };
  return canonicalJson({ v: 1, backend: scope.backend, base_url: scope.baseURL, ...(scope.extra ? { extra: scope.extra } : {}), method: request.method ?? "POST", url: request.url, body, ...id });
}

/** sha256 hex of `material`. */
export function keyOf(material: string): string {
  return hash("sha256", material, "hex"); // one-shot: no Hash object per key
}
