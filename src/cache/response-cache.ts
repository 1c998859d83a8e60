/**
 * The request cache's store: one SQLite database (`responses.sqlite`) in the cache directory,
 * through `node:sqlite` (src/internal/sqlite.ts: WAL, busy timeout). One row per key: the key
 * material (so `verify` can recompute the key), the successful answer line as it was written (with
 * the custom_id it was first asked under), its sha256, the backend, the model and when it was
 * stored. A key is stored once (`INSERT OR IGNORE`); writes go in transactions, so a process killed
 * mid-write leaves the last committed state, and two processes writing at once wait for each other.
 * Why SQLite and not one file per answer: see "Request cache" in the README (measured there).
 */
import { hash } from "node:crypto";
import { mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { BatchOutput, isSuccess } from "../../schemas/openai-batch-output.ts";
import { BatchlineError, UsageError } from "../core/errors.ts";
import { openDatabase } from "../internal/sqlite.ts";
import { keyOf } from "./request-key.ts";

/** The database file inside a cache directory. */
export const CACHE_FILE = "responses.sqlite";

/** What decides the cache directory: the option, then the environment. */
export interface CacheEnv {
  BATCHLINE_CACHE?: string | undefined;
  XDG_CACHE_HOME?: string | undefined;
  HOME?: string | undefined;
}

/**
 * The cache directory: `--no-cache` (or `BATCHLINE_CACHE=off`) -> undefined; else `--cache <dir>`,
 * else `BATCHLINE_CACHE`, else `$XDG_CACHE_HOME/batchline/responses`, else `~/.cache/batchline/responses`.
 * A library caller whose env names none of these gets no cache.
 */
export function cacheDirFor(option: unknown, env: CacheEnv, home: string | undefined = env.HOME): string | undefined {
  if (option === false) return undefined;
  const given = typeof option === "string" ? option : Array.isArray(option) ? String(option[option.length - 1]) : undefined;
  if (given !== undefined) {
    if (given === "" || given === "off") return undefined;
    return resolve(given);
  }
  const fromEnv = env.BATCHLINE_CACHE;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv === "off" ? undefined : resolve(fromEnv);
  if (env.XDG_CACHE_HOME) return join(resolve(env.XDG_CACHE_HOME), "batchline", "responses");
  if (home) return join(home, ".cache", "batchline", "responses");
  return undefined;
}

/** The cache directory for a CLI command that works on the cache itself (stats, prune, verify, plan). */
export function cacheDirForCli(option: unknown, env: CacheEnv): string | undefined {
  return cacheDirFor(option, env, env.HOME ?? homedir());
}

/** One answer to store. */
export interface CacheEntry {
  key: string;
  material: string;
  answer: string;
  backend: string;
  model: string | null;
}

export interface CacheStats {
  dir: string;
  entries: number;
  bytesOnDisk: number;
  oldest: number | null;
  newest: number | null;
  byBackend: { backend: string; model: string | null; entries: number }[];
}

export interface VerifyReport {
  checked: number;
  bad: { key: string; why: string }[];
}

function sha256(text: string): string {
  return hash("sha256", text, "hex"); // one-shot: no Hash object per answer
}

/** Why a stored row is not a good entry, or undefined. */
function entryProblem(row: { key: string; request: string; answer: string; answer_sha256: string }): string | undefined {
  if (keyOf(row.request) !== row.key) return "its key is not the sha256 of its request";
  if (sha256(row.answer) !== row.answer_sha256) return "its answer does not match its sha256";
  let value: unknown;
  try {
    value = JSON.parse(row.answer);
  } catch {
    return "its answer is not JSON";
  }
  const parsed = BatchOutput.safeParse(value);
  if (!parsed.success) return "its answer is not a batch output line";
  if (!isSuccess(parsed.data)) return "its answer is not a success";
  return undefined;
}

/** An open cache directory. */
export class ResponseCache {
  readonly dir: string;
  private readonly db: DatabaseSync;
  private readonly getStmt: StatementSync;
  private readonly putStmt: StatementSync;

  private constructor(dir: string, db: DatabaseSync) {
    this.dir = dir;
    this.db = db;
    this.getStmt = db.prepare("SELECT answer FROM entries WHERE key = ?");
    this.putStmt = db.prepare("INSERT OR IGNORE INTO entries (key, request, answer, answer_sha256, backend, model, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  }

  /** Opens (creating) the cache in `dir`; `pageSize` applies to a new database only (the bench compares sizes). */
  static open(dir: string, pageSize = 16384): ResponseCache {
    try {
      mkdirSync(dir, { recursive: true });
      // 16 KiB pages: an entry (~2 KB for a chat answer) fills a 4 KiB page by half; 16 KiB pages hold 7 (see the README's figures).
      const db = openDatabase(join(dir, CACHE_FILE), { pageSize });
      db.exec(`CREATE TABLE IF NOT EXISTS entries (
        key TEXT PRIMARY KEY NOT NULL,
        request TEXT NOT NULL,
        answer TEXT NOT NULL,
        answer_sha256 TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT,
        stored_at INTEGER NOT NULL
      )`);
      db.exec("CREATE INDEX IF NOT EXISTS entries_stored_at ON entries (stored_at)");
      return new ResponseCache(dir, db);
    } catch (err) {
      throw new BatchlineError(`cannot open the request cache ${dir}: ${(err as Error).message} (--cache <dir> picks another, --no-cache turns it off)`, { cause: err });
    }
  }

  /** The stored answer line for `key`, or undefined. */
  get(key: string): string | undefined {
    return (this.getStmt.get(key) as { answer: string } | undefined)?.answer;
  }

  /** Stores entries (first one per key wins) in transactions of `batch`; returns how many were new. */
  putMany(entries: Iterable<CacheEntry>, batch = 500): number {
    let added = 0;
    let open = 0;
    const now = Date.now();
    try {
      for (const e of entries) {
        if (open === 0) this.db.exec("BEGIN IMMEDIATE");
        added += Number(this.putStmt.run(e.key, e.material, e.answer, sha256(e.answer), e.backend, e.model, now).changes);
        if (++open >= batch) {
          this.db.exec("COMMIT");
          open = 0;
        }
      }
      if (open > 0) this.db.exec("COMMIT");
    } catch (err) {
      if (open > 0) this.db.exec("ROLLBACK");
      throw err;
    }
    return added;
  }

  stats(): CacheStats {
    const row = this.db.prepare("SELECT COUNT(*) AS n, MIN(stored_at) AS oldest, MAX(stored_at) AS newest FROM entries").get() as { n: number; oldest: number | null; newest: number | null };
    const byBackend = this.db.prepare("SELECT backend, model, COUNT(*) AS entries FROM entries GROUP BY backend, model ORDER BY backend, model").all() as CacheStats["byBackend"];
    return { dir: this.dir, entries: Number(row.n), bytesOnDisk: diskBytes(this.dir), oldest: row.oldest, newest: row.newest, byBackend: byBackend.map((r) => ({ ...r, entries: Number(r.entries) })) };
  }

  /** Removes entries stored before `cutoff` (ms); returns how many, and gives the space back. */
  prune(cutoff: number): number {
    const removed = Number(this.db.prepare("DELETE FROM entries WHERE stored_at < ?").run(cutoff).changes);
    if (removed > 0) {
      try {
        this.db.exec("VACUUM");
      } catch {
        // another process is using the cache: the space is reused by later entries instead
      }
    }
    this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return removed;
  }

  /** Reads every entry back and checks it: key = sha256(request), answer = its sha256, a successful batch output line. */
  verify(): VerifyReport {
    const integrity = this.db.prepare("PRAGMA quick_check").all() as { quick_check: string }[];
    const report: VerifyReport = { checked: 0, bad: [] };
    if (integrity.length !== 1 || integrity[0]!.quick_check !== "ok") report.bad.push({ key: "-", why: `the database is damaged: ${integrity.map((r) => r.quick_check).join("; ")}` });
    for (const row of this.db.prepare("SELECT key, request, answer, answer_sha256 FROM entries").iterate() as Iterable<{ key: string; request: string; answer: string; answer_sha256: string }>) {
      report.checked++;
      const why = entryProblem(row);
      if (why) report.bad.push({ key: row.key, why });
    }
    return report;
  }

  close(): void {
    this.db.close();
  }
}

/** Bytes the cache takes on disk (the database and its WAL). */
function diskBytes(dir: string): number {
  let n = 0;
  for (const f of [CACHE_FILE, `${CACHE_FILE}-wal`, `${CACHE_FILE}-shm`]) {
    try {
      n += statSync(join(dir, f)).size;
    } catch {
      // not there
    }
  }
  return n;
}

/** Parses a duration like `30d`, `12h`, `90m`, `45s` into ms. */
export function parseAge(text: unknown, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([smhdw])$/.exec(String(text ?? ""));
  if (!m) throw new UsageError(`${flag} ${String(text)}: expected a duration like 30d, 12h, 90m, 2w`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as "s" | "m" | "h" | "d" | "w"];
  return Number(m[1]) * unit;
}
