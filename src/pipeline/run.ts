/**
 * `runPipeline`: runs (or resumes) a pipeline definition in a work directory.
 *
 * - Before the first step: every option is checked (the definition's schema and the engine's,
 *   the backend, replay recordings, the workdir, the definition's own preflight).
 * - The workdir has a run lock; a lock left by a dead process is taken over.
 * - `manifest.json` records each finished step with a hash of its input files' bytes and of the
 *   options that change its output. A finished step whose hash is unchanged is skipped; once one
 *   step runs, every later step runs too (they may share a sink's folder). `--start-from S`
 *   redoes S and everything after it. A step started and killed resumes with the same hash
 *   (a submit from its own state: nothing paid twice) and starts over with another.
 * - Retry rounds (see steps/rounds.ts) run after the main steps.
 * - The report (`report.json`) gives every step's counts, failures by reason, tokens and cost,
 *   and wall time; a main step that produced nothing (counting its rounds) is listed in `empty`.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { UsageError } from "../core/errors.ts";
import { BUNDLED_PRICES, type PriceTable, loadPriceTable } from "../submitters/prices.ts";
import { checkBackendOptions } from "../submitters/submit-file.ts";
import { mainSteps, parsePipelineOptions, roundsOf } from "./define.ts";
import { answerOutcomes, customIds, failureRecords, records } from "./files.ts";
import { backendOptionsOf } from "./run-options.ts";
import type { PipelineRunOptions } from "./run-options.ts";
import { writeLines } from "./steps/stage.ts";
import { type SubmitStepOptions, replayFile } from "./steps/submit.ts";
import type { FailureRecord, PipelineDefinition, PipelineEnv, PipelineReport, RetryRule, RoundsStep, RunContext, Step, StepContext, StepResult } from "./types.ts";
import { type Manifest, loadManifest, lockWorkdir, outputsExist, saveManifest, stepHash } from "./workdir.ts";

/** A step as one run executes it: its run name, round, and the files the round makes. */
interface Scheduled {
  step: Step;
  runName: string;
  round: number;
  /** Workdir files this round makes (read and written under `round<N>/`). */
  roundFiles: ReadonlySet<string>;
  /** After the step: append these retry picks (a file under `round<N>/`) to this output. */
  append?: { into: string; from: string };
}

/** Existing versions of a workdir file: the main one, then round 1..upTo. */
async function versionsOf(W: string, rel: string, upTo: number): Promise<string[]> {
  const out: string[] = [];
  for (let n = 0; n <= upTo; n++) {
    const path = n === 0 ? join(W, rel) : join(W, `round${n}`, rel);
    if (await stat(path).then(() => true, () => false)) out.push(path);
  }
  return out;
}

