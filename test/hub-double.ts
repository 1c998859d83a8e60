/**
 * A Hugging Face Hub double on 127.0.0.1: the routes @huggingface/hub calls for dataset and model
 * repos (`/api/{datasets|models}/{id}/revision/{rev}`, `/api/datasets/{id}/tree/{rev}`, paginated
 * with a Link header, and `/datasets/{id}/resolve/...` / `/{id}/resolve/...` with range requests),
 * with git blob sha1s and LFS sha256s as the hub gives them, and the hub's 401 for unknown repos.
 */
import { createHash } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface Branch {
  name: string;
  sha: string;
  files: Record<string, Buffer>;
}
export interface Repo {
  branches: Branch[];
  /** Requests without this bearer token get 401, as the hub answers for gated/private repos. */
  token?: string;
  /** Tree page size (the hub paginates with a Link header). */
  pageSize?: number;
  /** Paths served with other bytes than the tree's hash says. */
  corrupt?: Set<string>;
}
export interface Logged {
  method: string;
  url: string;
  auth: string | undefined;
}

export function sha1(data: Buffer): string {
  return createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}
export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
export function fakeSha(seed: string): string {
  return createHash("sha1").update(seed).digest("hex");
}

function treeEntries(branch: Branch): unknown[] {
  const dirs = new Set<string>();
  const out: unknown[] = [];
  for (const [path, data] of Object.entries(branch.files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!dirs.has(dir)) {
        dirs.add(dir);
        out.push({ type: "directory", oid: fakeSha(dir), size: 0, path: dir });
      }
    }
    const lfs = path.endsWith(".parquet");
    out.push({ type: "file", oid: lfs ? fakeSha(`pointer ${path}`) : sha1(data), size: data.length, path, ...(lfs ? { lfs: { oid: sha256(data), size: data.length, pointerSize: 134 } } : {}) });
  }
  return out;
}

export async function startHub(repos: Record<string, Repo>, models: Record<string, Repo> = {}): Promise<{ url: string; requests: Logged[]; close: () => Promise<void> }> {
  const requests: Logged[] = [];
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push({ method: req.method ?? "", url: `${url.pathname}${url.search}`, auth: req.headers.authorization });
    const api = /^\/api\/(datasets|models)\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(\/.*)?$/.exec(url.pathname);
    // model files live at /{id}/resolve/..., dataset files at /datasets/{id}/resolve/...
    const resolve = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const kind = api ? api[1] : resolve ? (resolve[1] ? "datasets" : "models") : undefined;
    const id = api?.[2] ?? resolve?.[2];
    const repo = id === undefined ? undefined : (kind === "models" ? models : repos)[id];
    if (!repo) return json(res, id === undefined ? 404 : 401, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return json(res, 401, { error: "Invalid credentials" });
    const rev = decodeURIComponent((api?.[4] ?? resolve?.[3]) as string);
    const branch = repo.branches.find((b) => b.name === rev || b.sha === rev);
    if (!branch) return json(res, 404, { error: `Invalid rev id: ${rev}` }, { "X-Error-Code": "RevisionNotFound" });
    if (api?.[3] === "revision") {
      return json(res, 200, { _id: fakeSha(id!), id, sha: branch.sha, private: false, gated: false, downloads: 0, likes: 0, lastModified: "2024-01-01T00:00:00.000Z" });
    }
    if (api?.[3] === "tree") {
      const all = treeEntries(branch);
      const size = repo.pageSize ?? all.length;
      const cursor = Number(url.searchParams.get("cursor") ?? 0);
      const headers: Record<string, string> = {};
      if (cursor + size < all.length) {
        const next = new URL(url.toString());
        next.host = req.headers.host!;
        next.searchParams.set("cursor", String(cursor + size));
        headers["Link"] = `<${next.toString()}>; rel="next"`;
      }
      return json(res, 200, all.slice(cursor, cursor + size), headers);
    }
    const path = resolve![4]!;
    let data = branch.files[path];
    if (!data) return json(res, 404, { error: "Entry not found" }, { "X-Error-Code": "EntryNotFound" });
    const etag = path.endsWith(".parquet") ? sha256(data) : sha1(data);
    if (repo.corrupt?.has(path)) data = Buffer.from(data.map((b) => b ^ 0xff));
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]), data.length - 1);
      res.writeHead(206, { "Content-Range": `bytes ${start}-${end}/${data.length}`, ETag: `"${etag}"`, "Content-Length": String(end - start + 1) });
      return res.end(data.subarray(start, end + 1));
    }
    res.writeHead(200, { ETag: `"${etag}"`, "Content-Length": String(data.length) });
    res.end(data);
  };
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

