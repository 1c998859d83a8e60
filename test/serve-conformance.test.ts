/**
 * `batchline serve` held against OpenAI's published Files and Batches API: every JSON answer is
 * validated against JSON Schemas written from the spec's field lists (fixtures/openai-api), and
 * the rules the spec states (list parameters, purposes, expiry, metadata, limits, error envelopes)
 * are exercised over HTTP on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv, type ValidateFunction } from "ajv";
import OpenAI from "openai";
import { type BatchServer, startBatchServer } from "../src/server/batch-server.ts";
import type { Executor } from "../src/server/executors.ts";
import { FIXTURES, tempDir } from "./helpers.ts";

const SCHEMAS = JSON.parse(await readFile(join(FIXTURES, "openai-api/schemas.json"), "utf8")) as { definitions: Record<string, unknown> };
const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
ajv.addSchema(SCHEMAS, "spec");
const validators = new Map<string, ValidateFunction>();
function validatorFor(name: string): ValidateFunction {
  let v = validators.get(name);
  if (!v) validators.set(name, (v = ajv.getSchema(`spec#/definitions/${name}`)!));
  return v;
}

/** Routes x schema fields checked, for the coverage note. */
const checked = new Map<string, Set<string>>();
/** The field paths a schema checks, following $ref, items and anyOf (`Batch.usage.input_tokens`, ...). */
function fieldsOf(name: string): string[] {
  const paths: string[] = [];
  const walk = (schema: any, prefix: string, seen: Set<string>): void => {
    if (schema?.$ref) {
      const ref = String(schema.$ref).replace("#/definitions/", "");
      if (seen.has(ref)) return;
      return walk(SCHEMAS.definitions[ref], prefix, new Set([...seen, ref]));
    }
    for (const alt of schema?.anyOf ?? []) walk(alt, prefix, seen);
    if (schema?.items) walk(schema.items, `${prefix}[]`, seen);
    for (const [key, sub] of Object.entries((schema?.properties ?? {}) as Record<string, unknown>)) {
      const path = `${prefix}.${key}`;
      const before = paths.length;
      walk(sub, path, seen);
      if (paths.length === before) paths.push(path);
    }
  };
  walk(SCHEMAS.definitions[name], name, new Set([name]));
  return paths;
}

/** Asserts `value` matches the named schema, and records the route as checked. */
function conforms(route: string, name: string, value: unknown): void {
  const validate = validatorFor(name);
  assert.ok(validate(value), `${route}: not a valid ${name}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 600)}`);
  const fields = checked.get(route) ?? new Set<string>();
  for (const f of fieldsOf(name)) fields.add(f);
  checked.set(route, fields);
}

const answer: Executor = async (request) => ({
  response: {
    status_code: 200,
    request_id: `req_${request.custom_id}`,
    body: {
      id: `resp_${request.custom_id}`,
      object: "response",
      status: "completed",
      model: request.body.model,
      output: [{ type: "message", role: "assistant", content: [{ type: "output_text", text: `answer to ${request.custom_id}` }] }],
      usage: { input_tokens: 100, input_tokens_details: { cached_tokens: 40 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 20 }, total_tokens: 130 },
    },
  },
  error: null,
});

const line = (id: string, url = "/v1/responses", body: Record<string, unknown> = { model: "gpt-5-mini", input: `question ${id}` }) => JSON.stringify({ custom_id: id, method: "POST", url, body }) + "\n";
const THREE = ["a", "b", "c"].map((id) => line(id)).join("");

let dir = "";
let cleanup = async () => {};
let server: BatchServer;
let base = "";
/** Every error answer seen, to check none of them shows a server path. */
const errorTexts: string[] = [];

before(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startBatchServer({ executor: answer, dataDir: join(dir, "data"), faults: { stepDelayMs: 5 } });
  base = server.baseURL;
});
after(async () => {
  await server.close();
  await cleanup();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }) });
  const text = await res.text();
  if (res.status >= 400) errorTexts.push(text);
  return { status: res.status, json: JSON.parse(text) };
}

