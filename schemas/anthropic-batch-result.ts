/** One line of an Anthropic Message Batches results file (wire names kept; unknown keys pass through). */
import { z } from "zod";

const Usage = z.looseObject({
  input_tokens: z.number(),
  output_tokens: z.number(),
  cache_creation_input_tokens: z.number().nullable().optional(),
  cache_read_input_tokens: z.number().nullable().optional(),
  output_tokens_details: z.looseObject({ thinking_tokens: z.number().optional() }).nullable().optional(),
});

/** A content block of a Messages API answer; text, thinking and tool_use blocks are read. */
const ContentBlock = z.looseObject({ type: z.string(), text: z.string().optional(), thinking: z.string().optional(), id: z.string().optional(), name: z.string().optional(), input: z.unknown().optional() });

export const AnthropicMessage = z.looseObject({
  id: z.string(),
  model: z.string(),
  content: z.array(ContentBlock),
  stop_reason: z.string().nullable(),
  usage: Usage,
});
export type AnthropicMessage = z.infer<typeof AnthropicMessage>;

/** `{custom_id, result: succeeded{message} | errored{error} | canceled | expired}`. */
export const AnthropicBatchResult = z.looseObject({
  custom_id: z.string(),
  result: z.discriminatedUnion("type", [
    z.looseObject({ type: z.literal("succeeded"), message: AnthropicMessage }),
    z.looseObject({
      type: z.literal("errored"),
      error: z.looseObject({ type: z.literal("error").optional(), error: z.looseObject({ type: z.string(), message: z.string() }), request_id: z.string().nullable().optional() }),
    }),
    z.looseObject({ type: z.literal("canceled") }),
    z.looseObject({ type: z.literal("expired") }),
  ]),
});
export type AnthropicBatchResult = z.infer<typeof AnthropicBatchResult>;
