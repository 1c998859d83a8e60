/** `batchline pipeline <name> --help` and `pipeline --list`, generated from the definitions. */
import { mainSteps, optionRows, roundsOf } from "./define.ts";
import type { PipelineDefinition } from "./types.ts";

function table(rows: [string, string][]): string[] {
  const width = Math.max(0, ...rows.map(([f]) => f.length)) + 2;
  return rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`);
}

/** The help of one pipeline: usage, description, its steps, its own options, then the engine's. */
export function pipelineHelp(definition: PipelineDefinition): string {
  const { own, engine } = optionRows(definition);
  const steps = mainSteps(definition).map((s) => s.name);
  if (roundsOf(definition)) steps.push("retry rounds");
  const lines = [
    // a definition that derives the workdir from its own options (engineDefaults) does not need --workdir
    `batchline pipeline ${definition.name} ${definition.engineDefaults ? "" : "--workdir <dir> "}--backend <name> [options]`,
    "",
    definition.description,
    "",
    `Steps: ${steps.join(" -> ")}`,
    "",
    `Options of ${definition.name}:`,
    ...table(own),
    "",
    "Options of every pipeline:",
    ...table([...engine, ["-q, --quiet", "only the report at the end"]]),
  ];
  if (definition.example) lines.push("", "Example:", `  ${definition.example}`);
  return lines.join("\n") + "\n";
}

/** One line per pipeline: name and description. */
export function pipelineList(definitions: readonly PipelineDefinition[]): string {
  const width = Math.max(0, ...definitions.map((d) => d.name.length)) + 2;
  return definitions.map((d) => `${d.name.padEnd(width)}${d.description}`).join("\n") + "\n";
}
