/**
 * Files of the local Files API: content on disk under a data directory, FileObjects in the
 * serve database (kept in memory too), each with the owner (a key digest) that uploaded it.
 * Uploads stream to disk; downloads stream from it. A file a running batch reads can be deleted
 * (it leaves the listing at once) while its content stays until the batch lets go of it.
 */
import { createReadStream, type ReadStream } from "node:fs";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { openAtomic, writeFileAtomic } from "../core/atomic-file.ts";
import { randomId } from "../internal/ids.ts";
import type { ServeStore } from "./serve-store.ts";

/** The OpenAI FileObject (wire names). */
export interface StoredFile {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: "processed";
  /** Unix seconds when the file expires; null: kept until deleted. */
  expires_at: number | null;
}

/** How long a file lives: seconds after its creation, or null for ever. */
export type FileExpiry = number | null;

export class FileStore {
  readonly dir: string;
  private readonly files = new Map<string, StoredFile>();
  private readonly owners = new Map<string, string>();
  private readonly db: ServeStore;
  /** id -> readers holding the content; a deleted file's content goes when the last lets go. */
  private readonly pins = new Map<string, number>();
  private readonly deletedWhilePinned = new Set<string>();

  constructor(dir: string, db: ServeStore) {
    this.dir = dir;
    this.db = db;
  }

  /** Loads the stored FileObjects and removes temp files a killed server left behind. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) if (name.startsWith(".") && name.includes(".tmp-")) await rm(join(this.dir, name), { force: true });
    for (const { owner, file } of this.db.files()) {
      this.files.set(file.id, file);
      this.owners.set(file.id, owner);
    }
  }

  private remember(file: StoredFile, owner: string, persist: boolean): void {
    if (persist) this.db.putFile(file, owner);
    this.files.set(file.id, file);
    this.owners.set(file.id, owner);
  }

  private pathOf(id: string): string {
    return join(this.dir, id);
  }

  /** Stores content from a stream (or a string) and returns its FileObject. */
  async put(filename: string, purpose: string, content: AsyncIterable<Uint8Array | string> | string, expiresAfter: FileExpiry = null, owner = ""): Promise<StoredFile> {
    const id = randomId("file-");
    const path = this.pathOf(id);
    if (typeof content === "string") await writeFile(path, content);
    else await writeFileAtomic(path, content);
    const { size } = await stat(path);
    const file = fileObject(id, size, filename, purpose, expiresAfter);
    this.remember(file, owner, true);
    return file;
  }

  /** Opens a new file for streaming writes; `commit` registers it, `abort` removes it. */
  /**
   * Opens a new file for streaming writes; `commit` registers it, `abort` removes it. With
   * `persist: false` the caller saves the FileObject itself (in a transaction of its own) and
   * then calls `adopt`.
   */
  async create(filename: string): Promise<{ stream: Writable; commit: (purpose: string, expiresAfter: FileExpiry, owner?: string, persist?: boolean) => Promise<StoredFile>; abort: () => Promise<void> }> {
    const id = randomId("file-");
    const file = await openAtomic(this.pathOf(id));
    return {
      stream: file.stream,
      commit: async (purpose, expiresAfter, owner = "", persist = true) => {
        await file.commit();
        const { size } = await stat(this.pathOf(id));
        const stored = fileObject(id, size, filename, purpose, expiresAfter);
        if (persist) this.remember(stored, owner, true);
        return stored;
      },
      abort: () => file.abort(),
    };
  }

  /**
   * Removes content a killed server left without a FileObject (a result file written just before
   * the kill, or a deleted file a batch was still reading), except the ids in `keep`.
   */
  async sweep(keep: ReadonlySet<string>): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (!/^file-[0-9a-f]+$/.test(name) || this.files.has(name) || keep.has(name)) continue;
      await rm(join(this.dir, name), { force: true });
      removed++;
    }
    return removed;
  }

  /** Makes a file saved by the caller's own transaction visible. */
  adopt(file: StoredFile, owner: string): void {
    this.remember(file, owner, false);
  }

  /** The file, if it exists and `owner` (undefined: anyone) may see it. */
  get(id: string, owner?: string): StoredFile | undefined {
    if (owner !== undefined && this.owners.get(id) !== owner) return undefined;
    return this.files.get(id);
  }

  /** Files in upload order (oldest first), optionally of one purpose and one owner. */
  list(purpose?: string, owner?: string): StoredFile[] {
    return [...this.files.values()].filter((f) => (purpose === undefined || f.purpose === purpose) && (owner === undefined || this.owners.get(f.id) === owner));
  }

  /**
   * Keeps a file's content on disk until the returned release is called, even if it is deleted
   * meanwhile. `release(true)` keeps the content of a deleted file (a batch that will go on after
   * a restart still needs it; the sweep of a later start removes it once nothing does).
   */
  pin(id: string): (keepContent?: boolean) => Promise<void> {
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
    let released = false;
    return async (keepContent = false) => {
      if (released) return;
      released = true;
      const left = (this.pins.get(id) ?? 1) - 1;
      if (left > 0) return void this.pins.set(id, left);
      this.pins.delete(id);
      if (this.deletedWhilePinned.delete(id) && !keepContent) await rm(this.pathOf(id), { force: true });
    };
  }

  /** Streams a file's content; `chunk` bytes a read (a running batch reads with small ones: many run at once). */
  read(id: string, chunk = 1 << 20): ReadStream {
    return createReadStream(this.pathOf(id), { highWaterMark: chunk });
  }

  async delete(id: string): Promise<boolean> {
    if (!this.files.delete(id)) return false;
    this.owners.delete(id);
    this.db.deleteFile(id);
    if (this.pins.has(id)) this.deletedWhilePinned.add(id);
    else await rm(this.pathOf(id), { force: true });
    return true;
  }
}

function fileObject(id: string, bytes: number, filename: string, purpose: string, expiresAfter: FileExpiry): StoredFile {
  const created = Math.floor(Date.now() / 1000);
  return { id, object: "file", bytes, created_at: created, expires_at: expiresAfter === null ? null : created + expiresAfter, filename, purpose, status: "processed" };
}
