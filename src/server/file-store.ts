/**
 * Files of the local Files API: content on disk under a data directory, metadata in memory.
 * Uploads stream to disk; downloads stream from it. A file a running batch reads can be deleted
 * (it leaves the listing at once) while its content stays until the batch lets go of it.
 */
import { createReadStream, type ReadStream } from "node:fs";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { openAtomic, writeFileAtomic } from "../core/atomic-file.ts";
import { randomId } from "../internal/ids.ts";

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
  /** id -> readers holding the content; a deleted file's content goes when the last lets go. */
  private readonly pins = new Map<string, number>();
  private readonly deletedWhilePinned = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  private pathOf(id: string): string {
    return join(this.dir, id);
  }

  /** Stores content from a stream (or a string) and returns its FileObject. */
  async put(filename: string, purpose: string, content: AsyncIterable<Uint8Array | string> | string, expiresAfter: FileExpiry = null): Promise<StoredFile> {
    const id = randomId("file-");
    const path = this.pathOf(id);
    if (typeof content === "string") await writeFile(path, content);
    else await writeFileAtomic(path, content);
    const { size } = await stat(path);
    const file = fileObject(id, size, filename, purpose, expiresAfter);
    this.files.set(id, file);
    return file;
  }

  /** Opens a new file for streaming writes; `commit` registers it, `abort` removes it. */
  async create(filename: string): Promise<{ stream: Writable; commit: (purpose: string, expiresAfter: FileExpiry) => Promise<StoredFile>; abort: () => Promise<void> }> {
    const id = randomId("file-");
    const file = await openAtomic(this.pathOf(id));
    return {
      stream: file.stream,
      commit: async (purpose, expiresAfter) => {
        await file.commit();
        const { size } = await stat(this.pathOf(id));
        const stored = fileObject(id, size, filename, purpose, expiresAfter);
        this.files.set(id, stored);
        return stored;
      },
      abort: () => file.abort(),
    };
  }

  get(id: string): StoredFile | undefined {
    return this.files.get(id);
  }

  /** Files in upload order (oldest first), optionally of one purpose. */
  list(purpose?: string): StoredFile[] {
    return [...this.files.values()].filter((f) => purpose === undefined || f.purpose === purpose);
  }

  /** Keeps a file's content on disk until the returned release is called, even if it is deleted meanwhile. */
  pin(id: string): () => Promise<void> {
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      const left = (this.pins.get(id) ?? 1) - 1;
      if (left > 0) return void this.pins.set(id, left);
      this.pins.delete(id);
      if (this.deletedWhilePinned.delete(id)) await rm(this.pathOf(id), { force: true });
    };
  }

  read(id: string): ReadStream {
    return createReadStream(this.pathOf(id), { highWaterMark: 1 << 20 });
  }

  async delete(id: string): Promise<boolean> {
    if (!this.files.delete(id)) return false;
    if (this.pins.has(id)) this.deletedWhilePinned.add(id);
    else await rm(this.pathOf(id), { force: true });
    return true;
  }
}

function fileObject(id: string, bytes: number, filename: string, purpose: string, expiresAfter: FileExpiry): StoredFile {
  const created = Math.floor(Date.now() / 1000);
  return { id, object: "file", bytes, created_at: created, expires_at: expiresAfter === null ? null : created + expiresAfter, filename, purpose, status: "processed" };
}
