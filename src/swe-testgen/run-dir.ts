/**
 * A swe-testgen run directory, laid out as SWE-ABS Stage 1 lays out `<output>/<run-id>/`:
 * preds.json (+ its lock), stage1_automation_report.json, logs/stage1_automation.log and
 * logs/<phase>_<ts>.log, exit_statuses/<phase>_exit_statuses_<ts>.yaml. batchline adds
 * requests/ and answers/ (every batch sent and its answers, so nothing is paid twice),
 * logs/<phase>/<instance>/{gold,base}.log (test output) and swe_testgen_run.json (what the run
 * was started with, checked by --start-from-phase).
 */
import { createReadStream } from "node:fs";
import { appendFile, mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { idFileName } from "../core/custom-id.ts";
import { UsageError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { type Answer, answerOf } from "../agentless/answers.ts";
import type { BatchOutput } from "../../schemas/openai-batch-output.ts";
import type { Runner } from "../runners/types.ts";
import type { PhaseEnv, PhaseName, PhaseOptions, PromptRequest } from "./phases.ts";
import { type PredsInstance, updatePreds } from "./preds-store.ts";

/** The files of a run directory. */
export function runFiles(dir: string) {
  return {
    preds: join(dir, "preds.json"),
    report: join(dir, "stage1_automation_report.json"),
    mainLog: join(dir, "logs", "stage1_automation.log"),
    runConfig: join(dir, "swe_testgen_run.json"),
  };
}

/** What identifies a run: --start-from-phase must be given the same. */
export interface RunIdentity {
  output: string;
  model: string;
  run_id: string;
}

/**
 * Checks --start-from-phase against the run it resumes (the guide: --output, --model and
 * --run-id must be identical) and records the identity of a new run.
 */
export async function checkRunIdentity(dir: string, identity: RunIdentity, startFromPhase: string | undefined): Promise<void> {
  const file = runFiles(dir).runConfig;
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (startFromPhase !== undefined) {
    if (text === undefined) {
      const preds = await stat(runFiles(dir).preds).catch(() => undefined);
      if (!preds) throw new UsageError(`--start-from-phase ${startFromPhase}: no earlier run in ${dir} (no preds.json): give the --output and --run-id of the run to resume`);
      // a preds.json the original wrote: nothing to compare with
      await writeFileAtomic(file, `${JSON.stringify(identity, null, 2)}\n`);
      return;
    }
    const before = JSON.parse(text) as RunIdentity;
    const diff = (["output", "model", "run_id"] as const).filter((k) => before[k] !== identity[k]);
    if (diff.length > 0) {
      throw new UsageError(`--start-from-phase ${startFromPhase}: ${diff.map((k) => `--${k.replace("_", "-")} ${JSON.stringify(identity[k])} differs from the run being resumed (${JSON.stringify(before[k])})`).join("; ")}; resume with the same --output, --model and --run-id`);
    }
    return;
  }
  if (text === undefined) await writeFileAtomic(file, `${JSON.stringify(identity, null, 2)}\n`);
}

function timestamp(): number {
  return Math.floor(Date.now() / 1000);
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

/** Exit statuses as mini-swe-agent's batch progress writes them: `instances_by_exit_status: {status: [ids]}`. */
export function exitStatusesYaml(statuses: ReadonlyMap<string, string>): string {
  const by = new Map<string, string[]>();
  for (const [id, s] of statuses) by.set(s, [...(by.get(s) ?? []), id]);
  if (by.size === 0) return "instances_by_exit_status: {}\n";
  const lines = ["instances_by_exit_status:"];
  for (const [s, ids] of by) {
    lines.push(`    ${yamlString(s)}:`);
    for (const id of ids) lines.push(`    - ${yamlString(id)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The model name for the request body: litellm's provider prefixes (`openai/gpt-5`) name no model of the API. */
export function apiModelName(model: string): string {
  return model.replace(/^(openai|anthropic|azure|deepseek)\//, "");
}

export interface RunDirOptions {
  dir: string;
  options: PhaseOptions;
  runner: () => Promise<Runner>;
  /** Sends `requests` (a request file) and writes every answer to `output` (OpenAI Batch output lines). */
  submit: (requests: string, output: string, label: string) => Promise<void>;
  /** Where log lines also go (stderr in the CLI). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** The PhaseEnv of a run directory: files, logs and requests as the layout above says. */
export async function openRunDir(o: RunDirOptions): Promise<PhaseEnv & { phaseStarted(phase: PhaseName): void }> {
  const files = runFiles(o.dir);
  for (const sub of ["logs", "exit_statuses", "requests", "answers"]) await mkdir(join(o.dir, sub), { recursive: true });
  let phaseLog: string | undefined;
  const log = (line: string) => {
    const stamped = `${new Date().toISOString()} - ${line}\n`;
    o.log?.(line);
    void appendFile(files.mainLog, stamped);
    if (phaseLog) void appendFile(phaseLog, stamped);
  };
  return {
    options: o.options,
    runner: o.runner,
    log,
    ...(o.signal ? { signal: o.signal } : {}),
    phaseStarted(phase) {
      const name = phase === "test_gen" ? "test_generation" : phase;
      phaseLog = join(o.dir, "logs", `${name}_${timestamp()}.log`);
    },
    async ask(label: string, requests: readonly PromptRequest[]): Promise<Map<string, Answer>> {
      const answers = new Map<string, Answer>();
      if (requests.length === 0) return answers;
      const reqFile = join(o.dir, "requests", `${label}.jsonl`);
      const outFile = join(o.dir, "answers", `${label}.jsonl`);
      const body = (prompt: string) => ({ model: apiModelName(o.options.model), messages: [{ role: "user", content: prompt }], temperature: o.options.temperature, max_tokens: o.options.maxTokens });
      await writeFileAtomic(reqFile, requests.map((r) => `${JSON.stringify({ custom_id: r.custom_id, method: "POST", url: "/v1/chat/completions", body: body(r.prompt) })}\n`).join(""));
      await o.submit(reqFile, outFile, label);
      for await (const { value } of readJsonl(createReadStream(outFile), { file: outFile })) {
        const line = value as BatchOutput;
        if (typeof line.custom_id === "string") answers.set(line.custom_id, answerOf(line));
      }
      return answers;
    },
    async save(instances: readonly PredsInstance[]) {
      const byId = new Map(instances.map((i) => [String(i.instance_id), i]));
      await updatePreds(files.preds, byId.keys(), (id) => byId.get(id)!);
    },
    async exitStatuses(phase, statuses) {
      await writeFileAtomic(join(o.dir, "exit_statuses", `${phase}_exit_statuses_${timestamp()}.yaml`), exitStatusesYaml(statuses));
    },
    async evalLogs(phase, instanceId, logs) {
      const dir = join(o.dir, "logs", phase, idFileName(instanceId));
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(join(dir, "gold.log"), logs.gold);
      await writeFileAtomic(join(dir, "base.log"), logs.base);
    },
  };
}
