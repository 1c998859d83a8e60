/**
 * The text of a successful answer body, whatever endpoint produced it: a chat completion
 * (`choices[0].message.content`, `finish_reason`), a Responses-API response (`output[]` message
 * items' `output_text` parts, `status`, `incomplete_details.reason`) or a legacy completion
 * (`choices[0].text`). Every stage that reads answers (agentless, retry, validate) reads them here.
 */

/** What an answer body says: its text (null when it has none) and why it stopped. */
export interface AnswerBody {
  /** Which API shape the body has. */
  shape: "chat" | "responses" | "completions";
  /** The answer text; null for `content: null`, or a response with no output text. */
  text: string | null;
  /** Chat-style stop reason: `stop`, `length`, `content_filter`, `tool_calls`...; Responses bodies map `incomplete_details.reason` onto it. */
  finishReason: string | null;
  /** Cut before the model finished: `finish_reason: length`, or a response that is `incomplete` for `max_output_tokens`. */
  truncated: boolean;
  /** Why a Responses body is not a usable answer (`status` failed/cancelled, a `refusal`), else undefined. */
  failure?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Responses API `incomplete_details.reason` -> the chat `finish_reason` that means the same. */
const INCOMPLETE_REASON: Record<string, string> = { max_output_tokens: "length", content_filter: "content_filter" };

function readResponses(body: Obj): AnswerBody {
  const status = typeof body.status === "string" ? body.status : null;
  const incomplete = isObj(body.incomplete_details) && typeof body.incomplete_details.reason === "string" ? body.incomplete_details.reason : null;
  const texts: string[] = [];
  let refusal: string | undefined;
  for (const item of Array.isArray(body.output) ? body.output : []) {
    if (!isObj(item) || item.type !== "message" || !Array.isArray(item.content)) continue;
    for (const part of item.content) {
      if (!isObj(part)) continue;
      if (part.type === "output_text" && typeof part.text === "string") texts.push(part.text);
      else if (part.type === "refusal" && typeof part.refusal === "string") refusal = part.refusal;
    }
  }
  const finishReason = status === "incomplete" ? (INCOMPLETE_REASON[incomplete ?? ""] ?? incomplete ?? "incomplete") : status === "completed" ? "stop" : status;
  const answer: AnswerBody = { shape: "responses", text: texts.length > 0 ? texts.join("") : null, finishReason, truncated: status === "incomplete" && incomplete === "max_output_tokens" };
  if (status === "failed" || status === "cancelled") {
    const message = isObj(body.error) && typeof body.error.message === "string" ? `: ${body.error.message}` : "";
    answer.failure = `the response has status ${status}${message}`;
  } else if (status === "incomplete" && !answer.truncated) {
    answer.failure = `the response is incomplete (${incomplete ?? "no reason given"})`;
  } else if (answer.text === null && refusal !== undefined) {
    answer.failure = `the model refused: ${refusal}`;
  }
  return answer;
}

/**
 * Reads an answer body; undefined when it is none of the text shapes (an embedding, a moderation,
 * an image, a body without choices or output).
 */
export function readAnswerBody(body: unknown): AnswerBody | undefined {
  if (!isObj(body)) return undefined;
  if (body.object === "response" || (Array.isArray(body.output) && !("choices" in body))) return readResponses(body);
  const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!isObj(choice)) return undefined;
  const finishReason = typeof choice.finish_reason === "string" ? choice.finish_reason : null;
  const truncated = finishReason === "length";
  if (isObj(choice.message)) {
    const content = choice.message.content;
    return { shape: "chat", text: typeof content === "string" ? content : null, finishReason, truncated };
  }
  if (typeof choice.text === "string") return { shape: "completions", text: choice.text, finishReason, truncated };
  return { shape: "chat", text: null, finishReason, truncated };
}
