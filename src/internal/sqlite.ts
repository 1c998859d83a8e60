/**
 * Opens an embedded SQLite database through Node's built-in `node:sqlite` (no native build, ships
 * with Node >= 22.13). Shared by everything that keeps durable state in one file (the request cache,
 * `serve --data-dir`). The database runs in WAL mode with a busy timeout, so several processes can
 * read and write it at once: a writer waits for another's transaction instead of failing.
 *
 * `node:sqlite` still prints an ExperimentalWarning when it is first loaded; that one warning is
 * swallowed here so it never reaches a user's terminal. Every other warning passes through.
 */
import { createRequire } from "node:module";
import type { DatabaseSync } from "node:sqlite";

const require = createRequire(import.meta.url);
let loaded: typeof import("node:sqlite") | undefined;

function loadSqlite(): typeof import("node:sqlite") {
  if (loaded) return loaded;
  const emit = process.emitWarning;
  process.emitWarning = function (warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === "string" ? warning : warning.message;
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === "ExperimentalWarning" && /SQLite/i.test(text)) return;
    return (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    loaded = require("node:sqlite") as typeof import("node:sqlite");
  } finally {
    process.emitWarning = emit;
  }
  return loaded;
}

export interface OpenDatabaseOptions {
  /** How long a writer waits for another process's lock before failing (ms). Default 10 000. */
  busyTimeoutMs?: number;
  readOnly?: boolean;
  /** Page size (bytes, a power of two 512..65536) of a database this call creates; ignored for an existing one. */
  pageSize?: number;
}

/** Opens (creating if needed) the database at `path` in WAL mode with a busy timeout. */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): DatabaseSync {
  const { DatabaseSync } = loadSqlite();
  const db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 10_000))}`);
  if (!options.readOnly) {
    if (options.pageSize) db.exec(`PRAGMA page_size = ${Math.floor(options.pageSize)}`);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
  }
  return db;
}
