/**
 * A local double of the Gemini Developer API routes @google/genai calls for batch mode, written
 * from Google's Batch API guide and REST reference (models.batchGenerateContent, batches.get /
 * list / cancel, the Operation and GenerateContentBatch resources, BatchStats, InlinedResponse),
 * the Files API (resumable upload, list, download) and the SDK's request code:
 * - POST /upload/v1beta/files (X-Goog-Upload-Protocol resumable, Command start) answers an
 *   X-Goog-Upload-URL; POSTs to that URL carry `upload` / `upload, finalize` and an
 *   X-Goog-Upload-Offset that must equal the bytes received so far; `finalize` with a byte count
 *   other than the declared X-Goog-Upload-Header-Content-Length is refused; files over 2 GB are refused.
 * - POST /v1beta/models/{model}:batchGenerateContent with `batch.displayName` (required) and
 *   exactly one of `inputConfig.fileName` / `inputConfig.requests.requests`; an inline create
 *   over 20 MB, an unknown model or file, and a bad API key are refused (nothing is created).
 * - A job goes BATCH_STATE_PENDING -> RUNNING -> SUCCEEDED (or CANCELLED, EXPIRED, FAILED) with
 *   batchStats as int64 strings; output is `metadata.output.inlinedResponses.inlinedResponses`
 *   (inline) or `metadata.output.responsesFile` (a JSONL of `{key, response}` / `{key, error}`).
 * - Per request, what GenerateContent refuses becomes an INVALID_ARGUMENT error for that request:
 *   unknown fields, empty contents or parts, roles other than user/model, a non-text system
 *   instruction, temperature outside 0..2, topP outside 0..1, more than 5 stop sequences, a
 *   thinking budget outside the model's range, thinkingBudget with thinkingLevel, thinking on a
 *   model without it.
 * Requests that pass are answered by echoing the first line of the last user text; `[finish:X]`
 * in it ends with finishReason X; thinking adds a thought part and thoughtsTokenCount.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface GeminiDoubleOptions {
  /** Keys answered with an injected INTERNAL error (retryable). */
  errorMatch?: RegExp;
  /** Requests answered per job before the job expires (the rest never run). */
  expireAfter?: number;
  /** Every job fails as a whole with this message. */
  failJobs?: string;
  /** ms a job stays PENDING, then RUNNING. */
  processingMs?: number;
  /** Holds the response to the n-th create (1-based) forever, after creating the job: a client killed meanwhile never learns its name. */
  hangCreate?: number;
  /** Holds the response to the n-th finalized upload (1-based) forever, after storing the file. */
  hangUpload?: number;
  /** Page size cap for list calls (to exercise paging). */
  maxPageSize?: number;
  /** Model ids the double serves (default: gemini-*); others are NOT_FOUND at create. */
  models?: RegExp;
}

type Json = Record<string, unknown>;

interface Job {
  name: string;
  model: string;
  displayName: string;
  state: string;
  createTime: string;
  updateTime: string;
  endTime?: string;
  requests: { key: string; request: unknown }[];
  inline: boolean;
  results: Json[];
  error?: { code: number; message: string; status: string };
  source: string;
}

interface StoredFile {
  name: string;
  displayName: string;
  mimeType: string;
  sizeBytes: string;
  createTime: string;
  state: string;
  data: Buffer;
}

export interface GeminiDouble {
  baseURL: string;
  jobs: Map<string, Job>;
  files: Map<string, StoredFile>;
  /** Jobs created (successful creates only). */
  creates: number;
  /** Upload sessions finalized. */
  uploads: number;
  /** Every request as received, by key. */
  received: Map<string, Json>;
  /** Why each refused request was refused, by key. */
  refused: Map<string, string>;
  /** Requests answered, by key (the submitter contract counts these). */
  executions: Map<string, number>;
  /** Upload chunk sizes, in order. */
  uploadChunks: number[];
  close(): Promise<void>;
}

