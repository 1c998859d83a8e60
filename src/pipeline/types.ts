/**
 * The pipeline engine's contract. A pipeline is a definition (`definePipeline`): a name, a
 * description, a zod options schema, and an ordered list of steps. A step is one of five kinds
 * (stage, submit, sink, eval, rounds), each built by its constructor in `steps/` and declaring the
 * workdir files it reads (`in`) and writes (`out`). The engine (`runPipeline`) owns everything
 * every pipeline needs: the workdir, the manifest, the lock, skip/resume/--start-from, rounds,
 * the report and coverage. A definition never does any of that itself.
 */
import type { z } from "zod";
import type { PriceTable } from "../submitters/prices.ts";
import type { SubmitEvent } from "../submitters/submit-events.ts";
import type { SubmitEnv } from "../submitters/submit-file.ts";
import type { PipelineRunOptions } from "./run-options.ts";
import type { JsonlParseError } from "../core/errors.ts";

/** The environment a run may read (API keys, base URLs, HF_* for datasets): passed in, never process.env. */
export type PipelineEnv = SubmitEnv & Record<string, string | undefined>;

/** A failure record as every pipeline writes it (`failures.jsonl`); other fields are kept. */
export interface FailureRecord {
  custom_id: string;
  reason: string;
  stage?: string;
  instance_id?: string;
  detail?: string;
  [key: string]: unknown;
}

/** What a step's run gives back: how many records it produced (0 = empty, see --allow-empty) and its report entry. */
export interface StepResult {
  produced: number;
  summary: Record<string, unknown>;
}

/** What a running step sees. Paths it reads and writes go through `file`, which rounds remap. */
export interface StepContext<Options = Record<string, unknown>> {
  /** The step's name in this run: `proc_step2`, or `round1_proc_step2` inside rounds. */
  name: string;
  /** 0 for the main steps, N inside retry round N. */
  round: number;
  /** Absolute path of the work directory. */
  workdir: string;
  /** The definition's options, parsed by its schema. */
  options: Options;
  /** The engine's options (workdir, backend and its options, rounds, ...). */
  run: PipelineRunOptions;
  env: PipelineEnv;
  /** Absolute path of a workdir file as this step sees it (inside round N, `roundN/<file>` for files the round makes). */
  file(rel: string): string;
  /** Every existing version of a workdir file up to this step, oldest first (the main one, then round 1, 2, ...). */
  versions(rel: string): Promise<string[]>;
  /** True when this step was started before with the same hash and did not finish (resume, don't redo). */
  resume: boolean;
  /** Options given for this step alone (RunContext.stepOptions, by the step's main name). */
  stepOptions: Record<string, unknown>;
  log(line: string): void;
  /** Progress of a long step: logs `<step>: <count> <what> so far` at most every few seconds (RunContext.progressEveryMs); `fraction` (0..1) is how far through its input it is, when known. */
  progress(count: number, what: string, fraction?: number): void;
  /** Set when the run has an `onEvent` subscriber: a submit step sends its submit's events here (instead of log lines). */
  onSubmitEvent?: ((event: SubmitEvent) => void) | undefined;
  signal?: AbortSignal | undefined;
  prices: PriceTable;
  /** Coverage with --skip-bad: a line of a workdir file that is not JSON is reported here and skipped (without it, it throws). */
  onBadLine?: ((error: JsonlParseError) => void) | undefined;
}

/** The five kinds of step. */
export type StepKind = "stage" | "submit" | "sink" | "eval" | "rounds";

/** A step as the engine runs it; build one with `stage`, `submit`, `sink`, `evaluate` or `rounds`. */
export interface Step<Options = any> {
  /** `selection` is the engine's own first step of each retry round. */
  readonly kind: Exclude<StepKind, "rounds"> | "selection";
  readonly name: string;
  /** Workdir files (relative) it reads: their bytes are part of its hash. */
  readonly in: readonly string[];
  /** Workdir files or directories (ending in `/`) it writes. */
  readonly out: readonly string[];
  /** Workdir file of failure records (`FailureRecord` lines) it writes, if any. */
  readonly failures?: string | undefined;
  /** What, besides its inputs' bytes, decides its output (hashed); run-to-run noise such as worker counts stays out. */
  hashed(ctx: StepContext<Options>): unknown;
  run(ctx: StepContext<Options>): Promise<StepResult>;
  /** Coverage: the custom_ids this step should account for, and the outcome of each ("ok", a failure reason, or undefined = missing). */
  account?(ctx: StepContext<Options>): Promise<StepAccount>;
}

