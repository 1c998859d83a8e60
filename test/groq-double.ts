/**
 * A local double of Groq's Batch API, written from https://console.groq.com/docs/batch: the
 * OpenAI routes (`/files`, `/batches`, `/files/{id}/content`) under `/openai/v1` (not `/v1`);
 * a batch's endpoint must be `/v1/chat/completions` (or Groq's audio routes): anything else is
 * refused with 400; `completion_window` takes 24h up to 7d (OpenAI takes only 24h). Files,
 * validation, execution and result files are `batchline serve`'s server behind it; this front
 * holds what Groq does differently and records the windows asked for.
 */
import { once } from "node:events";
import { type IncomingMessage, type ServerResponse, createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { type BatchServer, startBatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import { readBody } from "./helpers.ts";

const GROQ_ENDPOINTS = ["/v1/chat/completions", "/v1/audio/transcriptions", "/v1/audio/translations"];

export interface GroqDouble {
  /** Ends in /openai/v1, as Groq's does. */
  baseURL: string;
  /** completion_window of every batch created, in order. */
  windows: string[];
  /** Uploads received (POST /openai/v1/files). */
  uploads: number;
  inner: BatchServer;
  close(): Promise<void>;
}

function windowHours(w: unknown): number {
  const m = typeof w === "string" ? /^(\d+)([hd])$/.exec(w) : null;
  return m ? Number(m[1]) * (m[2] === "d" ? 24 : 1) : NaN;
}

function refuse(res: ServerResponse, message: string, param: string): void {
  res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message, type: "invalid_request_error", param, code: null } }));
}

export async function startGroqDouble(executor: Executor): Promise<GroqDouble> {
  const inner = await startBatchServer({ executor, concurrency: 4 });
  const innerURL = new URL(inner.baseURL);
  const windows: string[] = [];
  const windowOf = new Map<string, string>();
  const state = { uploads: 0 };

  /** Sends the request on to the inner server (body given, or piped), and hands back its answer, with `rewrite` applied to a JSON batch object. */
  function forward(req: IncomingMessage, res: ServerResponse, path: string, body?: string, rewrite?: (batch: Record<string, unknown>) => void): void {
    const headers = { ...req.headers, host: innerURL.host, ...(body !== undefined ? { "content-length": String(Buffer.byteLength(body)) } : {}) };
    const out = httpRequest({ host: innerURL.hostname, port: innerURL.port, method: req.method, path, headers }, (answer) => {
      if (!rewrite || answer.statusCode !== 200) {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on("data", (c: Buffer) => chunks.push(c));
      answer.on("end", () => {
        const batch = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        rewrite(batch);
        const text = JSON.stringify(batch);
        res.writeHead(200, { ...answer.headers, "content-length": String(Buffer.byteLength(text)) }).end(text);
      });
    });
    out.on("error", () => res.writeHead(502).end());
    if (body !== undefined) out.end(body);
    else req.pipe(out);
  }

  const server = createServer(async (req, res) => {
    const url = req.url ?? "";
    if (!url.startsWith("/openai/v1/")) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `Unknown request URL: ${req.method} ${url}`, type: "invalid_request_error" } }));
      return;
    }
    const path = url.replace(/^\/openai\/v1\//, "/v1/");
    if (req.method === "POST" && path === "/v1/files") state.uploads++;
    if (req.method === "POST" && path === "/v1/batches") {
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      if (!GROQ_ENDPOINTS.includes(String(body.endpoint))) return refuse(res, `endpoint ${String(body.endpoint)} is not supported by the batch API; use one of ${GROQ_ENDPOINTS.join(", ")}`, "endpoint");
      const hours = windowHours(body.completion_window);
      if (!(hours >= 24 && hours <= 168)) return refuse(res, `completion_window must be between 24h and 7d, got ${String(body.completion_window)}`, "completion_window");
      const window = String(body.completion_window);
      windows.push(window);
      // the inner server is OpenAI's shape and takes only 24h: the window asked for is kept here
      return forward(req, res, path, JSON.stringify({ ...body, completion_window: "24h" }), (batch) => {
        windowOf.set(String(batch.id), window);
        batch.completion_window = window;
      });
    }
    const id = /^\/v1\/batches\/([^/?]+)$/.exec(path.split("?")[0]!)?.[1];
    if (req.method === "GET" && id !== undefined) return forward(req, res, path, undefined, (batch) => void (batch.completion_window = windowOf.get(id) ?? batch.completion_window));
    forward(req, res, path);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    baseURL: `http://127.0.0.1:${port}/openai/v1`,
    windows,
    get uploads() {
      return state.uploads;
    },
    inner,
    async close() {
      server.closeAllConnections();
      server.close();
      await inner.close();
    },
  };
}
