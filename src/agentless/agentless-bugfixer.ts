/**
 * The agentless bugfixer pipeline (Kimi-Dev's batch_rollout_bugfixer.py, end to end): which files
 * to edit, then SEARCH/REPLACE repairs of them, turned into git patches under save/. Retry rounds
 * re-request failed step-1 requests and every proc_step2 failure.
 */
import { definePipeline, rounds, sink, stage, submit } from "../pipeline/index.ts";
import { AGENTLESS_VOLATILE, AgentlessPipelineOptions, agentlessPreflight, datasetSource, isProcStep2Failure, requestOrFailure, saveTo, samplesWritten, sideFor, stageOptions } from "./pipeline-parts.ts";

export default definePipeline({
  name: "agentless-bugfixer",
  description: "SWE-bench rows -> file localization -> SEARCH/REPLACE repair -> git patches (save/preds_<pass>.jsonl)",
  options: AgentlessPipelineOptions,
  volatile: AGENTLESS_VOLATILE,
  preflight: agentlessPreflight,
  steps: [
    stage("gen_step1", "agentless/bugfixer/gen-step1", { source: datasetSource, out: "step1_requests.jsonl", failures: "step1_requests.jsonl.failures.jsonl", split: requestOrFailure, count: "requests", side: sideFor("bugfixer", "gen_step1"), options: stageOptions }),
    submit("submit_step1", { in: "step1_requests.jsonl", out: "step1_output.jsonl", replay: "fromStep1" }),
    stage("proc_step1_gen_step2", "agentless/bugfixer/proc-step1-gen-step2", { in: "step1_output.jsonl", out: "step2_requests.jsonl", failures: "step2_requests.jsonl.failures.jsonl", split: requestOrFailure, count: "requests", side: sideFor("bugfixer", "proc_step1_gen_step2"), options: stageOptions }),
    submit("submit_step2", { in: "step2_requests.jsonl", out: "step2_output.jsonl", replay: "fromStep2" }),
    sink("proc_step2", { in: ["step2_output.jsonl", "step1_output.jsonl"], stage: "agentless/bugfixer/proc-step2", out: "save/", failures: "save/failures.jsonl", ownsFailure: isProcStep2Failure, side: sideFor("bugfixer", "proc_step2"), options: stageOptions, write: saveTo("bugfixer"), succeeded: samplesWritten }),
    rounds({
      retry: [
        { from: "submit_step1", failedRequests: true },
        { from: "submit_step2", failures: "save/failures.jsonl", when: isProcStep2Failure },
      ],
      names: { submit_step2: "submit" },
    }),
  ],
  example: "OPENAI_API_KEY=sk-... npx batchline pipeline agentless-bugfixer --dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --model_name gpt-4.1-mini --backend openai-batch --workdir runs/lite --passk 4",
});
