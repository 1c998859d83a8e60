/**
 * Stage registry: a stage's name is its path under `stages/` without `.ts`, and each entry is
 * loaded lazily so that running one stage never imports the others.
 */
import type { Stage } from "../src/core/stage.ts";

type StageModule = { default: Stage };

export const STAGES: Record<string, () => Promise<StageModule>> = {
  "agentless/bugfixer/gen-step1": () => import("./agentless/bugfixer/gen-step1.ts"),
  "agentless/bugfixer/proc-step1-gen-step2": () => import("./agentless/bugfixer/proc-step1-gen-step2.ts"),
  "agentless/bugfixer/proc-step2": () => import("./agentless/bugfixer/proc-step2.ts"),
  "agentless/testwriter/gen-step1": () => import("./agentless/testwriter/gen-step1.ts"),
  "agentless/testwriter/proc-step1-gen-step2": () => import("./agentless/testwriter/proc-step1-gen-step2.ts"),
  "agentless/testwriter/proc-step2": () => import("./agentless/testwriter/proc-step2.ts"),
  "commit-testgen/gen": () => import("./commit-testgen/gen.ts"),
  "commit-testgen/proc": () => import("./commit-testgen/proc.ts"),
  "requests/rewrite": () => import("./requests/rewrite.ts"),
  "sft/eval-gen": () => import("./sft/eval-gen.ts"),
};

/** Loads a stage by name, or returns undefined. */
export async function loadStage(name: string): Promise<Stage | undefined> {
  const load = STAGES[name];
  return load ? (await load()).default : undefined;
}

/** The pipeline names (first path segment) that have stages, e.g. `requests`. */
export function stagePipelines(): string[] {
  return [...new Set(Object.keys(STAGES).map((n) => n.split("/")[0]!))].sort();
}