const INLINE_LIMIT = 20_000_000;
const FILE_LIMIT = 2_000_000_000;
const REQUEST_FIELDS = new Set(["model", "contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig", "cachedContent"]);
const CONFIG_FIELDS = new Set(["stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "speechConfig", "thinkingConfig", "mediaResolution"]);
const PART_FIELDS = ["text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"];
/** Thinking budget ranges per model family, from Google's thinking guide. */
function budgetRange(model: string): { min: number; max: number; off: boolean } | "level" | "level-pro" | "none" {
  const m = model.replace(/^models\//, "");
  if (/^gemini-(1\.5|2\.0)/.test(m)) return "none";
  if (m.startsWith("gemini-3-pro")) return "level-pro";
  if (m.startsWith("gemini-3")) return "level";
  if (m.startsWith("gemini-2.5-pro")) return { min: 128, max: 32_768, off: false };
  if (m.startsWith("gemini-2.5-flash-lite")) return { min: 512, max: 24_576, off: true };
  return { min: 1, max: 24_576, off: true };
}

/** Why GenerateContent would refuse this request for `model`, or undefined. */
export function geminiRefusal(req: unknown, model: string): string | undefined {
  if (typeof req !== "object" || req === null) return "request: must be an object";
  const r = req as Json;
  for (const k of Object.keys(r)) if (!REQUEST_FIELDS.has(k)) return `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`;
  if (!Array.isArray(r.contents) || r.contents.length === 0) return "* GenerateContentRequest.contents: contents is not specified";
  for (const [i, c] of (r.contents as Json[]).entries()) {
    if (c.role !== undefined && c.role !== "user" && c.role !== "model") return `Please use a valid role: user, model. (contents[${i}].role ${String(c.role)})`;
    if (!Array.isArray(c.parts) || c.parts.length === 0) return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`;
    for (const [j, p] of (c.parts as Json[]).entries()) {
      if (!PART_FIELDS.some((f) => p[f] !== undefined)) return `* GenerateContentRequest.contents[${i}].parts[${j}].data: required oneof field 'data' must have one initialized field`;
    }
  }
  const si = r.systemInstruction as { parts?: Json[] } | undefined;
  if (si !== undefined && (!Array.isArray(si.parts) || si.parts.some((p) => typeof p.text !== "string"))) return "systemInstruction: only text parts are supported";
  const g = (r.generationConfig ?? {}) as Json;
  for (const k of Object.keys(g)) if (!CONFIG_FIELDS.has(k)) return `Invalid JSON payload received. Unknown name "${k}" at 'generation_config': Cannot find field.`;
  if (g.temperature !== undefined && (Number(g.temperature) < 0 || Number(g.temperature) > 2)) return "* GenerateContentRequest.generation_config.temperature: must be in the range [0.0, 2.0]";
  if (g.topP !== undefined && (Number(g.topP) < 0 || Number(g.topP) > 1)) return "* GenerateContentRequest.generation_config.top_p: must be in the range [0.0, 1.0]";
  if (g.candidateCount !== undefined && (Number(g.candidateCount) < 1 || Number(g.candidateCount) > 8)) return "* GenerateContentRequest.generation_config.candidate_count: must be in the range [1, 8]";
  if (Array.isArray(g.stopSequences) && g.stopSequences.length > 5) return "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences";
  const t = g.thinkingConfig as { thinkingBudget?: number; thinkingLevel?: string } | undefined;
  if (t) {
    const range = budgetRange(model);
    if (range === "none") return "Thinking is not supported for this model.";
    if (t.thinkingBudget !== undefined && t.thinkingLevel !== undefined) return "thinking_budget and thinking_level are not supported together.";
    if (range === "level" || range === "level-pro") {
      const levels = range === "level-pro" ? ["low", "high"] : ["minimal", "low", "medium", "high"];
      if (t.thinkingLevel !== undefined && !levels.includes(t.thinkingLevel)) return `Thinking level ${t.thinkingLevel} is not supported for this model.`;
    } else if (t.thinkingLevel !== undefined) {
      return "thinking_level is not supported for this model.";
    } else if (t.thinkingBudget !== undefined) {
      const b = t.thinkingBudget;
      if (b === 0 && !range.off) return "Budget 0 is invalid. This model only works in thinking mode.";
      if (b !== 0 && b !== -1 && (b < range.min || b > range.max)) return `The thinking budget ${b} is invalid. Please choose a value between ${range.min} and ${range.max}.`;
    }
  }
  return undefined;
}

function answer(request: Json, i: number, model: string): Json {
  const contents = request.contents as { role?: string; parts: Json[] }[];
  const lastUser = [...contents].reverse().find((c) => c.role !== "model");
  const text = (lastUser?.parts ?? []).map((p) => (typeof p.text === "string" ? p.text : "")).join(" ");
  const finish = /\[finish:([A-Z_]+)\]/.exec(text)?.[1] ?? "STOP";
  const g = (request.generationConfig ?? {}) as { candidateCount?: number; thinkingConfig?: { thinkingBudget?: number; includeThoughts?: boolean } };
  const thinking = g.thinkingConfig !== undefined && g.thinkingConfig.thinkingBudget !== 0;
  const n = g.candidateCount ?? 1;
  const candidates = Array.from({ length: n }, (_, index) => ({
    content: { role: "model", parts: [...(thinking && g.thinkingConfig?.includeThoughts ? [{ text: "thinking it over", thought: true }] : []), { text: `echo${index > 0 ? index : ""}: ${text.split("\n")[0]}` }] },
    finishReason: finish,
    index,
  }));
  return {
    candidates,
    usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 5 * n, ...(thinking ? { thoughtsTokenCount: 7 } : {}), cachedContentTokenCount: 4, totalTokenCount: 12 + 5 * n + (thinking ? 7 : 0) },
    modelVersion: model.replace(/^models\//, ""),
    responseId: `resp-${i}`,
  };
}

function stats(job: Job): Json {
  const done = job.results.length;
  const failed = job.results.filter((r) => r.error).length;
  return { requestCount: String(job.requests.length), successfulRequestCount: String(done - failed), failedRequestCount: String(failed), pendingRequestCount: String(job.state === "BATCH_STATE_SUCCEEDED" ? 0 : job.requests.length - done) };
}

export async function startGeminiDouble(options: GeminiDoubleOptions = {}): Promise<GeminiDouble> {
  const jobs = new Map<string, Job>();
  const files = new Map<string, StoredFile>();
  const uploads = new Map<string, { declared: number; mimeType: string; displayName: string; parts: Buffer[]; received: number }>();
  const received = new Map<string, Json>();
  const refused = new Map<string, string>();
  const executions = new Map<string, number>();
  const uploadChunks: number[] = [];
  const counters = { creates: 0, uploads: 0, ids: 0, createCalls: 0 };
  let base = "";
  const held: ServerResponse[] = [];

  const operation = (job: Job): Json => {
    const done = ["BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"].includes(job.state);
    const output = !done || job.state === "BATCH_STATE_FAILED" ? undefined : job.inline ? { inlinedResponses: { inlinedResponses: job.results } } : job.results.length > 0 || job.state === "BATCH_STATE_SUCCEEDED" ? { responsesFile: job.source } : undefined;
    const metadata: Json = { "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch", model: job.model, displayName: job.displayName, createTime: job.createTime, updateTime: job.updateTime, ...(job.endTime ? { endTime: job.endTime } : {}), batchStats: stats(job), state: job.state, name: job.name, ...(output ? { output } : {}) };
    return { name: job.name, metadata, done, ...(job.error ? { error: job.error } : {}), ...(done && output ? { response: { "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput", ...output } } : {}) };
  };

  const run = (job: Job) => {
    const step = options.processingMs ?? 20;
    setTimeout(() => {
      if (job.state !== "BATCH_STATE_PENDING") return;
      job.state = "BATCH_STATE_RUNNING";
      job.updateTime = new Date().toISOString();
      setTimeout(() => {
        if (job.state !== "BATCH_STATE_RUNNING") return;
        const end = () => {
          job.updateTime = job.endTime = new Date().toISOString();
        };
        if (options.failJobs) {
          job.state = "BATCH_STATE_FAILED";
          job.error = { code: 3, message: options.failJobs, status: "INVALID_ARGUMENT" };
          return end();
        }
        const lines: string[] = [];
        for (const [i, { key, request }] of job.requests.entries()) {
          if (options.expireAfter !== undefined && i >= options.expireAfter) break;
          received.set(key, request as Json);
          const why = geminiRefusal(request, job.model);
          let item: Json;
          if (why !== undefined) {
            refused.set(key, why);
            item = { error: { code: 3, message: why, status: "INVALID_ARGUMENT" } };
          } else if (options.errorMatch?.test(key)) {
            item = { error: { code: 13, message: "Internal error encountered.", status: "INTERNAL" } };
          } else {
            executions.set(key, (executions.get(key) ?? 0) + 1);
            item = { response: answer(request as Json, i, job.model) };
          }
          job.results.push(job.inline ? { ...item, metadata: { key } } : item);
          lines.push(JSON.stringify({ key, ...item }));
        }
        if (!job.inline && lines.length > 0) {
          const id = `files/batch-${job.name.split("/")[1]}`;
          const data = Buffer.from(lines.join("\n") + "\n");
          files.set(id, { name: id, displayName: `${job.name} output`, mimeType: "application/jsonl", sizeBytes: String(data.length), createTime: new Date().toISOString(), state: "ACTIVE", data });
          job.source = id;
        }
        job.state = options.expireAfter !== undefined && options.expireAfter < job.requests.length ? "BATCH_STATE_EXPIRED" : "BATCH_STATE_SUCCEEDED";
        end();
      }, step);
    }, step);
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers }).end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, code: number, status: string, message: string) => send(res, code, { error: { code, message, status } });
  const readAll = async (req: IncomingMessage): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  const page = <T>(items: T[], url: URL): { items: T[]; next?: string } => {
    const size = Math.min(Number(url.searchParams.get("pageSize") ?? 50) || 50, options.maxPageSize ?? 1000);
    const start = Number(url.searchParams.get("pageToken") ?? 0) || 0;
    const slice = items.slice(start, start + size);
    return { items: slice, ...(start + size < items.length ? { next: String(start + size) } : {}) };
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const h = (name: string) => String(req.headers[name.toLowerCase()] ?? "");
    if (h("x-goog-api-key") === "") return fail(res, 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
    if (h("x-goog-api-key") === "bad") return fail(res, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.");
    const path = url.pathname;
    let m: RegExpExecArray | null;

    // Resumable upload: start
    if (req.method === "POST" && path === "/upload/v1beta/files" && !url.searchParams.has("upload_id")) {
      const body = JSON.parse((await readAll(req)).toString("utf8") || "{}") as { file?: { displayName?: string; mimeType?: string } };
      if (h("x-goog-upload-protocol") !== "resumable" || h("x-goog-upload-command") !== "start") return fail(res, 400, "INVALID_ARGUMENT", "Upload protocol or command missing");
      const declared = Number(h("x-goog-upload-header-content-length"));
      if (!Number.isInteger(declared) || declared <= 0) return fail(res, 400, "INVALID_ARGUMENT", "X-Goog-Upload-Header-Content-Length is required");
      if (declared > FILE_LIMIT) return fail(res, 400, "INVALID_ARGUMENT", "File size exceeds the 2 GB limit.");
      const id = `u${counters.ids++}`;
      uploads.set(id, { declared, mimeType: h("x-goog-upload-header-content-type") || body.file?.mimeType || "application/octet-stream", displayName: body.file?.displayName ?? "", parts: [], received: 0 });
      return send(res, 200, {}, { "x-goog-upload-url": `${base}/upload/v1beta/files?upload_id=${id}&upload_protocol=resumable`, "x-goog-upload-status": "active" });
    }
    // Resumable upload: bytes
    if (req.method === "POST" && path === "/upload/v1beta/files") {
      const session = uploads.get(url.searchParams.get("upload_id") ?? "");
      if (!session) return fail(res, 404, "NOT_FOUND", "Upload session not found");
      const command = h("x-goog-upload-command");
      const offset = Number(h("x-goog-upload-offset"));
      const data = await readAll(req);
      if (offset !== session.received) return fail(res, 400, "INVALID_ARGUMENT", `X-Goog-Upload-Offset ${offset} does not match the ${session.received} bytes received`);
      session.parts.push(data);
      session.received += data.length;
      uploadChunks.push(data.length);
      if (command === "upload") return send(res, 200, {}, { "x-goog-upload-status": "active" });
      if (command !== "upload, finalize") return fail(res, 400, "INVALID_ARGUMENT", `Unknown X-Goog-Upload-Command ${command}`);
      if (session.received !== session.declared) return fail(res, 400, "INVALID_ARGUMENT", `Received ${session.received} bytes, declared ${session.declared}`);
      uploads.delete(url.searchParams.get("upload_id")!);
      const name = `files/${String(counters.ids++).padStart(8, "0")}x`;
      const file: StoredFile = { name, displayName: session.displayName, mimeType: session.mimeType, sizeBytes: String(session.received), createTime: new Date().toISOString(), state: "ACTIVE", data: Buffer.concat(session.parts) };
      files.set(name, file);
      counters.uploads++;
      if (options.hangUpload === counters.uploads) {
        held.push(res);
        return;
      }
      const { data: _data, ...meta } = file;
      return send(res, 200, { file: { ...meta, uri: `${base}/v1beta/${name}`, source: "UPLOADED" } }, { "x-goog-upload-status": "final" });
    }
    if (req.method === "GET" && path === "/v1beta/files") {
      const all = [...files.values()].reverse().map(({ data: _d, ...meta }) => meta);
      const { items, next } = page(all, url);
      return send(res, 200, { files: items, ...(next ? { nextPageToken: next } : {}) });
    }
    if (req.method === "GET" && (m = /^\/v1beta\/files\/([^/:]+):download$/.exec(path))) {
      const file = files.get(`files/${m[1]}`);
      if (!file) return fail(res, 404, "NOT_FOUND", `File files/${m[1]} not found`);
      if (url.searchParams.get("alt") !== "media") return fail(res, 400, "INVALID_ARGUMENT", "alt=media is required");
      return res.writeHead(200, { "content-type": file.mimeType }).end(file.data);
    }
    if (req.method === "POST" && (m = /^\/v1beta\/models\/([^/:]+):batchGenerateContent$/.exec(path))) {
      counters.createCalls++;
      const raw = await readAll(req);
      if (raw.length > INLINE_LIMIT) return fail(res, 400, "INVALID_ARGUMENT", `Request payload size exceeds the limit: ${INLINE_LIMIT} bytes.`);
      const model = `models/${m[1]}`;
      if (!(options.models ?? /^gemini-/).test(m[1]!)) return fail(res, 404, "NOT_FOUND", `${model} is not found for API version v1beta, or is not supported for batchGenerateContent.`);
      const body = JSON.parse(raw.toString("utf8")) as { batch?: { displayName?: string; inputConfig?: { fileName?: string; requests?: { requests?: { request: unknown; metadata?: { key?: string } }[] } } } };
      const batch = body.batch;
      if (!batch?.displayName) return fail(res, 400, "INVALID_ARGUMENT", "* BatchGenerateContentRequest.batch.display_name: display_name is required");
      const input = batch.inputConfig ?? {};
      if ((input.fileName === undefined) === (input.requests === undefined)) return fail(res, 400, "INVALID_ARGUMENT", "* BatchGenerateContentRequest.batch.input_config.source: exactly one of file_name and requests must be set");
      const requests: Job["requests"] = [];
      if (input.fileName !== undefined) {
        const file = files.get(input.fileName);
        if (!file) return fail(res, 404, "NOT_FOUND", `File ${input.fileName} not found.`);
        for (const [i, text] of file.data.toString("utf8").split("\n").entries()) {
          if (text.trim() === "") continue;
          let line: { key?: unknown; request?: unknown };
          try {
            line = JSON.parse(text) as typeof line;
          } catch {
            return fail(res, 400, "INVALID_ARGUMENT", `Line ${i + 1} of ${input.fileName} is not valid JSON`);
          }
          requests.push({ key: typeof line.key === "string" ? line.key : String(i), request: line.request });
        }
      } else {
        const list = input.requests?.requests ?? [];
        if (list.length === 0) return fail(res, 400, "INVALID_ARGUMENT", "* BatchGenerateContentRequest.batch.input_config.requests.requests: requests must not be empty");
        list.forEach((r, i) => requests.push({ key: typeof r.metadata?.key === "string" ? r.metadata.key : String(i), request: r.request }));
      }
      const now = new Date().toISOString();
      const name = `batches/${String(counters.ids++).padStart(6, "0")}bl`;
      const job: Job = { name, model, displayName: batch.displayName, state: "BATCH_STATE_PENDING", createTime: now, updateTime: now, requests, inline: input.fileName === undefined, results: [], source: input.fileName ?? "" };
      jobs.set(name, job);
      counters.creates++;
      run(job);
      if (options.hangCreate === counters.createCalls) {
        held.push(res);
        return;
      }
      return send(res, 200, operation(job));
    }
    if (req.method === "GET" && path === "/v1beta/batches") {
      const { items, next } = page([...jobs.values()].reverse(), url);
      return send(res, 200, { operations: items.map(operation), ...(next ? { nextPageToken: next } : {}) });
    }
    if ((m = /^\/v1beta\/(batches\/[^/:]+)(:cancel)?$/.exec(path))) {
      const job = jobs.get(m[1]!);
      if (!job) return fail(res, 404, "NOT_FOUND", `Batch ${m[1]} not found`);
      if (req.method === "GET" && !m[2]) return send(res, 200, operation(job));
      if (req.method === "POST" && m[2]) {
        if (job.state === "BATCH_STATE_PENDING" || job.state === "BATCH_STATE_RUNNING") {
          job.state = "BATCH_STATE_CANCELLED";
          job.updateTime = job.endTime = new Date().toISOString();
          job.error = { code: 1, message: "The batch was cancelled.", status: "CANCELLED" };
        }
        return send(res, 200, {});
      }
    }
    return fail(res, 404, "NOT_FOUND", `no route ${req.method} ${path}`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseURL: base,
    jobs,
    files,
    received,
    refused,
    executions,
    uploadChunks,
    get creates() {
      return counters.creates;
    },
    get uploads() {
      return counters.uploads;
    },
    async close() {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, "close").catch(() => {});
    },
  };
}
