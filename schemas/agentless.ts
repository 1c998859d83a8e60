/**
 * Records of the agentless pipelines: failure records, processed samples (the Agentless output
 * fields, wire names kept so Agentless's scripts and the SWE-bench harness take them unchanged),
 * and the stage options of the Kimi-Dev batch rollout scripts with their defaults.
 */
import { z } from "zod";
import { EncodedJson } from "../src/core/raw-json.ts";
import { BatchRequest } from "./batch-request.ts";

/** Why an instance/pass produced nothing, at which stage. */
export const AgentlessFailure = z.strictObject({
  custom_id: z.string(),
  instance_id: z.string(),
  stage: z.string(),
  reason: z.string(),
  detail: z.string(),
});
export type AgentlessFailure = z.infer<typeof AgentlessFailure>;

/** What a gen stage emits: a request line, or a failure for the failures file. */
export const GenOutput = z.union([z.strictObject({ kind: z.literal("request"), request: BatchRequest }), z.strictObject({ kind: z.literal("failure"), failure: AgentlessFailure })]);
export type GenOutput = z.infer<typeof GenOutput>;

/** A string, or a string already encoded as JSON by a proc_step2 worker (src/core/raw-json.ts): whole-file texts. */
const Text = z.union([z.string(), z.custom<EncodedJson>((v) => v instanceof EncodedJson, "expected a string")]);

/** Bugfixer `output_<pass>_processed.jsonl` line. */
export const BugfixSample = z.strictObject({
  model_name_or_path: z.string(),
  instance_id: z.string(),
  model_patch: z.string(),
  raw_model_patch: z.string(),
  original_file_content: z.array(Text),
  edited_files: z.array(z.string()),
  new_file_content: z.array(Text),
});
export type BugfixSample = z.infer<typeof BugfixSample>;

/** Testwriter `output_<pass>_processed_reproduction_test.jsonl` line. */
export const ReproductionSample = z.strictObject({
  model_name_or_path: z.string(),
  instance_id: z.string(),
  test_patch: Text,
  raw_test_patch: Text,
  test_func_name: z.string().nullable(),
  original_file_content: Text,
});
export type ReproductionSample = z.infer<typeof ReproductionSample>;

/** What proc_step2 emits per custom_id: a sample (with its samples/<custom_id>.jsonl record) or a failure. */
export const Step2Output = z.union([
  z.strictObject({
    kind: z.literal("sample"),
    custom_id: z.string(),
    pass: z.number().int(),
    role: z.enum(["bugfixer", "testwriter"]),
    sample: z.union([BugfixSample, ReproductionSample]),
    /** samples/<custom_id>.jsonl: the Kimi-Dev scripts' fields under their names, and batchline's beside them. */
    record: z.record(z.string(), z.unknown()),
  }),
  z.strictObject({
    kind: z.literal("failure"),
    pass: z.number().int(),
    failure: AgentlessFailure,
    /** The model's whole answer, when there was one. */
    raw_output: z.string().nullable(),
    /** The model that answered (the response body's `model`), else --model_name. */
    model_name_or_path: z.string(),
  }),
]);
export type Step2Output = z.infer<typeof Step2Output>;

const int = (d: number) => z.coerce.number().int().positive().default(d);
const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);

/** Every option of the original scripts (snake_case on the command line works too), with their defaults; unused ones are ignored. */
export const AgentlessOptions = z.looseObject({
  modelName: z.string().default("deepseek-ai/DeepSeek-R1").describe("model in the request body and model_name_or_path (--model_name)"),
  maxTokens: int(32768).describe("max_tokens of each request (--max_tokens)"),
  temp: z.coerce.number().min(0).max(2).default(1.0).describe("sampling temperature (--temp)"),
  passk: int(1).describe("samples per instance; custom_id <instance_id>__pass<N> when > 1"),
  enableThinking: bool.default(false).describe("add enable_thinking/thinking_budget to the body (--enable_thinking)"),
  thinkingBudget: int(32768).describe("thinking budget when thinking is on (--thinking_budget)"),
  convertCrlf: bool.default(false).describe("turn CRLF into LF in problem statements (--convert_crlf)"),
  numWorkers: int(8).describe("proc_step2: worker threads building patches (--num_workers)"),
  promptTemplate: z.string().optional().describe("a file with your own prompt for the step the stage builds (placeholders: src/agentless/prompts.ts)"),
  step1PromptTemplate: z.string().optional().describe("a file with your own localization prompt (--step1_prompt_template)"),
  step2PromptTemplate: z.string().optional().describe("a file with your own repair or test-writing prompt (--step2_prompt_template)"),
});
export type AgentlessOptions = z.infer<typeof AgentlessOptions>;
