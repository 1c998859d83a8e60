/**
 * The OpenAI Batch API backend, on the `openai` SDK: upload (purpose batch), create
 * (completion_window 24h), retrieve (honouring `openai-poll-after-ms`), download output AND error
 * files, cancel. Works with any server that speaks these routes (`batchline serve`, or providers
 * with an OpenAI-compatible Batch API). Chunk keys go into the upload's file name and the batch's
 * metadata, which is how an interrupted run finds them again.
 */
import { createReadStream } from "node:fs";
import OpenAI from "openai";
import { type BatchProvider, PROVIDERS, checkOpenAIBatchProvider, completionWindowFor, providerLimits } from "./providers.ts";
import { BatchlineError, TokenLimitError, apiErrorText } from "../core/errors.ts";
import { readJsonlLines } from "../core/jsonl.ts";
import type { BatchBackend, ChunkRef, RemoteStatus } from "./types.ts";

export const SUBMITTER_NAME = "openai-batch";

/** Options; the CLI fills them from OPENAI_API_KEY and OPENAI_BASE_URL. */
export interface OpenAIBatchOptions {
  apiKey: string;
  baseURL?: string;
  /** SDK retries on 408/409/429/5xx and connection errors (default 5). */
  maxRetries?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** The provider's row of the providers table (default OpenAI): limits, endpoints, completion windows. */
  provider?: BatchProvider;
  /** completion_window to send (default 24h), within what the provider takes. */
  completionWindow?: string;
}

const ENDED = new Set(["completed", "expired", "cancelled"]);
const METADATA_KEY = "batchline_chunk";

/** Creates the backend. */
export default function openaiBatch(options: OpenAIBatchOptions): BatchBackend {
  if (!options.apiKey) throw new BatchlineError(`[${SUBMITTER_NAME}] missing API key (set OPENAI_API_KEY)`);
  const provider = options.provider ?? PROVIDERS.openai;
  checkOpenAIBatchProvider(provider);
  const completionWindow = completionWindowFor(provider, options.completionWindow);
  const endpoints = new Set<string>(provider.endpoints);
  const client = new OpenAI({
    apiKey: options.apiKey,
    ...(options.baseURL ? { baseURL: options.baseURL } : {}),
    maxRetries: options.maxRetries ?? 5,
    timeout: options.timeoutMs ?? 10 * 60_000,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof OpenAI.APIError) {
        const ErrorClass = err.code === "token_limit_exceeded" ? TokenLimitError : BatchlineError;
        throw new ErrorClass(`[${SUBMITTER_NAME}] ${what} failed: ${apiErrorText(err.status, err.message)}`, { cause: err });
      }
      throw err;
    }
  };

  return {
    name: SUBMITTER_NAME,
    limits: providerLimits(provider, SUBMITTER_NAME),

    // OpenAI itself takes every Batch API endpoint (validate checks them); another provider only its own.
    ...(provider.name === "openai"
      ? {}
      : { checkRequest: (request: { url: string }) => (endpoints.has(request.url) ? undefined : `${provider.name}'s Batch API does not take ${request.url} lines (it takes ${provider.endpoints.join(", ")}; ${provider.source})`) }),

    upload(chunk: ChunkRef, signal?: AbortSignal) {
      return wrap(`upload of ${chunk.label ?? chunk.key}`, async () => {
        const file = await client.files.create({ file: createReadStream(chunk.path), purpose: "batch" }, { ...(signal ? { signal } : {}), maxRetries: 2 });
        return file.id;
      });
    },

    findUpload(chunk: ChunkRef, signal?: AbortSignal) {
      return wrap(`listing files for ${chunk.label ?? chunk.key}`, async () => {
        for await (const file of client.files.list({ purpose: "batch" }, signal ? { signal } : {})) {
          if (file.filename === `${chunk.key}.jsonl` && file.bytes === chunk.bytes) return file.id;
        }
        return undefined;
      });
    },

    create(chunk: ChunkRef, uploadId: string | undefined, signal?: AbortSignal) {
      return wrap(`creating the batch of ${chunk.label ?? chunk.key}`, async () => {
        const batch = await client.batches.create(
          { input_file_id: uploadId!, endpoint: chunk.endpoint as OpenAI.BatchCreateParams["endpoint"], completion_window: completionWindow as "24h", metadata: { [METADATA_KEY]: chunk.key } },
          signal ? { signal } : {},
        );
        return batch.id;
      });
    },

    findBatch(chunk: ChunkRef, _startedAt: number | undefined, signal?: AbortSignal) {
      return wrap(`listing batches for ${chunk.label ?? chunk.key}`, async () => {
        for await (const batch of client.batches.list({ limit: 100 }, signal ? { signal } : {})) {
          if (batch.metadata?.[METADATA_KEY] === chunk.key) return batch.id;
        }
        return undefined;
      });
    },

    retrieve(batchId: string, signal?: AbortSignal) {
      return wrap(`polling batch ${batchId}`, async (): Promise<RemoteStatus> => {
        const { data: batch, response } = await client.batches.retrieve(batchId, signal ? { signal } : {}).withResponse();
        const hint = Number(response.headers.get("openai-poll-after-ms"));
        const counts = batch.request_counts ?? { total: 0, completed: 0, failed: 0 };
        const phase = batch.status === "failed" ? "failed" : ENDED.has(batch.status) ? "ended" : "running";
        const status: RemoteStatus = { status: batch.status, phase, counts: { total: counts.total, completed: counts.completed, failed: counts.failed } };
        if (Number.isFinite(hint) && hint > 0) status.pollAfterMs = hint;
        if (phase === "failed") {
          status.errors = (batch.errors?.data ?? []).map((e) => ({ line: e.line ?? null, code: e.code ?? "unknown", message: e.message ?? "" }));
        }
        return status;
      });
    },

    async *results(batchId: string, _chunk: ChunkRef, signal?: AbortSignal) {
      const batch = await wrap(`fetching batch ${batchId}`, () => client.batches.retrieve(batchId, signal ? { signal } : {}));
      for (const fileId of [batch.output_file_id, batch.error_file_id]) {
        if (!fileId) continue;
        const res = await wrap(`downloading ${fileId}`, () => client.files.content(fileId, signal ? { signal } : {}));
        if (!res.body) continue;
        for await (const { text } of readJsonlLines(res.body as unknown as AsyncIterable<Uint8Array>)) yield text;
      }
    },

    async cancel(batchId: string, signal?: AbortSignal) {
      await wrap(`cancelling batch ${batchId}`, () => client.batches.cancel(batchId, signal ? { signal } : {}));
    },
  };
}
