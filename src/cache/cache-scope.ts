/**
 * What, besides the request, decides a backend's answer (the cache key's scope): the backend's
 * name, the base URL it sends to (the option, else its environment variable; null for the
 * provider's own), for anthropic-batch the API version it translates for, for replay the
 * recording's content. A backend added later gets the name and `--base-url` without a change here.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { ANTHROPIC_API_VERSION } from "../submitters/anthropic-request.ts";
import type { CacheScope } from "./request-key.ts";

/** The environment variable holding each backend's base URL, where it has one. */
const BASE_URL_ENV: Record<string, string> = {
  "openai-batch": "OPENAI_BASE_URL",
  "openai-compatible": "OPENAI_BASE_URL",
  "anthropic-batch": "ANTHROPIC_BASE_URL",
  "gemini-batch": "GEMINI_BASE_URL",
};

function last(value: unknown): string | undefined {
  if (value === undefined || value === null || typeof value === "boolean") return undefined;
  return String(Array.isArray(value) ? value[value.length - 1] : value);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The scope of backend `name` with these options and environment. */
export async function cacheScopeFor(name: string, options: { baseUrl?: unknown; from?: unknown; anthropicVersion?: unknown }, env: Record<string, string | undefined>): Promise<CacheScope> {
  const envName = BASE_URL_ENV[name];
  const raw = last(options.baseUrl) ?? (envName ? env[envName] : undefined);
  const baseURL = raw ? raw.replace(/\/+$/, "") : null;
  const extra: Record<string, string> = {};
  if (name === "anthropic-batch") extra.anthropic_version = last(options.anthropicVersion) || env.ANTHROPIC_VERSION || ANTHROPIC_API_VERSION;
  const from = last(options.from);
  if (name === "replay" && from) extra.recording_sha256 = await sha256File(from);
  return { backend: name, baseURL: name === "replay" ? null : baseURL, ...(Object.keys(extra).length > 0 ? { extra } : {}) };
}
