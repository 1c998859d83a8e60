/**
 * The agentless testwriter pipeline (Kimi-Dev's batch_rollout_testwriter.py, end to end): which
 * test file to edit, then SEARCH/REPLACE edits that reproduce the issue, turned into
 * `reproduce_bug.py` new-file diffs under save/. proc_step2 reads step 1's choice of test file.
 * Retry rounds re-request failed step-1 requests and every proc_step2 failure.
 */
import { definePipeline } from "../pipeline/index.ts";
import { AGENTLESS_VOLATILE, AgentlessPipelineOptions, agentlessPreflight, agentlessSteps } from "./pipeline-parts.ts";

export default definePipeline({
  name: "agentless-testwriter",
  description: "SWE-bench rows -> test-file localization -> reproduction-test edits -> reproduce_bug.py patches (save/output_<pass>_processed_reproduction_test.jsonl)",
  options: AgentlessPipelineOptions,
  volatile: AGENTLESS_VOLATILE,
  preflight: agentlessPreflight,
  steps: agentlessSteps("testwriter"),
  example: "OPENAI_API_KEY=sk-... npx batchline pipeline agentless-testwriter --dataset princeton-nlp/SWE-bench_Lite --repostructure_dir ./repostructures --model_name gpt-4.1-mini --backend openai-batch --workdir runs/lite-tests --passk 4",
});
