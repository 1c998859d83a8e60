/**
 * Errors of the file system and the network that the user can fix (a missing file, a directory
 * where a file goes, a port in use) as one line, `<what> (<path>)`, instead of a stack trace.
 * Anything else stays a bug and keeps its stack.
 */

const WHAT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EISDIR: "is a directory, expected a file",
  ENOTDIR: "a part of the path is a file, not a directory",
  EEXIST: "already exists and is not a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EMFILE: "too many open files",
  ENAMETOOLONG: "file name too long",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available on this machine",
};

/** `<what> (<path or address>)` for a system error the user can fix, else undefined. */
export function describeSystemError(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const what = e.code ? WHAT[e.code] : undefined;
  if (!what) return undefined;
  const where = e.path ?? (e.address !== undefined ? `${e.address}${e.port !== undefined ? `:${e.port}` : ""}` : undefined);
  if (where === undefined) return undefined;
  const verb = e.syscall === "listen" ? "cannot listen" : e.syscall === "mkdir" ? "cannot create directory" : e.syscall === "open" || e.syscall === "stat" || e.syscall === "scandir" ? "cannot open" : e.syscall ? `cannot ${e.syscall}` : "cannot do it";
  return `${verb}: ${what} (${where})`;
}
