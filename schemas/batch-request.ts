/** One line of an OpenAI Batch request file (wire names kept). */
import { z } from "zod";

/** Endpoints the OpenAI Batch API accepts in a request line's `url`. */
export const BATCH_URLS = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions", "/v1/moderations"] as const;

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