async function upload(content: string, purpose = "batch", extra: Record<string, string> = {}, filename = "requests.jsonl"): Promise<{ status: number; json: any }> {
  const form = new FormData();
  form.set("purpose", purpose);
  for (const [k, v] of Object.entries(extra)) form.set(k, v);
  form.set("file", new Blob([content]), filename);
  const res = await fetch(`${base}/files`, { method: "POST", body: form });
  const text = await res.text();
  if (res.status >= 400) errorTexts.push(text);
  return { status: res.status, json: JSON.parse(text) };
}

/** Asserts an error answer: status, the spec's envelope, and `param`/`code` where given. */
function refused(route: string, r: { status: number; json: any }, status: number, param: string | null, code?: string): void {
  assert.equal(r.status, status, `${route}: ${JSON.stringify(r.json)}`);
  conforms(`${route} (error)`, "ErrorResponse", r.json);
  assert.equal(r.json.error.param, param, `${route}: param`);
  if (code !== undefined) assert.equal(r.json.error.code, code, `${route}: code`);
}

async function waitFor(id: string, statuses: string[]): Promise<any> {
  for (let i = 0; i < 1000; i++) {
    const r = await call("GET", `/batches/${id}`);
    if (statuses.includes(r.json.status)) return r.json;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`batch ${id} never reached ${statuses.join("/")}`);
}

