/**
 * The durable state of `batchline serve`: one SQLite database (`serve.db`, node:sqlite through
 * src/internal/sqlite.ts, WAL) in the data directory, beside the files' content. It holds the
 * FileObjects, the Batch objects (with the owner and creation order of each) and every answer a
 * running batch has received so far, so a server killed at any moment (SIGKILL, OOM, reboot)
 * starts again with every file and batch, and each batch resumes where it was.
 *
 * SQLite rather than atomic files: an answer arrives every millisecond or so, and each must be
 * kept together with the batch's request_counts (one transaction), found again by custom_id on
 * resume, and dropped once the batch's output file is written; a WAL commit does that in tens of
 * microseconds without rewriting anything. Owners are stored as a digest of the key, never the key.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { join } from "node:path";
import { BatchlineError } from "../core/errors.ts";
import { openDatabase } from "../internal/sqlite.ts";
import type { StoredFile } from "./file-store.ts";

/** The file name of the database inside the data directory. */
export const SERVE_DB = "serve.db";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, owner TEXT NOT NULL, object TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, output_expiry INTEGER, object TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (batch_id TEXT NOT NULL, custom_id TEXT NOT NULL, ok INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY (batch_id, custom_id));
CREATE INDEX IF NOT EXISTS answers_by_batch ON answers (batch_id);
`;

/** Answer lines read at once when a batch's files are written. */
const ANSWERS_PAGE = 1024;

/** The layout of serve.db this code reads and writes (`PRAGMA user_version`); a data dir from another layout is refused, not guessed at. */
export const SERVE_DB_VERSION = 1;

/** A batch row: the wire object plus what only the server knows. */
export interface BatchRow<B> {
  seq: number;
  owner: string;
  outputExpiry: number | null;
  batch: B;
}

export class ServeStore {
  readonly db: DatabaseSync;
  private readonly q: Record<string, StatementSync>;

  constructor(dataDir: string) {
    const path = join(dataDir, SERVE_DB);
    try {
      // No wait for another process's lock: a second server on the same directory is refused at once.
      this.db = openDatabase(path, { busyTimeoutMs: 0 });
      // One server per data dir: hold the database's lock until close (the OS drops it if the process dies).
      this.db.exec("PRAGMA locking_mode = EXCLUSIVE");
      this.db.exec("BEGIN EXCLUSIVE");
      this.db.exec("COMMIT");
    } catch (e) {
      const message = (e as Error).message;
      if (/locked|busy/i.test(message)) throw new BatchlineError(`serve --data-dir: another batchline serve is using this directory (${dataDir})`);
      throw new BatchlineError(`serve --data-dir: ${SERVE_DB} cannot be opened: ${message} (${path})`);
    }
    const version = Number((this.db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
    const empty = (this.db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n === 0;
    if (!empty && version !== SERVE_DB_VERSION) {
      this.db.close();
      throw new BatchlineError(`serve --data-dir: ${SERVE_DB} has layout version ${version}, this batchline reads version ${SERVE_DB_VERSION}; use the batchline that wrote it, or another directory (${path})`);
    }
    this.db.exec(SCHEMA);
    this.db.exec(`PRAGMA user_version = ${SERVE_DB_VERSION}`);
    this.db.exec("PRAGMA busy_timeout = 10000");
    const p = (sql: string) => this.db.prepare(sql);
    this.q = {
      putFile: p("INSERT OR REPLACE INTO files (id, owner, object) VALUES (?, ?, ?)"),
      deleteFile: p("DELETE FROM files WHERE id = ?"),
      files: p("SELECT owner, object FROM files ORDER BY rowid"),
      addBatch: p("INSERT INTO batches (id, owner, output_expiry, object) VALUES (?, ?, ?, ?) RETURNING seq"),
      saveBatch: p("UPDATE batches SET object = ? WHERE id = ?"),
      batches: p("SELECT seq, owner, output_expiry, object FROM batches ORDER BY seq"),
      addAnswer: p("INSERT OR IGNORE INTO answers (batch_id, custom_id, ok, line) VALUES (?, ?, ?, ?)"),
      hasAnswer: p("SELECT 1 AS x FROM answers WHERE batch_id = ? AND custom_id = ?"),
      answersPage: p(`SELECT rowid AS seq, ok, line FROM answers WHERE batch_id = ? AND rowid > ? ORDER BY rowid LIMIT ${ANSWERS_PAGE}`),
      answersShuffled: p("SELECT ok, line FROM answers WHERE batch_id = ? ORDER BY random()"),
      dropAnswers: p("DELETE FROM answers WHERE batch_id = ?"),
    };
  }

  /** Runs `fn` in one transaction (all of it is kept, or none). */
  transaction<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }

  putFile(file: StoredFile, owner: string): void {
    this.q.putFile!.run(file.id, owner, JSON.stringify(file));
  }

  deleteFile(id: string): void {
    this.q.deleteFile!.run(id);
  }

  files(): { owner: string; file: StoredFile }[] {
    return (this.q.files!.all() as { owner: string; object: string }[]).map((r) => ({ owner: r.owner, file: JSON.parse(r.object) as StoredFile }));
  }

  /** Records a new batch; returns its creation order. */
  addBatch(batch: { id: string }, owner: string, outputExpiry: number | null): number {
    const row = this.q.addBatch!.get(batch.id, owner, outputExpiry, JSON.stringify(batch)) as { seq: number };
    return Number(row.seq);
  }

  saveBatch(batch: { id: string }): void {
    this.q.saveBatch!.run(JSON.stringify(batch), batch.id);
  }

  batches<B>(): BatchRow<B>[] {
    return (this.q.batches!.all() as { seq: number; owner: string; output_expiry: number | null; object: string }[]).map((r) => ({
      seq: Number(r.seq),
      owner: r.owner,
      outputExpiry: r.output_expiry === null ? null : Number(r.output_expiry),
      batch: JSON.parse(r.object) as B,
    }));
  }

  /** Keeps one answer line and the batch's new counts together; false if that custom_id was answered already. */
  addAnswer(batch: { id: string }, customId: string, ok: boolean, line: string): boolean {
    return this.transaction(() => {
      const { changes } = this.q.addAnswer!.run(batch.id, customId, ok ? 1 : 0, line);
      if (Number(changes) === 0) return false;
      this.saveBatch(batch);
      return true;
    });
  }

  hasAnswer(batchId: string, customId: string): boolean {
    return this.q.hasAnswer!.get(batchId, customId) !== undefined;
  }

  /**
   * A batch's answer lines, in the order they arrived (or shuffled), read a page at a time. No
   * cursor stays open between pages: several batches finalize at once and their output writes
   * await in between, and a prepared statement iterated by two callers follows the last binding
   * (one batch's output file got another's answers that way).
   */
  *answers(batchId: string, shuffled = false): Generator<{ ok: boolean; line: string }> {
    if (shuffled) {
      for (const r of this.q.answersShuffled!.all(batchId) as { ok: number; line: string }[]) yield { ok: r.ok === 1, line: r.line };
      return;
    }
    let after = 0;
    for (;;) {
      const page = this.q.answersPage!.all(batchId, after) as { seq: number; ok: number; line: string }[];
      for (const r of page) yield { ok: r.ok === 1, line: r.line };
      if (page.length < ANSWERS_PAGE) return;
      after = Number(page.at(-1)!.seq);
    }
  }

  /** Registers a batch's result files, saves its final state and drops its answers, in one transaction. */
  finishBatch(batch: { id: string }, files: { file: StoredFile; owner: string }[]): void {
    this.transaction(() => {
      for (const f of files) this.putFile(f.file, f.owner);
      this.saveBatch(batch);
      this.q.dropAnswers!.run(batch.id);
    });
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
