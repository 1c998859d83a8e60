/**
 * `definePipeline` checks a definition once, where it is written: step names unique, rounds last
 * and naming submit steps, every step's input made by an earlier step (or from outside the
 * workdir), and option names that do not collide with the engine's.
 */
import { z } from "zod";
import { BatchlineError, UsageError } from "../core/errors.ts";
import { PipelineRunOptions } from "./run-options.ts";
import type { PipelineDefinition, RoundsStep, Step } from "./types.ts";

/** The main steps of a definition (everything but rounds). */
export function mainSteps(definition: PipelineDefinition): Step[] {
  return definition.steps.filter((s): s is Step => s.kind !== "rounds");
}

/** The rounds step of a definition, if it has one. */
export function roundsOf(definition: PipelineDefinition): RoundsStep | undefined {
  return definition.steps.find((s): s is RoundsStep => s.kind === "rounds");
}

/** Declares a pipeline; throws on a malformed definition (a bug in the definition, found at load time). */
export function definePipeline<Schema extends z.ZodObject>(definition: PipelineDefinition<Schema>): PipelineDefinition<Schema> {
  const bad = (what: string) => new BatchlineError(`pipeline ${definition.name}: ${what}`);
  const names = new Set<string>();
  const made = new Set<string>();
  definition.steps.forEach((step, i) => {
    if (step.kind === "rounds") {
      if (i !== definition.steps.length - 1) throw bad("rounds must be the last step");
      for (const rule of step.retry) {
        const from = definition.steps.find((s) => s.name === rule.from);
        if (!from || from.kind !== "submit") throw bad(`a retry rule starts from ${rule.from}, which is not a submit step`);
        if ("failures" in rule && !made.has(rule.failures)) throw bad(`a retry rule reads ${rule.failures}, which no step writes`);
      }
      return;
    }
    if (names.has(step.name) || step.name === "rounds" || /^round\d+_/.test(step.name)) throw bad(`step name ${step.name} is taken or reserved`);
    names.add(step.name);
    for (const input of step.in) {
      if (!made.has(input) && ![...made].some((m) => m.endsWith("/") && input.startsWith(m))) throw bad(`step ${step.name} reads ${input}, which no earlier step writes`);
    }
    for (const out of step.out) made.add(out);
    if (step.failures) made.add(step.failures);
  });
  const clash = Object.keys(definition.options.shape).filter((k) => Object.hasOwn(PipelineRunOptions.shape, k));
  if (clash.length > 0) throw bad(`options ${clash.join(", ")} are the engine's own`);
  return definition;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Every option a pipeline takes: the engine's and the definition's, as one strict schema. */
export function pipelineSchema(definition: PipelineDefinition) {
  return z.strictObject({ ...PipelineRunOptions.shape, ...definition.options.shape });
}

/** Parses raw options (camelCase keys, values as typed) into the engine's and the definition's; a UsageError names every bad option. */
export function parsePipelineOptions(definition: PipelineDefinition, raw: Record<string, unknown>): { run: PipelineRunOptions; options: Record<string, unknown> } {
  const given = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  if (definition.engineDefaults) {
    const own = definition.options.safeParse(Object.fromEntries(Object.entries(given).filter(([k]) => Object.hasOwn(definition.options.shape, k))));
    if (own.success) for (const [k, v] of Object.entries(definition.engineDefaults(own.data))) if (given[k] === undefined && v !== undefined) given[k] = v;
  }
  const result = pipelineSchema(definition).safeParse(given);
  if (!result.success) {
    const detail = result.error.issues
      .map((issue) => {
        if (issue.code === "unrecognized_keys") return `unknown option ${issue.keys.map((k) => `--${kebab(k)}`).join(", ")}`;
        const path = issue.path.map(String).join(".");
        if (issue.code === "invalid_type" && given[path] === undefined) return `missing --${kebab(path)}`;
        return path ? `--${kebab(path)}: ${issue.message}` : issue.message;
      })
      .join("; ");
    throw new UsageError(`pipeline ${definition.name}: ${detail} (see batchline pipeline ${definition.name} --help)`);
  }
  const parsed = result.data as Record<string, unknown>;
  const run: Record<string, unknown> = {};
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) (Object.hasOwn(PipelineRunOptions.shape, k) ? run : options)[k] = v;
  return { run: run as PipelineRunOptions, options };
}

/** Help rows for a pipeline's options: `[flag, description]`, the definition's first, then the engine's. */
export function optionRows(definition: PipelineDefinition): { own: [string, string][]; engine: [string, string][] } {
  const rows = (shape: Record<string, z.ZodType>) =>
    Object.entries(shape).map(([key, schema]): [string, string] => {
      const isBool = schema.safeParse(true).data === true;
      const fallback = schema.safeParse(undefined);
      const shown = fallback.success && fallback.data !== undefined && !(schema.description ?? "").includes("default") ? ` (default ${String(fallback.data)})` : "";
      return [`--${kebab(key)}${isBool ? "" : " <value>"}`, `${schema.description ?? ""}${shown}`];
    });
  return { own: rows(definition.options.shape as Record<string, z.ZodType>), engine: rows(PipelineRunOptions.shape as Record<string, z.ZodType>) };
}
