/**
 * The viewer's HTTP server on 127.0.0.1: the page, its static files, and a small JSON API over a
 * RunSource (run overview, instances, one instance) or a JsonlSource (pages of records, search).
 * Every response carries a Content-Security-Policy that allows only the served scripts, so even a
 * rendering bug could not run a script a model wrote; the page itself only ever inserts model text
 * as text.
 */
import { createReadStream } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ASSETS, pageShell } from "./assets.ts";
import type { JsonlSource } from "./jsonl-source.ts";
import type { RunSource } from "./run-source.ts";

/** What the server shows: a run directory or a bare JSONL file. */
export type ViewSource = { mode: "run"; run: RunSource } | { mode: "jsonl"; jsonl: JsonlSource };

/** The policy of the served page: scripts and styles from the server only. */
export const SERVED_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'";

const PAGE = pageShell({
  csp: SERVED_CSP,
  head: `<link rel="stylesheet" href="/static/diff2html.min.css">\n<link rel="stylesheet" href="/static/app.css">`,
  body: `<script src="/static/diff2html.min.js"></script>\n<script src="/static/app.js"></script>`,
});

export interface ViewServer {
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { "content-type": type, "content-security-policy": SERVED_CSP, "x-content-type-options": "nosniff", "cache-control": "no-store" });
  res.end(body);
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value));
}

function intParam(url: URL, name: string, fallback: number, max: number): number {
  const n = Number(url.searchParams.get(name) ?? fallback);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : fallback;
}

async function handle(source: ViewSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "GET only\n");
  if (url.pathname === "/" || url.pathname === "/index.html") return send(res, 200, "text/html; charset=utf-8", PAGE);
  if (url.pathname.startsWith("/static/")) {
    const asset = ASSETS[url.pathname.slice("/static/".length)];
    if (!asset) return send(res, 404, "text/plain", "not found\n");
    res.writeHead(200, { "content-type": asset.type, "content-security-policy": SERVED_CSP, "x-content-type-options": "nosniff", "cache-control": "no-store" });
    createReadStream(asset.path()).on("error", () => res.destroy()).pipe(res);
    return;
  }
  if (url.pathname === "/api/mode") return json(res, { mode: source.mode });
  if (source.mode === "run") {
    if (url.pathname === "/api/overview") return json(res, source.run.overview());
    if (url.pathname === "/api/instances") return json(res, source.run.rows());
    if (url.pathname === "/api/instance") {
      const detail = await source.run.instance(url.searchParams.get("id") ?? "");
      return detail ? json(res, detail) : json(res, { error: "no such instance" }, 404);
    }
  } else {
    if (url.pathname === "/api/file") return json(res, source.jsonl.info());
    if (url.pathname === "/api/lines") return json(res, await source.jsonl.page(intParam(url, "from", 0, Number.MAX_SAFE_INTEGER), intParam(url, "n", 50, 500)));
    if (url.pathname === "/api/search") {
      const q = url.searchParams.get("q") ?? "";
      return json(res, await source.jsonl.search(q, intParam(url, "from", 0, Number.MAX_SAFE_INTEGER), intParam(url, "limit", 50, 500)));
    }
  }
  return send(res, 404, "text/plain", "not found\n");
}

/** Serves `source` on 127.0.0.1:`port` (0: any free port). */
export async function startViewServer(source: ViewSource, options: { port?: number; log?: (line: string) => void } = {}): Promise<ViewServer> {
  const server = createServer((req, res) => {
    handle(source, req, res).catch((err: Error) => {
      options.log?.(`${req.url}: ${err.message}`);
      if (!res.headersSent) json(res, { error: err.message }, 500);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