/** Checks everything that can be checked before the first step; throws a UsageError naming the option. */
async function preflight(definition: PipelineDefinition, run: PipelineRunOptions, options: Record<string, unknown>, env: PipelineEnv, rc: RunContext, W: string): Promise<void> {
  const st = await stat(W).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError(`--workdir ${run.workdir}: is a file, not a directory`);
  const steps = mainSteps(definition);
  const names = stepNames(definition, run.rounds);
  if (run.startFrom !== undefined && !names.includes(run.startFrom)) {
    throw new UsageError(`--start-from ${run.startFrom}: not a step of ${definition.name}; steps: ${names.join(", ")}`);
  }
  for (const step of steps) {
    if (step.kind !== "submit") continue;
    const o = (step as Step & { submitOptions?: SubmitStepOptions<Record<string, unknown>> }).submitOptions;
    const backendOptions = { ...backendOptionsOf(run), ...(rc.stepOptions?.[step.name] ?? {}) };
    const from = o ? replayFile(options, o) : undefined;
    if (run.backend === "replay" && !from && backendOptions.from === undefined) {
      throw new UsageError(`--backend replay needs ${o?.replay ? `--${o.replay.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : "a recording"} <recorded output.jsonl> for ${step.name}`);
    }
    await checkBackendOptions(run.backend, { ...backendOptions, ...(from ? { from } : {}) }, env);
  }
  await definition.preflight?.({ options, run, env, workdir: W });
}

/**
 * Runs `definition` with `rawOptions` (camelCase keys; the engine's and the definition's options
 * together). Resolves to the report, also written to `<workdir>/report.json`; throws a
 * `BatchlineError` for bad options or a failed step. A report with `empty` steps is a run that
 * produced nothing somewhere: the CLI exits 1 for it unless `--allow-empty`.
 */
export async function runPipeline(definition: PipelineDefinition, rawOptions: Record<string, unknown>, rc: RunContext = {}): Promise<PipelineReport> {
  const { run, options } = parsePipelineOptions(definition, rawOptions);
  const env: PipelineEnv = rc.env ?? {};
  // Every line goes to `log`; the engine's own step lines go to `onEvent` as step events, the rest as messages.
  const emit = rc.onEvent ?? (() => {});
  const log = (line: string): void => {
    rc.log?.(line);
    emit({ type: "message", text: line });
  };
  const W = resolve(run.workdir);
  await preflight(definition, run, options, env, rc, W);
  const prices: PriceTable = run.priceTable ? await loadPriceTable(run.priceTable) : BUNDLED_PRICES;

  await mkdir(W, { recursive: true });
  const release = await lockWorkdir(W, log);
  const started = Date.now();
  try {
    const manifest: Manifest = await loadManifest(W, definition.name);
    const startedHashes = (manifest.started ??= {});
    const order: string[] = [];
    const results = new Map<string, StepResult>();
    let dirty = false;

    const every = rc.progressEveryMs ?? 5000;
    const contextFor = (s: Scheduled, resume: boolean): StepContext => {
      let last = Date.now();
      let lastEvent = 0;
      return {
      name: s.runName,
      round: s.round,
      workdir: W,
      options,
      run,
      env,
      file: (rel) => (s.round > 0 && s.roundFiles.has(rel) ? join(W, `round${s.round}`, rel) : join(W, rel)),
      versions: (rel) => versionsOf(W, rel, s.round),
      resume,
      stepOptions: rc.stepOptions?.[s.step.name] ?? {},
      log: (line) => log(line),
      progress: (count, what, fraction) => {
        const now = Date.now();
        if (rc.onEvent && now - lastEvent >= 200) {
          lastEvent = now;
          emit({ type: "step-progress", step: s.runName, count, what, ...(fraction !== undefined ? { fraction } : {}) });
        }
        if (now - last < every) return;
        last = now;
        rc.log?.(`${s.runName}: ${count} ${what} so far`);
      },
      onSubmitEvent: rc.onEvent ? (event) => emit({ type: "submit", step: s.runName, event }) : undefined,
      signal: rc.signal,
      prices,
      };
    };

    const runStep = async (s: Scheduled): Promise<StepResult> => {
      rc.signal?.throwIfAborted();
      order.push(s.runName);
      if (run.startFrom === s.runName) dirty = true;
      const probe = contextFor(s, false);
      // Volatile options (worker counts) are dropped at any depth of what the step hashes.
      const volatile = definition.volatile ?? [];
      const hashed = JSON.parse(JSON.stringify({ kind: s.step.kind, of: s.step.hashed(probe) ?? null }, (k, v) => (volatile.includes(k) ? undefined : v)));
      const inputs = s.step.in.map((rel) => probe.file(rel));
      const outputs = s.step.out.map((rel) => probe.file(rel));
      const hash = await stepHash(s.runName, hashed, inputs);
      const done = manifest.steps[s.runName];
      if (!dirty && done && done.hash === hash && (await outputsExist(outputs))) {
        rc.log?.(`${s.runName}: done earlier, inputs and options unchanged: skipped`);
        // A manifest written before steps recorded their counts: count the step as having produced something.
        const result = { produced: done.produced ?? 1, summary: done.summary ?? {} };
        results.set(s.runName, result);
        emit({ type: "step-finished", step: s.runName, summary: result.summary, seconds: 0, skipped: true });
        return result;
      }
      dirty = true;
      const t0 = Date.now();
      const resume = startedHashes[s.runName] === hash && !done;
      rc.log?.(`${s.runName}: ${resume ? "resuming" : "running"}`);
      emit({ type: "step-started", step: s.runName, kind: s.step.kind, resume });
      delete manifest.steps[s.runName];
      startedHashes[s.runName] = hash;
      await saveManifest(W, manifest);
      const result = await s.step.run(contextFor(s, resume));
      if (s.append) {
        const appended = await appendPicks(s.append.into, s.append.from);
        result.produced += appended;
        result.summary = { ...result.summary, appended };
      }
      const seconds = (Date.now() - t0) / 1000;
      manifest.steps[s.runName] = { hash, finishedAt: new Date().toISOString(), seconds, outputs, produced: result.produced, summary: result.summary };
      await saveManifest(W, manifest);
      rc.log?.(`${s.runName}: ${oneLine(result.summary)} (${seconds.toFixed(1)} s)`);
      emit({ type: "step-finished", step: s.runName, summary: result.summary, seconds, skipped: false });
      results.set(s.runName, result);
      return result;
    };

    const steps = mainSteps(definition);
    for (const step of steps) await runStep({ step, runName: step.name, round: 0, roundFiles: new Set() });
    const roundsStep = roundsOf(definition);
    if (roundsStep) await runRounds(roundsStep, steps, run.rounds, W, runStep, log);

    // A main step produced nothing when neither it nor any of its round versions did.
    const produced = new Map<string, number>();
    for (const [runName, r] of results) {
      const base = steps.find((s) => s.name === runName || roundName(roundsStep, s.name, runName))?.name;
      if (base) produced.set(base, (produced.get(base) ?? 0) + r.produced);
    }
    const empty = steps.map((s) => s.name).filter((n) => produced.get(n) === 0);
    const report: PipelineReport = {
      pipeline: definition.name,
      workdir: W,
      finishedAt: new Date().toISOString(),
      wallSeconds: (Date.now() - started) / 1000,
      steps: Object.fromEntries(order.map((n) => [n, results.get(n)?.summary ?? {}])),
      stepSeconds: Object.fromEntries(order.map((n) => [n, manifest.steps[n]?.seconds ?? null])),
      empty,
      priceTableDate: prices.date,
    };
    if (empty.length > 0 && !run.allowEmpty) report.error = `${empty.join(", ")} produced nothing (pass --allow-empty to accept that)`;
    await writeFileAtomic(join(W, "report.json"), JSON.stringify(report, null, 2) + "\n");
    return report;
  } finally {
    await release();
  }
}

/** Every step name a run with `rounds` retry rounds can have, in order (what --start-from takes). */
export function stepNames(definition: PipelineDefinition, rounds: number): string[] {
  const steps = mainSteps(definition);
  const names = steps.map((s) => s.name);
  const r = roundsOf(definition);
  if (!r) return names;
  const first = Math.min(...r.retry.map((rule) => steps.findIndex((s) => s.name === rule.from)));
  for (let n = 1; n <= rounds; n++) names.push(`round${n}_requests`, ...steps.slice(first).map((s) => `round${n}_${r.names[s.name] ?? s.name}`));
  return names;
}

/** True when `runName` is step `base` inside some round. */
function roundName(rounds: RoundsStep | undefined, base: string, runName: string): boolean {
  const m = /^round\d+_(.+)$/.exec(runName);
  return m !== null && m[1] === (rounds?.names[base] ?? base);
}

/** A summary as `key value, ...` for a log line. */
export function oneLine(summary: Record<string, unknown>): string {
  return Object.entries(summary)
    .map(([k, v]) => `${k} ${typeof v === "object" && v !== null ? JSON.stringify(v) : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : String(v)}`)
    .join(", ");
}

/** Appends the lines of `from` whose custom_id `into` lacks; returns how many. */
async function appendPicks(into: string, from: string): Promise<number> {
  const have = new Set(await customIds(into));
  const lines: string[] = [];
  for await (const rec of records(into)) lines.push(rec.text);
  let added = 0;
  for await (const rec of records(from)) {
    const id = (rec.value as { custom_id?: string }).custom_id;
    if (id === undefined || have.has(id)) continue;
    have.add(id);
    lines.push(rec.text);
    added++;
  }
  if (added > 0) await writeLines(into, lines);
  return added;
}

/** The current failures of a rule's failure file: a sink's file as it is; a round-made file folded over the rounds. */
async function currentFailures(W: string, rule: Extract<RetryRule, { failures: string }>, steps: Step[], round: number): Promise<Map<string, FailureRecord>> {
  const state = new Map<string, FailureRecord>();
  const producer = steps.find((s) => s.failures === rule.failures || s.out.includes(rule.failures));
  for await (const f of failureRecords(join(W, rule.failures))) state.set(f.custom_id, f);
  if (producer && producer.kind !== "sink") {
    for (let k = 1; k < round; k++) {
      const dir = join(W, `round${k}`);
      const file = join(dir, rule.failures);
      if (!(await stat(file).then(() => true, () => false))) continue;
      if (producer.in[0]) for (const id of await customIds(join(dir, producer.in[0]))) state.delete(id);
      for await (const f of failureRecords(file)) state.set(f.custom_id, f);
    }
  }
  return state;
}

/** The custom_ids a rule picks before round `round`. */
async function picksOf(W: string, rule: RetryRule, steps: Step[], round: number): Promise<string[]> {
  if ("failedRequests" in rule) {
    const from = steps.find((s) => s.name === rule.from)!;
    const outcomes = await answerOutcomes(await versionsOf(W, from.out[0]!, round - 1));
    return [...outcomes].filter(([, o]) => o !== "ok").map(([id]) => id);
  }
  const failures = await currentFailures(W, rule, steps, round);
  return [...failures.values()].filter((f) => rule.when?.(f) ?? true).map((f) => f.custom_id);
}

/** The request lines (text) of `ids` found in any version of `rel` before round `round`, in file order. */
async function requestLines(W: string, rel: string, ids: Set<string>, round: number): Promise<string[]> {
  const found = new Map<string, string>();
  for (const path of await versionsOf(W, rel, round - 1)) {
    for await (const rec of records(path)) {
      const id = (rec.value as { custom_id?: string }).custom_id;
      if (id !== undefined && ids.has(id)) found.set(id, rec.text);
    }
  }
  return [...found.values()];
}

/** The picked lines as the rule's `rewrite` makes them, from each id's main-run request and its current failure. */
async function rewriteLines(W: string, rule: Extract<RetryRule, { failures: string }>, steps: Step[], lines: string[], round: number): Promise<string[]> {
  const failures = await currentFailures(W, rule, steps, round);
  const from = steps.find((s) => s.name === rule.from)!;
  const original = new Map<string, string>();
  for await (const rec of records(join(W, from.in[0]!))) {
    const id = (rec.value as { custom_id?: string }).custom_id;
    if (id !== undefined) original.set(id, rec.text);
  }
  const out: string[] = [];
  for (const line of lines) {
    const id = (JSON.parse(line) as { custom_id: string }).custom_id;
    const base = JSON.parse(original.get(id) ?? line) as unknown;
    const rewritten = await rule.rewrite!(base, { workdir: W, round, failure: failures.get(id) });
    out.push(rewritten === undefined ? line : JSON.stringify(rewritten));
  }
  return out;
}

/** Retry rounds: pick, copy the picked request lines into round<N>/, run the chain of steps again on them. */
async function runRounds(rounds: RoundsStep, steps: Step[], count: number, W: string, runStep: (s: Scheduled) => Promise<StepResult>, log: (line: string) => void): Promise<void> {
  const indexOf = (name: string) => steps.findIndex((s) => s.name === name);
  const first = Math.min(...rounds.retry.map((r) => indexOf(r.from)));
  const chain = steps.slice(first);
  for (let n = 1; n <= count; n++) {
    const dir = join(W, `round${n}`);
    // The selection is a step too: done once per round, so a re-run picks the same lines.
    const selection: Step = {
      kind: "selection",
      name: `round${n}_requests`,
      in: [],
      out: [],
      hashed: () => ({ round: n, rules: rounds.retry.map((r) => ({ ...r, when: "when" in r && r.when ? String(r.when) : null })) }),
      async run() {
        const picked = new Set<string>();
        const byStep: Record<string, number> = {};
        const starts: string[] = [];
        for (const rule of rounds.retry) {
          const ids = new Set((await picksOf(W, rule, steps, n)).filter((id) => !picked.has(id)));
          const from = steps[indexOf(rule.from)]!;
          let lines = await requestLines(W, from.in[0]!, ids, n);
          if ("rewrite" in rule && rule.rewrite) lines = await rewriteLines(W, rule, steps, lines, n);
          for (const line of lines) picked.add((JSON.parse(line) as { custom_id: string }).custom_id);
          byStep[rule.from] = (byStep[rule.from] ?? 0) + lines.length;
          await writeLines(join(dir, `retry_${rule.from}.jsonl`), lines);
          if (lines.length > 0) starts.push(rule.from);
        }
        await writeFileAtomic(join(dir, "retry.json"), JSON.stringify({ starts }) + "\n");
        return { produced: picked.size, summary: { requests: picked.size, ...(rounds.retry.length > 1 ? { from: byStep } : {}) } };
      },
    };
    const picked = await runStep({ step: selection, runName: selection.name, round: n, roundFiles: new Set() });
    if (picked.produced === 0) {
      log(`round${n}: nothing left to retry`);
      break;
    }
    const { starts } = JSON.parse(await readFile(join(dir, "retry.json"), "utf8")) as { starts: string[] };
    const startAt = Math.min(...starts.map(indexOf));
    const roundSteps = steps.slice(startAt).filter((s) => chain.includes(s));
    // Files made in this round: every output of a non-sink step that runs, and the picked request files.
    const roundFiles = new Set<string>();
    for (const s of roundSteps) if (s.kind !== "sink") for (const f of [...s.out, ...(s.failures ? [s.failures] : [])]) roundFiles.add(f);
    for (const s of roundSteps) {
      const scheduled: Scheduled = { step: s, runName: `round${n}_${rounds.names[s.name] ?? s.name}`, round: n, roundFiles };
      if (s.kind === "submit" && starts.includes(s.name)) {
        const requests = s.in[0]!;
        const madeHere = roundSteps.slice(0, roundSteps.indexOf(s)).some((p) => p.kind !== "sink" && p.out.includes(requests));
        if (!madeHere) {
          roundFiles.add(requests);
          await copyLines(join(dir, `retry_${s.name}.jsonl`), join(dir, requests));
        }
      }
      // A stage that makes a later retried submit's requests gets that submit's picks appended.
      const target = roundSteps.find((t) => t.kind === "submit" && starts.includes(t.name) && s.kind !== "sink" && s.kind !== "submit" && s.out.includes(t.in[0]!));
      if (target) scheduled.append = { into: join(dir, target.in[0]!), from: join(dir, `retry_${target.name}.jsonl`) };
      await runStep(scheduled);
    }
  }
}

/** Copies the lines of `from` to `to` (atomically; the same bytes on a re-run). */
async function copyLines(from: string, to: string): Promise<void> {
  const lines: string[] = [];
  for await (const rec of records(from)) lines.push(rec.text);
  await writeLines(to, lines);
}
