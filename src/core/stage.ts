/**
 * Stages: a stage is a pure async-generator transform with zod schemas for its input records,
 * output records and options. `runStage` validates every record in and out and attaches
 * file:line (custom_id) to every error, whichever side it comes from.
 */
import type { z } from "zod";
import { type Issue, type Location, BatchlineError, RecordError, RecordValidationError, UsageError, hasLocation } from "./errors.ts";
import { type JsonlRecord, customIdOf, locationOf } from "./jsonl.ts";

/** What a transform gets besides its records: validated options and read-only side inputs. */
export interface StageContext<Options, Side = unknown> {
  options: Options;
  side: Side;
  /** Where the record the transform pulled last came from (for messages the transform builds). */
  at(): Location;
}

/** A stage definition. `name` is its path under `stages/` without `.ts`, e.g. `requests/rewrite`. */
export interface Stage<In = any, Out = any, Options = any, Side = unknown> {
  name: string;
  description: string;
  input: z.ZodType<In>;
  output: z.ZodType<Out>;
  options: z.ZodType<Options>;
  transform(records: AsyncIterable<In>, ctx: StageContext<Options, Side>): AsyncIterable<Out>;
  /**
   * The transform maps each record on its own (one output per input, nothing kept from one
   * record to the next, no side inputs), so batches of the input may run on worker threads
   * (src/internal/stage-workers.ts) and give the same output.
   */
  perRecord?: boolean;
}

/** Identity, for type inference: `export default defineStage({...})`. */
export function defineStage<In, Out, Options, Side = unknown>(stage: Stage<In, Out, Options, Side>): Stage<In, Out, Options, Side> {
  return stage;
}

/** One record that failed validation and was skipped under the skip policy. */
export interface SkippedRecord {
  at: Location;
  error: BatchlineError;
}

/** How `runStage` is run: where records come from, raw options, side inputs, and the skip policy. */
export interface RunStageOptions<Side = unknown> {
  file: string;
  options?: unknown;
  side?: Side;
  /** With it, input records that fail validation are reported here and skipped; without it, they throw. */
  onSkip?: (skipped: SkippedRecord) => void;
}

/** Turns zod issues into `{path, message}` pairs with dotted paths (`body.messages[0].role`). */
export function flattenIssues(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join(""),
    message: issue.message,
  }));
}

/** Validates a stage's raw options, with a usage error naming every bad option. */
export function parseStageOptions<Options>(stage: Stage<any, any, Options>, raw: unknown): Options {
  const result = stage.options.safeParse(raw ?? {});
  if (result.success) return result.data;
  const detail = result.error.issues
    .map((issue) => {
      if (issue.code === "unrecognized_keys") return `unknown option ${issue.keys.map((k) => `--${kebab(k)}`).join(", ")}`;
      const path = issue.path.map(String).join(".");
      return path ? `--${kebab(path)}: ${issue.message}` : issue.message;
    })
    .join("; ");
  throw new UsageError(`${stage.name}: bad options: ${detail}`);
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Runs a stage over parsed JSONL records: validates each input (file:line:custom_id on failure),
 * feeds the transform, validates each output against the record it came from, and yields outputs.
 */
export async function* runStage<In, Out, Options, Side>(
  stage: Stage<In, Out, Options, Side>,
  records: AsyncIterable<JsonlRecord>,
  run: RunStageOptions<Side>,
): AsyncGenerator<Out> {
  const options = parseStageOptions(stage, run.options);
  let current: Location = { file: run.file };

  async function* validated(): AsyncGenerator<In> {
    for await (const record of records) {
      current = locationOf(run.file, record);
      const result = stage.input.safeParse(record.value);
      if (result.success) {
        yield result.data;
        continue;
      }
      const error = new RecordValidationError(current, `${stage.name} input`, flattenIssues(result.error));
      if (!run.onSkip) throw error;
      run.onSkip({ at: current, error });
    }
  }

  const ctx: StageContext<Options, Side> = { options, side: run.side as Side, at: () => current };
  try {
    for await (const out of stage.transform(validated(), ctx)) {
      const result = stage.output.safeParse(out);
      if (!result.success) {
        const at = { ...current, customId: customIdOf(out) ?? current.customId };
        throw new RecordValidationError(at, `${stage.name} output`, flattenIssues(result.error));
      }
      yield result.data;
    }
  } catch (err) {
    if (hasLocation(err) || !(err instanceof BatchlineError)) throw err;
    throw new RecordError(current, err.message, { cause: err });
  }
}
