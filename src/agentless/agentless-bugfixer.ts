/**
 * The agentless bugfixer pipeline (Kimi-Dev's batch_rollout_bugfixer.py, end to end): which files
 * to edit, then SEARCH/REPLACE repairs of them, turned into git patches under save/. Retry rounds
 * re-request failed step-1 requests and every proc_step2 failure.
 */
import { definePipeline } from "../pipeline/index.ts";
import { AGENTLESS_VOLATILE, AgentlessPipelineOptions, agentlessPreflight, agentlessSteps } from "./pipeline-parts.ts";

export default definePipeline({
  name: "agentless-bugfixer",
  description: "SWE-bench rows -> file localization -> SEARCH/REPLACE repair -> git patches (save/preds_<pass>.jsonl)",
  options: AgentlessPipelineOptions,
  volatile: AGENTLESS_VOLATILE,
  preflight: agentlessPreflight,
  steps: agentlessSteps("bugfixer"),
  example: "OPENAI_API_KEY=sk-... npx batchline pipeline agentless-bugfixer --dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --model_name gpt-4.1-mini --backend openai-batch --workdir runs/lite --passk 4",
});
