/**
 * `sft eval gen`: `passk` chat-completion requests per task, custom_id `<task_id>__pass<N>` (N from
 * 0), each asking for a pytest file for the task's code with the same prompt template the
 * training rows use (so an evaluation measures what was trained).
 */
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { SftEvalTask } from "../../schemas/sft-eval.ts";
import { isReasoningModel } from "../commit-testgen/requests.ts";
import { renderPrompt } from "./prompt.ts";

/** How the requests are made. */
export interface EvalRequestSettings {
  model: string;
  /** Samples per task. */
  passk: number;
  temperature: number;
  maxTokens: number;
  /** A checked template (prompt.ts). */
  template: string;
}

/** The custom_id of sample `pass` of `taskId`. */
export function sampleId(taskId: string, pass: number): string {
  return `${taskId}__pass${pass}`;
}

/** The requests for one task, sample 0 first. */
export function evalRequests(task: SftEvalTask, s: EvalRequestSettings): BatchRequest[] {
  const prompt = renderPrompt(s.template, { code: task.code, code_file: task.code_file });
  const messages = [{ role: "user", content: prompt }];
  const body = isReasoningModel(s.model) ? { model: s.model, messages, max_completion_tokens: s.maxTokens } : { model: s.model, messages, temperature: s.temperature, max_tokens: s.maxTokens };
  return Array.from({ length: s.passk }, (_, pass) => ({ custom_id: sampleId(task.task_id, pass), method: "POST" as const, url: "/v1/chat/completions" as const, body }));
}
