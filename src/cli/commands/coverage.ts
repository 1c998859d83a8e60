/**
 * `batchline coverage <workdir>`: argv -> `pipelineCoverage` (src/pipeline) for the pipeline the
 * workdir's manifest names: every expected custom_id of every step, succeeded, failed with its
 * reason, or missing. Exits 1 when any is missing.
 */
import type { CAC } from "cac";
import { BatchlineError, type JsonlParseError, UsageError } from "../../core/errors.ts";
import { SkipLog } from "./common.ts";
import { loadPipeline, pipelineCoverage, workdirPipeline } from "../../pipeline/index.ts";

export function registerCoverage(cli: CAC): void {
  cli
    .command("coverage <workdir>", "Account for every expected custom_id of a pipeline run, per step: succeeded, failed (reason) or missing")
    .option("--json", "Print the coverage as JSON")
    .option("--skip-bad", "Report and skip lines of the run's files that are not JSON instead of failing")
    .example("npx batchline coverage runs/lite")
    .action(async (workdir: string, options: { json?: boolean; skipBad?: boolean }) => {
      if (!workdir) throw new UsageError("coverage needs a pipeline --workdir");
      const skipped = new SkipLog();
      const onBadLine = options.skipBad ? (err: JsonlParseError) => skipped.report(err.at, err.message) : undefined;
      const coverage = await pipelineCoverage(await loadPipeline(await workdirPipeline(workdir)), workdir, onBadLine ? { onBadLine } : {});
      skipped.summary("coverage");
      if (options.json) process.stdout.write(JSON.stringify(coverage) + "\n");
      else {
        for (const [step, c] of Object.entries(coverage)) {
          const failed = Object.entries(c.failed).map(([r, n]) => `${r} ${n}`).join(", ");
          process.stdout.write(`${step}: ${c.expected} expected, ${c.succeeded} succeeded, ${Object.values(c.failed).reduce((a, b) => a + b, 0)} failed${failed ? ` (${failed})` : ""}, ${c.missing.length} missing${c.missing.length ? `: ${c.missing.slice(0, 5).join(", ")}${c.missing.length > 5 ? ", ..." : ""}` : ""}\n`);
        }
      }
      const missing = Object.values(coverage).reduce((n, c) => n + c.missing.length, 0);
      if (missing > 0) throw new BatchlineError(`${missing} custom_id(s) unaccounted for in ${workdir}`);
    });
}
