/**
 * Reading a model's answer out of an OpenAI Batch output line (a chat or a Responses-API body, see
 * core/answer-body.ts), with the reason when there is none: `response: null` (expired, cancelled:
 * the error code), a non-200 status, `content: null`, or an answer cut by `finish_reason: length`
 * (a response `incomplete` for `max_output_tokens`). Reasoning is stripped (`<think>`, `◁think▷`);
 * `message.reasoning_content` is never read.
 */
import type { BatchOutput } from "../../schemas/openai-batch-output.ts";
import { readAnswerBody } from "../core/answer-body.ts";
import { splitReasoning } from "./reasoning.ts";

/** The answer text (reasoning removed) and the whole content as sent (`raw`), or a failure reason and detail. */
export type Answer = { ok: true; text: string; raw: string; finishReason: string | null } | { ok: false; reason: string; detail: string };

export function answerOf(line: BatchOutput): Answer {
  if (line.response === null) {
    return { ok: false, reason: line.error?.code ?? "no_response", detail: line.error?.message ?? "the line has no response" };
  }
  if (line.response.status_code !== 200) {
    const message = (line.response.body as { error?: { message?: string } } | null)?.error?.message ?? "";
    return { ok: false, reason: `http_${line.response.status_code}`, detail: message || `HTTP ${line.response.status_code}` };
  }
  const body = readAnswerBody(line.response.body);
  if (!body) return { ok: false, reason: "no_choices", detail: "the response body has neither choices nor output" };
  if (body.truncated) {
    const detail = body.shape === "responses" ? "the response is incomplete (max_output_tokens): the answer was cut" : "finish_reason is length: the answer was cut at max_tokens";
    return { ok: false, reason: "truncated", detail };
  }
  if (body.failure !== undefined) return { ok: false, reason: "incomplete", detail: body.failure };
  const content = body.text;
  if (content === null) return { ok: false, reason: "null_content", detail: body.shape === "responses" ? "the response has no output_text" : "message.content is null" };
  const split = splitReasoning(content);
  if (split.unclosed) return { ok: false, reason: "truncated", detail: "the answer ends inside an unclosed reasoning block" };
  if (split.answer.trim() === "") return { ok: false, reason: "empty_answer", detail: "nothing is left after the reasoning" };
  return { ok: true, text: split.answer, raw: content, finishReason: body.finishReason };
}
