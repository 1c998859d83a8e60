/**
 * Pipelines by name, loaded lazily so that running one never imports the others. A new pipeline
 * is one definition file in its domain's folder (src/<domain>/<pipeline>.ts) plus a line here.
 */
import { UsageError } from "../core/errors.ts";
import type { PipelineDefinition } from "./types.ts";

type PipelineModule = { default: PipelineDefinition };

export const PIPELINES: Record<string, () => Promise<PipelineModule>> = {
  "agentless-bugfixer": () => import("../agentless/agentless-bugfixer.ts"),
  "agentless-testwriter": () => import("../agentless/agentless-testwriter.ts"),
  "commit-testgen": () => import("../commit-testgen/commit-testgen-pipeline.ts"),
  "sft-eval": () => import("../sft/sft-eval.ts"),
  "swe-testgen": () => import("../swe-testgen/swe-testgen.ts"),
};

/** The definition named `name`; a UsageError listing the pipelines when there is none. */
export async function loadPipeline(name: string): Promise<PipelineDefinition> {
  const load = Object.hasOwn(PIPELINES, name) ? PIPELINES[name] : undefined;
  if (!load) throw new UsageError(`unknown pipeline ${name}; pipelines: ${Object.keys(PIPELINES).join(", ")} (batchline pipeline --list)`);
  return (await load()).default;
}

/** Every pipeline name, sorted. */
export function pipelineNames(): string[] {
  return Object.keys(PIPELINES).sort();
}