/** The per-step accounting `coverage` reports. */
export interface StepAccount {
  expected: Iterable<string>;
  outcome(customId: string): string | undefined;
}

/** Which failures a retry round picks up, and the step it restarts them from. */
export type RetryRule =
  /** custom_ids whose answer from submit step `from` failed as a request (HTTP error, expired, cancelled, no response). */
  | { from: string; failedRequests: true }
  /** custom_ids with a failure record in `failures` (a workdir file) for which `when` holds; they restart at `from` (a submit step). */
  | { from: string; failures: string; when?: (failure: FailureRecord) => boolean; rewrite?: RetryRewrite };

/**
 * Builds the request a retry round sends for one picked line (a repair that carries the error back
 * to the model) from the request that line had in the main run; undefined sends it unchanged.
 * It runs inside the round's selection, so its result is fixed for that round on a re-run.
 */
export type RetryRewrite = (request: unknown, ctx: { workdir: string; round: number; failure: FailureRecord | undefined }) => Promise<unknown>;

/** The rounds step: after the main steps, re-request what failed, up to `--rounds N` times. */
export interface RoundsStep {
  readonly kind: "rounds";
  readonly name: "rounds";
  readonly retry: readonly RetryRule[];
  /** Short names for steps inside rounds (`round1_submit` for `submit_step2`); default: the step's own name. */
  readonly names: Readonly<Record<string, string>>;
}

/** A pipeline definition: one file per pipeline, named after it, holding its whole step list. */
export interface PipelineDefinition<Schema extends z.ZodObject = z.ZodObject> {
  /** Registry name, kebab-case (`agentless-bugfixer`). */
  name: string;
  /** One line for `pipeline --list` and the head of `pipeline <name> --help`. */
  description: string;
  /** The pipeline's own options (the engine's common ones are added to it). Keys camelCase, `.describe()`d for help. */
  options: Schema;
  /** Option keys that never change any output (worker counts): left out of every step's hash. */
  volatile?: readonly string[];
  /** The steps in order; `rounds`, if present, comes last. */
  steps: readonly (Step<z.infer<Schema>> | RoundsStep)[];
  /** Checks before the first step (dataset reachable, directories present); throw a UsageError naming the option. */
  preflight?(ctx: { options: z.infer<Schema>; run: PipelineRunOptions; env: PipelineEnv; workdir: string }): Promise<void>;
  /** An example command for help. */
  example?: string;
  /**
   * Engine options that follow from the definition's own when not given (swe-testgen: the workdir
   * is `<output>/<run-id>`, `--start-from` is `--start-from-phase`). Gets the parsed own options.
   */
  engineDefaults?(options: z.infer<Schema>): Partial<Record<"workdir" | "startFrom", string | undefined>>;
}

/** What `runPipeline` takes besides the options: the environment, where log lines go, an abort signal. */
export interface RunContext {
  env?: PipelineEnv;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Backend options for one submit step only (`{ submit_step1: { baseUrl } }`), also inside rounds. */
  stepOptions?: Record<string, Record<string, unknown>>;
  /** ms between progress lines of a long step (default 5000). */
  progressEveryMs?: number;
  /**
   * Structured progress for a renderer: each step's start, progress and end, each submit's events,
   * and every other line `log` gets, once each. With it, a submit step's lines come as `submit`
   * events and no longer through `log`.
   */
  onEvent?: (event: PipelineEvent) => void;
}

/** What a running pipeline emits through `RunContext.onEvent`. */
export type PipelineEvent =
  | { type: "step-started"; step: string; kind: Step["kind"]; resume: boolean }
  /** At most a few times a second: `count` `what` so far, and how far through its input the step is (0..1) when known. */
  | { type: "step-progress"; step: string; count: number; what: string; fraction?: number }
  | { type: "step-finished"; step: string; summary: Record<string, unknown>; seconds: number; skipped: boolean }
  | { type: "submit"; step: string; event: SubmitEvent }
  /** Any other line (the run lock, a retry round with nothing to do, a step's own notes). */
  | { type: "message"; text: string };

/** The report written to `<workdir>/report.json`. */
export interface PipelineReport {
  pipeline: string;
  workdir: string;
  finishedAt: string;
  wallSeconds: number;
  /** Per step in run order: its summary (counts, failures by reason, tokens and cost for submits). */
  steps: Record<string, Record<string, unknown>>;
  stepSeconds: Record<string, number | null>;
  /** Steps that produced nothing (no records, no answers, no samples). */
  empty: string[];
  /** Why the run counts as failed though every step ran: a step produced nothing and --allow-empty was not given. */
  error?: string;
  priceTableDate: string;
}
