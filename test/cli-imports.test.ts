/**
 * The CLI only turns argv into options and calls the library: no module under src/cli imports
 * anything that runs a pipeline step except through src/pipeline's entry point (index.ts) or a
 * stage/submitter entry point (stages/index.ts + core/stage.ts, submitters/submit-file.ts), and no
 * command runs another command's step. Type-only imports are fine.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "./helpers.ts";

/** Modules that do a step's work; the CLI reaches them only through an entry point. */
const STEP_RUNNERS: Record<string, string> = {
  "src/pipeline/run.ts": "runs pipelines (import src/pipeline/index.ts)",
  "src/pipeline/workdir.ts": "is the engine's manifest and lock",
  "src/agentless/save.ts": "is the proc_step2 sink (run it through src/agentless/run-stage.ts or a pipeline)",
  "src/agentless/steps.ts": "holds the stage transforms (run them through stages/index.ts)",
  "src/agentless/build-sample.ts": "builds samples inside proc_step2",
  "src/agentless/build-sample-worker.ts": "builds samples inside proc_step2",
  "src/submitters/direct-runner.ts": "runs direct submits (use submitters/submit-file.ts)",
  "src/submitters/openai-batch.ts": "is a backend (use submitters/submit-file.ts)",
  "src/submitters/anthropic-batch.ts": "is a backend (use submitters/submit-file.ts)",
  "src/submitters/gemini-batch.ts": "is a backend (use submitters/submit-file.ts)",
  "src/submitters/openai-compatible.ts": "is a backend (use submitters/submit-file.ts)",
  "src/submitters/replay.ts": "is a backend (use submitters/submit-file.ts)",
};
/** Named values that run a step, wherever they are exported from. */
const STEP_FUNCTIONS = new Set(["runBatchJob", "runDirectJob", "saveStep2", "buildSample"]);
/** Command modules that run steps: another command must not call into them. */
const COMMANDS_THAT_RUN_STEPS = new Set(["pipeline.ts", "agentless.ts", "submit.ts", "stage.ts", "demo.ts"]);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

interface Import {
  target: string;
  names: string[];
  typeOnly: boolean;
}

/** Static and dynamic imports of a module, with the value names they bring in. */
function importsOf(text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([\s\S]*?)\s+from\s+"([^"]+)";/gm)) {
    const clause = m[3]!;
    const names = [...clause.matchAll(/(?:^|[{,\s])(type\s+)?([A-Za-z_$][\w$]*)(?:\s+as\s+[\w$]+)?(?=\s*[,}])/g)].filter((n) => !n[1]).map((n) => n[2]!);
    const typeOnly = m[2] !== undefined || (/^\{[\s\S]*\}$/.test(clause.trim()) && names.length === 0);
    out.push({ target: m[4]!, names, typeOnly });
  }
  for (const m of text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)) out.push({ target: m[1]!, names: [], typeOnly: false });
  return out.filter((i) => i.target.startsWith("."));
}

/** What is wrong with the imports of `file` (a path under src/cli) whose text is `text`. */
function violations(file: string, text: string): string[] {
  const problems: string[] = [];
  const from = relative(ROOT, file);
  for (const imp of importsOf(text)) {
    if (imp.typeOnly) continue;
    const target = relative(ROOT, resolve(dirname(file), imp.target));
    if (STEP_RUNNERS[target]) problems.push(`${from} imports ${target}, which ${STEP_RUNNERS[target]}`);
    if (target.startsWith("src/pipeline/") && target !== "src/pipeline/index.ts") problems.push(`${from} imports ${target}: use src/pipeline/index.ts`);
    for (const name of imp.names) if (STEP_FUNCTIONS.has(name)) problems.push(`${from} imports ${name} from ${target}, which runs a step`);
    if (target.startsWith("src/cli/commands/") && COMMANDS_THAT_RUN_STEPS.has(target.slice("src/cli/commands/".length)) && target !== from && !from.endsWith("main.ts")) {
      problems.push(`${from} imports the command ${target}: call the library instead`);
    }
  }
  return problems;
}

describe("src/cli is argv -> options -> one library call", () => {
  it("imports nothing that runs a step except through src/pipeline or a stage/submitter entry point", () => {
    const cli = files(join(ROOT, "src/cli"));
    assert.ok(cli.length > 10, "found the CLI modules");
    assert.deepEqual(cli.flatMap((file) => violations(file, readFileSync(file, "utf8"))), []);
  });

  it("the checker names each kind of violation (what the CLI did before the engine)", () => {
    const file = join(ROOT, "src/cli/commands/pipeline.ts");
    const text = [
      'import { runAgentless } from "./agentless.ts";',
      'import { type SubmitEnv, submit } from "./submit.ts";',
      'import { type Manifest, lockWorkdir } from "../../pipeline/workdir.ts";',
      'import { saveStep2 } from "../../agentless/save.ts";',
      'import { runBatchJob, type BatchJobSummary } from "../../submitters/batch-runner.ts";',
      'import type { AgentlessSide } from "../../agentless/steps.ts";',
      'import { stringOption } from "../options.ts";',
      'const lazy = () => import("../../submitters/replay.ts");',
    ].join("\n");
    assert.deepEqual(violations(file, text), [
      "src/cli/commands/pipeline.ts imports the command src/cli/commands/agentless.ts: call the library instead",
      "src/cli/commands/pipeline.ts imports the command src/cli/commands/submit.ts: call the library instead",
      "src/cli/commands/pipeline.ts imports src/pipeline/workdir.ts, which is the engine's manifest and lock",
      "src/cli/commands/pipeline.ts imports src/pipeline/workdir.ts: use src/pipeline/index.ts",
      "src/cli/commands/pipeline.ts imports src/agentless/save.ts, which is the proc_step2 sink (run it through src/agentless/run-stage.ts or a pipeline)",
      "src/cli/commands/pipeline.ts imports saveStep2 from src/agentless/save.ts, which runs a step",
      "src/cli/commands/pipeline.ts imports runBatchJob from src/submitters/batch-runner.ts, which runs a step",
      "src/cli/commands/pipeline.ts imports src/submitters/replay.ts, which is a backend (use submitters/submit-file.ts)",
    ]);
  });
});
