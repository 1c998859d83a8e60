/** sft eval gen: tasks -> `passk` test-writing requests each (custom_id `<task_id>__pass<N>`). */
import { z } from "zod";
import { BatchRequest } from "../../schemas/batch-request.ts";
import { SftEvalTask } from "../../schemas/sft-eval.ts";
import { defineStage } from "../../src/core/stage.ts";
import { evalRequests } from "../../src/sft/eval-requests.ts";
import { DEFAULT_PROMPT_TEMPLATE, checkPromptTemplate } from "../../src/sft/prompt.ts";

export const EvalGenOptions = z.strictObject({
  model: z.string().min(1).describe("model in the requests (the fine-tuned one, or a baseline)"),
  passk: z.coerce.number().int().min(1).default(3).describe("samples per task (default 3)"),
  temperature: z.coerce.number().min(0).max(2).default(0.8).describe("sampling temperature (default 0.8; not sent to gpt-5/o-series models)"),
  maxTokens: z.coerce.number().int().positive().default(2048).describe("max_tokens of each answer (default 2048)"),
  template: z.string().optional().describe("prompt template text (default batchline's, the one the SFT rows use)"),
});
export type EvalGenOptions = z.infer<typeof EvalGenOptions>;

export default defineStage({
  name: "sft/eval-gen",
  description: "Tasks -> passk test-writing requests per task (custom_id <task_id>__pass<N>)",
  input: SftEvalTask,
  output: BatchRequest,
  options: EvalGenOptions,
  async *transform(tasks, ctx: { options: EvalGenOptions }) {
    const template = ctx.options.template === undefined ? DEFAULT_PROMPT_TEMPLATE : checkPromptTemplate(ctx.options.template, "the prompt template");
    for await (const task of tasks) yield* evalRequests(task, { ...ctx.options, template });
  },
});
