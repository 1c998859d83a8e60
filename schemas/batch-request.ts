/** One line of an OpenAI Batch request file (wire names kept). */
import { z } from "zod";

/** Endpoints the OpenAI Batch API accepts in a request line's `url` (CreateBatchRequest.endpoint in OpenAI's OpenAPI spec). */
export const BATCH_URLS = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions", "/v1/moderations", "/v1/images/generations", "/v1/images/edits", "/v1/videos"] as const;
export type BatchUrl = (typeof BATCH_URLS)[number];

/**
 * The body fields each endpoint requires (the `required` lists of its create-request schema in
 * OpenAI's spec), besides `model`, which batchline asks of every line: a batch runs one model.
 */
export const REQUIRED_BODY_FIELDS: Record<BatchUrl, readonly string[]> = {
  "/v1/chat/completions": ["messages"],
  "/v1/responses": [],
  "/v1/embeddings": ["input"],
  "/v1/completions": ["prompt"],
  "/v1/moderations": ["input"],
  "/v1/images/generations": ["prompt"],
  "/v1/images/edits": ["prompt", "image"],
  "/v1/videos": ["prompt"],
};

/** True for the urls the Batch API accepts. */
export function isBatchUrl(url: string): url is BatchUrl {
  return (BATCH_URLS as readonly string[]).includes(url);
}

/** The body fields `url` requires that `body` lacks (none for an unknown url). */
export function missingBodyFields(url: string, body: Record<string, unknown>): string[] {
  return isBatchUrl(url) ? REQUIRED_BODY_FIELDS[url].filter((f) => body[f] === undefined) : [];
}

/** The request body: only `model` is required here; every other field passes through untouched. */
export const BatchRequestBody = z.looseObject({
  model: z.string().min(1),
});
export type BatchRequestBody = z.infer<typeof BatchRequestBody>;

/** `{custom_id, method:"POST", url, body}`; extra top-level keys are rejected, as the API does. */
export const BatchRequest = z.strictObject({
  custom_id: z.string().min(1),
  method: z.literal("POST"),
  url: z.string().regex(/^\//, { message: "url must be a path such as /v1/chat/completions" }),
  body: BatchRequestBody,
});
export type BatchRequest = z.infer<typeof BatchRequest>;
