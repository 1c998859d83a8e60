/**
 * Rewrites request lines for another model, token budget or endpoint: model, max tokens,
 * temperature, top_p, url. A new url moves the body too (chat <-> Responses API, see
 * core/endpoint-bodies.ts); a body that cannot move is an error for its line.
 */
import { z } from "zod";
import { BatchlineError } from "../../src/core/errors.ts";
import { maxTokensField, moveBody } from "../../src/core/endpoint-bodies.ts";
import { defineStage } from "../../src/core/stage.ts";
import { BATCH_URLS, BatchRequest } from "../../schemas/batch-request.ts";

const RewriteOptions = z.strictObject({
  model: z.string().min(1).optional().describe("set body.model"),
  maxTokens: z.coerce.number().int().positive().optional().describe("set the output-token cap: body.max_tokens (chat, completions), max_output_tokens (/v1/responses)"),
  temperature: z.coerce.number().min(0).max(2).optional().describe("set body.temperature"),
  topP: z.coerce.number().gt(0).max(1).optional().describe("set body.top_p"),
  url: z.enum(BATCH_URLS).optional().describe("set url (fixes /chat/completions to /v1/chat/completions; between /v1/chat/completions and /v1/responses the body is converted)"),
});

export default defineStage({
  name: "requests/rewrite",
  description: "Set model, max tokens, temperature, top_p or url (converting chat and Responses bodies) on every request line",
  input: BatchRequest,
  output: BatchRequest,
  options: RewriteOptions,
  perRecord: true,
  async *transform(requests, { options }) {
    const set: Record<string, unknown> = {};
    if (options.model !== undefined) set.model = options.model;
    if (options.temperature !== undefined) set.temperature = options.temperature;
    if (options.topP !== undefined) set.top_p = options.topP;
    for await (const request of requests) {
      const url = options.url ?? request.url;
      const body = { ...(options.url ? moveBody(request.body, request.url, url) : request.body), ...set } as BatchRequest["body"];
      if (options.maxTokens !== undefined) {
        const field = maxTokensField(url, body);
        if (!field) throw new BatchlineError(`--max-tokens: a ${url} request has no output-token cap`);
        body[field] = options.maxTokens;
      }
      yield { ...request, url, body };
    }
  },
});
