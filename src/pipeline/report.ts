/** The report of a run as a few readable lines for stderr; an empty step is said loudly. */
import { oneLine } from "./run.ts";
import type { PipelineReport } from "./types.ts";

export function formatPipelineReport(report: PipelineReport): string[] {
  const lines = [`${report.pipeline} in ${report.workdir}: ${report.wallSeconds.toFixed(1)} s`];
  for (const [name, s] of Object.entries(report.steps)) {
    const seconds = report.stepSeconds[name];
    lines.push(`  ${name}: ${oneLine(s)}${seconds === null || seconds === undefined ? "" : ` [${seconds.toFixed(1)} s]`}`);
  }
  for (const name of report.empty) {
    lines.push(`EMPTY: ${name} produced nothing: look at its failures in the report above and in ${report.workdir}${report.error ? " (pass --allow-empty to accept an empty step)" : ""}`);
  }
  return lines;
}
