/**
 * Coverage of a pipeline work directory: for every main step, every custom_id it should account
 * for (what the step before it handed on), and whether it succeeded, failed (with its reason) or
 * is missing (nothing recorded for it). Retry rounds count: each step reads every version of its
 * files (the main one, then round 1, 2, ...).
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BatchlineError } from "../core/errors.ts";
import { mainSteps } from "./define.ts";
import type { PipelineDefinition, StepContext } from "./types.ts";
import { loadManifest } from "./workdir.ts";
import { BUNDLED_PRICES } from "../submitters/prices.ts";

/** One step's accounting. */
export interface StepCoverage {
  expected: number;
  succeeded: number;
  failed: Record<string, number>;
  missing: string[];
}

/** The pipeline name recorded in a work directory's manifest. */
export async function workdirPipeline(workdir: string): Promise<string> {
  const path = join(workdir, "manifest.json");
  if (!existsSync(path)) throw new BatchlineError(`${workdir}: not a pipeline work directory (no manifest.json)`);
  const { readFile } = await import("node:fs/promises");
  try {
    return (JSON.parse(await readFile(path, "utf8")) as { pipeline: string }).pipeline;
  } catch (err) {
    throw new BatchlineError(`${path}: not a valid manifest (${(err as Error).message})`);
  }
}

/** Coverage of `workdir`, a run of `definition`, step by step in order. */
export async function pipelineCoverage(definition: PipelineDefinition, workdir: string, options: { onBadLine?: StepContext["onBadLine"] } = {}): Promise<Record<string, StepCoverage>> {
  const W = resolve(workdir);
  await loadManifest(W, definition.name);
  const rounds = (await readdir(W)).map((n) => /^round(\d+)$/.exec(n)?.[1]).filter((n) => n !== undefined).map(Number);
  const last = rounds.length ? Math.max(...rounds) : 0;
  const out: Record<string, StepCoverage> = {};
  for (const step of mainSteps(definition)) {
    if (!step.account) continue;
    const ctx: StepContext = {
      name: step.name,
      round: last,
      workdir: W,
      options: {},
      run: { workdir: W, backend: "", rounds: last, allowEmpty: false },
      env: {},
      file: (rel) => join(W, rel),
      versions: async (rel) => [join(W, rel), ...Array.from({ length: last }, (_, i) => join(W, `round${i + 1}`, rel))].filter((p) => existsSync(p)),
      resume: false,
      stepOptions: {},
      log: () => {},
      progress: () => {},
      prices: BUNDLED_PRICES,
      onBadLine: options.onBadLine,
    };
    const account = await step.account(ctx);
    const c: StepCoverage = { expected: 0, succeeded: 0, failed: {}, missing: [] };
    for (const id of account.expected) {
      c.expected++;
      const o = account.outcome(id);
      if (o === undefined) c.missing.push(id);
      else if (o === "ok") c.succeeded++;
      else c.failed[o] = (c.failed[o] ?? 0) + 1;
    }
    out[step.name] = c;
  }
  return out;
}
