/**
 * The pipeline engine's public API. A definition file:
 *
 *   export default definePipeline({
 *     name: "my-pipeline", description: "...", options: MyOptions,   // a zod object
 *     steps: [
 *       stage("gen", "my/gen", { source: (ctx) => rows(ctx), out: "requests.jsonl", failures: "gen_failures.jsonl", split }),
 *       submit("submit", { in: "requests.jsonl", out: "output.jsonl", replay: "fromSubmit" }),
 *       sink("save", { in: ["output.jsonl"], stage: "my/proc", out: "save/", failures: "save/failures.jsonl", write }),
 *       rounds({ retry: [{ from: "submit", failures: "save/failures.jsonl" }] }),
 *     ],
 *   });
 *
 * and `await runPipeline(definition, { workdir, backend, ...options }, { env, log, signal })`.
 */
export * from "./types.ts";
export { PipelineRunOptions, backendOptionsOf } from "./run-options.ts";
export { definePipeline, mainSteps, optionRows, parsePipelineOptions, pipelineSchema } from "./define.ts";
export { oneLine, runPipeline } from "./run.ts";
export { formatPipelineReport } from "./report.ts";
export { type StepCoverage, pipelineCoverage, workdirPipeline } from "./coverage.ts";
export { PIPELINES, loadPipeline, pipelineNames } from "./registry.ts";
export { type SideInputs, type StageStepOptions, stage } from "./steps/stage.ts";
export { type SubmitStepOptions, submit } from "./steps/submit.ts";
export { type SinkStepOptions, sink } from "./steps/sink.ts";
export { type EvalResult, type EvalStepOptions, evaluate } from "./steps/eval.ts";
export { rounds } from "./steps/rounds.ts";
export { pipelineHelp, pipelineList } from "./help.ts";