describe("serve against OpenAI's Files and Batches spec", () => {
  it("files: upload checks purpose and takes expires_after; list honours limit, order, after, purpose, has_more", async () => {
    const first = await upload(THREE);
    assert.equal(first.status, 200);
    conforms("POST /v1/files", "OpenAIFile", first.json);
    assert.equal(first.json.expires_at, first.json.created_at + 2_592_000, "batch files expire after 30 days by default");
    const timed = await upload(THREE, "batch", { "expires_after[anchor]": "created_at", "expires_after[seconds]": "3600" });
    assert.equal(timed.json.expires_at, timed.json.created_at + 3600);
    const kept = await upload("{}\n", "user_data", {}, "notes.jsonl");
    assert.equal(kept.json.expires_at, null, "other purposes are kept until deleted");
    refused("POST /v1/files", await upload(THREE, "batch_output"), 400, "purpose", "invalid_value");
    refused("POST /v1/files", await upload(THREE, "batch", { "expires_after[anchor]": "created_at", "expires_after[seconds]": "60" }), 400, "expires_after.seconds", "invalid_value");
    refused("POST /v1/files", await upload(THREE, "batch", { "expires_after[anchor]": "now", "expires_after[seconds]": "3600" }), 400, "expires_after.anchor", "invalid_value");

    const all = await call("GET", "/files");
    conforms("GET /v1/files", "ListFilesResponse", all.json);
    const ids = all.json.data.map((f: { id: string }) => f.id);
    assert.deepEqual(ids, [kept.json.id, timed.json.id, first.json.id], "newest first by default");
    assert.equal(all.json.first_id, kept.json.id);
    assert.equal(all.json.last_id, first.json.id);
    assert.equal(all.json.has_more, false);
    const asc = await call("GET", "/files?order=asc&limit=2");
    assert.deepEqual(asc.json.data.map((f: { id: string }) => f.id), [first.json.id, timed.json.id]);
    assert.equal(asc.json.has_more, true);
    const next = await call("GET", `/files?order=asc&limit=2&after=${asc.json.last_id}`);
    assert.deepEqual(next.json.data.map((f: { id: string }) => f.id), [kept.json.id]);
    assert.equal(next.json.has_more, false);
    const batchOnly = await call("GET", "/files?purpose=batch");
    assert.deepEqual(batchOnly.json.data.map((f: { id: string }) => f.id), [timed.json.id, first.json.id]);
    const none = await call("GET", "/files?purpose=vision");
    conforms("GET /v1/files", "ListFilesResponse", none.json);
    assert.deepEqual([none.json.data, none.json.has_more], [[], false]);
    refused("GET /v1/files", await call("GET", "/files?limit=0"), 400, "limit", "invalid_value");
    refused("GET /v1/files", await call("GET", "/files?limit=10001"), 400, "limit", "invalid_value");
    refused("GET /v1/files", await call("GET", "/files?limit=ten"), 400, "limit", "invalid_value");
    refused("GET /v1/files", await call("GET", "/files?order=newest"), 400, "order", "invalid_value");
    refused("GET /v1/files", await call("GET", "/files?after=file-nosuch"), 400, "after", "invalid_value");

    conforms("GET /v1/files/{file_id}", "OpenAIFile", (await call("GET", `/files/${kept.json.id}`)).json);
    const deleted = await call("DELETE", `/files/${kept.json.id}`);
    conforms("DELETE /v1/files/{file_id}", "DeleteFileResponse", deleted.json);
    refused("GET /v1/files/{file_id}", await call("GET", `/files/${kept.json.id}`), 404, "file_id");
  });

  it("batches: create checks its parameters with param and code, as the spec defines them", async () => {
    const input = (await upload(THREE)).json.id as string;
    const userData = (await upload(THREE, "user_data")).json.id as string;
    const create = (body: Record<string, unknown>) => call("POST", "/batches", { endpoint: "/v1/responses", completion_window: "24h", ...body });
    refused("POST /v1/batches", await create({}), 400, "input_file_id", "missing_required_parameter");
    refused("POST /v1/batches", await create({ input_file_id: input, endpoint: undefined }), 400, "endpoint", "missing_required_parameter");
    refused("POST /v1/batches", await create({ input_file_id: input, endpoint: "/v1/chat" }), 400, "endpoint", "invalid_value");
    refused("POST /v1/batches", await create({ input_file_id: input, completion_window: "48h" }), 400, "completion_window", "invalid_value");
    refused("POST /v1/batches", await create({ input_file_id: "file-nosuch" }), 404, "input_file_id");
    refused("POST /v1/batches", await create({ input_file_id: userData }), 400, "input_file_id", "invalid_value");
    const pairs = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
    refused("POST /v1/batches", await create({ input_file_id: input, metadata: pairs(17) }), 400, "metadata", "invalid_value");
    refused("POST /v1/batches", await create({ input_file_id: input, metadata: { ["k".repeat(65)]: "v" } }), 400, "metadata", "invalid_value");
    refused("POST /v1/batches", await create({ input_file_id: input, metadata: { k: "v".repeat(513) } }), 400, "metadata", "invalid_value");
    refused("POST /v1/batches", await create({ input_file_id: input, metadata: { k: 1 } }), 400, "metadata", "invalid_value");
    refused("POST /v1/batches", await create({ input_file_id: input, output_expires_after: { anchor: "created_at", seconds: 3599 } }), 400, "output_expires_after.seconds", "invalid_value");
    refused("POST /v1/batches", await create({ input_file_id: input, output_expires_after: { anchor: "created_at", seconds: 2_592_001 } }), 400, "output_expires_after.seconds", "invalid_value");
    assert.equal(server.stats.batchesCreated, 0, "nothing refused was created");

    const edge = await create({ input_file_id: input, metadata: { ...pairs(15), ["k".repeat(64)]: "v".repeat(512) }, output_expires_after: { anchor: "created_at", seconds: 3600 } });
    assert.equal(edge.status, 200, JSON.stringify(edge.json));
    conforms("POST /v1/batches", "Batch", edge.json);
    const done = await waitFor(edge.json.id, ["completed"]);
    conforms("GET /v1/batches/{batch_id}", "Batch", done);
    const output = (await call("GET", `/files/${done.output_file_id}`)).json;
    conforms("GET /v1/files/{file_id}", "OpenAIFile", output);
    assert.equal(output.purpose, "batch_output");
    assert.equal(output.expires_at, output.created_at + 3600, "output_expires_after applies to the output file");
    const content = await (await fetch(`${base}/files/${done.output_file_id}/content`)).text();
    for (const l of content.trimEnd().split("\n")) conforms("GET /v1/files/{file_id}/content", "BatchOutputLine", JSON.parse(l));
  });

  it("batches: usage sums Responses-API usage with cached and reasoning tokens", async () => {
    const input = (await upload(THREE)).json.id as string;
    const created = await call("POST", "/batches", { input_file_id: input, endpoint: "/v1/responses", completion_window: "24h" });
    const done = await waitFor(created.json.id, ["completed"]);
    assert.deepEqual(done.usage, { input_tokens: 300, output_tokens: 90, total_tokens: 390, input_tokens_details: { cached_tokens: 120 }, output_tokens_details: { reasoning_tokens: 60 } });
  });

  it("batches: list limit/after are checked, not coerced; newest first with has_more", async () => {
    const list = await call("GET", "/batches?limit=1");
    conforms("GET /v1/batches", "ListBatchesResponse", list.json);
    assert.equal(list.json.data.length, 1);
    assert.equal(list.json.has_more, true);
    const rest = await call("GET", `/batches?limit=100&after=${list.json.last_id}`);
    conforms("GET /v1/batches", "ListBatchesResponse", rest.json);
    const created = [...list.json.data, ...rest.json.data].map((b: { created_at: number }) => b.created_at);
    assert.deepEqual(created, [...created].sort((a, b) => b - a), "newest first");
    assert.equal(rest.json.has_more, false);
    refused("GET /v1/batches", await call("GET", "/batches?limit=0"), 400, "limit", "invalid_value");
    refused("GET /v1/batches", await call("GET", "/batches?limit=101"), 400, "limit", "invalid_value");
    refused("GET /v1/batches", await call("GET", "/batches?limit=2.5"), 400, "limit", "invalid_value");
    refused("GET /v1/batches", await call("GET", "/batches?after=batch_nosuch"), 400, "after", "invalid_value");
    refused("GET /v1/batches/{batch_id}", await call("GET", "/batches/batch_nosuch"), 404, "batch_id");
    refused("POST /v1/batches/{batch_id}/cancel", await call("POST", "/batches/batch_nosuch/cancel"), 404, "batch_id");
    refused("unknown route", await call("GET", "/models"), 404, null);
  });

  it("batches: more than 50,000 lines, or 50,000 embedding inputs, fail validation", async () => {
    const many = Array.from({ length: 50_001 }, (_, i) => `{"custom_id":"r${i}","method":"POST","url":"/v1/embeddings","body":{"model":"e","input":"x"}}\n`).join("");
    const manyId = (await upload(many)).json.id as string;
    const inputs = line("big", "/v1/embeddings", { model: "e", input: Array.from({ length: 50_001 }, () => "x") });
    const inputsId = (await upload(inputs)).json.id as string;
    const tooMany = await call("POST", "/batches", { input_file_id: manyId, endpoint: "/v1/embeddings", completion_window: "24h" });
    const tooManyInputs = await call("POST", "/batches", { input_file_id: inputsId, endpoint: "/v1/embeddings", completion_window: "24h" });
    const a = await waitFor(tooMany.json.id, ["failed"]);
    const b = await waitFor(tooManyInputs.json.id, ["failed"]);
    conforms("GET /v1/batches/{batch_id}", "Batch", a);
    assert.equal(a.errors.data[0].code, "too_many_requests");
    assert.equal(a.errors.data[0].line, 50_001);
    assert.equal(b.errors.data[0].code, "too_many_embedding_inputs");
  });

  it("deleting the input file of a running batch does not break it; cancel answers a Batch", async () => {
    const slow = await startBatchServer({ executor: answer, faults: { stepDelayMs: 60 } });
    try {
      const client = new OpenAI({ apiKey: "k", baseURL: slow.baseURL });
      const file = await client.files.create({ file: new File([THREE], "in.jsonl"), purpose: "batch" });
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/responses", completion_window: "24h" });
      await client.files.delete(file.id);
      await assert.rejects(client.files.retrieve(file.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
      let done = batch;
      for (let i = 0; i < 500 && !["completed", "failed"].includes(done.status); i++) {
        await new Promise((r) => setTimeout(r, 10));
        done = await client.batches.retrieve(batch.id);
      }
      assert.equal(done.status, "completed", JSON.stringify(done.errors));
      assert.equal(done.request_counts?.completed, 3);

      const file2 = await client.files.create({ file: new File([THREE], "in.jsonl"), purpose: "batch" });
      const running = await client.batches.create({ input_file_id: file2.id, endpoint: "/v1/responses", completion_window: "24h" });
      const cancelling = await client.batches.cancel(running.id);
      conforms("POST /v1/batches/{batch_id}/cancel", "Batch", JSON.parse(JSON.stringify(cancelling)));
      assert.equal(cancelling.status, "cancelling");
    } finally {
      await slow.close();
    }
  });

  it("an internal failure shows no server path, in a batch's errors or an answer", async () => {
    const dataDir = join(dir, "secret-data-dir");
    const broken = await startBatchServer({
      dataDir,
      executor: async () => {
        throw new Error(`ENOENT: no such file or directory, open '${dataDir}/file-x'`);
      },
    });
    try {
      const form = new FormData();
      form.set("purpose", "batch");
      form.set("file", new Blob([THREE]), "in.jsonl");
      const file = (await (await fetch(`${broken.baseURL}/files`, { method: "POST", body: form })).json()) as { id: string };
      const created = (await (await fetch(`${broken.baseURL}/batches`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/responses", completion_window: "24h" }) })).json()) as { id: string };
      let batch: any;
      for (let i = 0; i < 500; i++) {
        batch = await (await fetch(`${broken.baseURL}/batches/${created.id}`)).json();
        if (batch.status === "failed") break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(batch.status, "failed");
      conforms("GET /v1/batches/{batch_id}", "Batch", batch);
      assert.equal(batch.errors.data[0].code, "server_error");
      assert.doesNotMatch(JSON.stringify(batch), /secret-data-dir|ENOENT/);
    } finally {
      await broken.close();
    }
    for (const text of errorTexts) assert.ok(!text.includes(dir), `an error answer shows a server path: ${text}`);
  });

  it("coverage of the schema checks (routes x fields)", (t) => {
    const rows = [...checked.entries()].map(([route, fields]) => `${route}: ${fields.size} fields`);
    const total = [...checked.values()].reduce((n, f) => n + f.size, 0);
    t.diagnostic(`schema coverage: ${checked.size} route answers x fields = ${total} field checks\n${rows.join("\n")}`);
    for (const route of ["POST /v1/files", "GET /v1/files", "GET /v1/files/{file_id}", "DELETE /v1/files/{file_id}", "GET /v1/files/{file_id}/content", "POST /v1/batches", "GET /v1/batches", "GET /v1/batches/{batch_id}", "POST /v1/batches/{batch_id}/cancel"]) {
      assert.ok(checked.has(route), `${route} was checked against its schema`);
    }
  });
});

describe("serve: aborted content downloads", () => {
  it("closes the file of each of 50 aborted downloads (no fd left open)", async () => {
    const fds = async () => (await readdir("/proc/self/fd")).length;
    const local = await startBatchServer({ executor: answer });
    try {
      const form = new FormData();
      form.set("purpose", "batch");
      form.set("file", new Blob([line("x").repeat(40_000)]), "big.jsonl"); // ~4 MB: far more than one socket buffer
      const file = (await (await fetch(`${local.baseURL}/files`, { method: "POST", body: form })).json()) as { id: string };
      const before = await fds();
      await Promise.all(
        Array.from({ length: 50 }, () =>
          new Promise<void>((resolve, reject) => {
            const req = get(`${local.baseURL}/files/${file.id}/content`, (res) => {
              res.once("data", () => {
                req.destroy();
                resolve();
              });
            });
            req.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve() : reject(e)));
          }),
        ),
      );
      let now = await fds();
      for (let i = 0; i < 100 && now > before + 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
        now = await fds();
      }
      assert.ok(now <= before + 2, `open fds went from ${before} to ${now} after 50 aborted downloads`);
      assert.equal(local.stats.contentDownloads, 50);
    } finally {
      await local.close();
    }
  });
});
