/**
 * commit-testgen gen: one chat-completion request per commit extraction, custom_id = the full
 * commit hash. The prompt template is a side input (the CLI resolves --prompt-template,
 * TEST_CASE_GENERATOR_PROMPT, or batchline's default); a commit over --max-context-tokens is
 * trimmed as src/commit-testgen/requests.ts states, or becomes a `context_exceeded` failure.
 */
import { z } from "zod";
import { UsageError } from "../../src/core/errors.ts";
import { defineStage } from "../../src/core/stage.ts";
import { CommitExtraction } from "../../schemas/commit-extraction.ts";
import { CommitGenOutput } from "../../schemas/commit-testgen.ts";
import { buildGenRequest } from "../../src/commit-testgen/requests.ts";
import { DEFAULT_TEMPLATE } from "../../src/commit-testgen/prompts.ts";

/** Request settings; defaults are generate_test_generators.py's. */
export const CommitGenOptions = z.strictObject({
  model: z.string().min(1).describe("model in the requests"),
  temperature: z.coerce.number().min(0).max(2).default(0.1).describe("temperature (default 0.1; not sent to gpt-5/o-series models)"),
  maxTokens: z.coerce.number().int().positive().default(65536).describe("max_tokens (max_completion_tokens for gpt-5/o-series; default 65536)"),
  maxContextTokens: z.coerce.number().int().positive().optional().describe("the model's context window: trim commits whose input + max_tokens exceed it"),
});
export type CommitGenOptions = z.infer<typeof CommitGenOptions>;

/** One extraction file: its text (sent as it is when nothing is cut) and its parsed content. */
export const CommitGenInput = z.strictObject({ json: z.string(), extraction: CommitExtraction });
export type CommitGenInput = z.infer<typeof CommitGenInput>;

/** Side input: the prompt template text. */
export interface CommitGenSide {
  template?: string;
}

export default defineStage({
  name: "commit-testgen/gen",
  description: "Commit extractions -> one test-generator request per commit (custom_id = commit hash)",
  input: CommitGenInput,
  output: CommitGenOutput,
  options: CommitGenOptions,
  async *transform(extractions, ctx: { options: CommitGenOptions; side: CommitGenSide }) {
    const { model, temperature, maxTokens, maxContextTokens } = ctx.options;
    const template = ctx.side?.template ?? DEFAULT_TEMPLATE;
    if (maxContextTokens !== undefined && maxContextTokens <= maxTokens) {
      throw new UsageError(`--max-context-tokens ${maxContextTokens} leaves no room for the prompt with --max-tokens ${maxTokens}`);
    }
    for await (const { json, extraction } of extractions) {
      const result = buildGenRequest(extraction, { model, temperature, maxTokens, template, ...(maxContextTokens !== undefined ? { maxContextTokens } : {}) }, json);
      if (result.kind === "request") yield { kind: "request" as const, request: result.request, ...(result.trimmed ? { trimmed: result.trimmed } : {}) };
      else yield result;
    }
  },
});
