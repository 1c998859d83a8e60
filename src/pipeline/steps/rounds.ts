/**
 * The `rounds` step: after the main steps, up to `--rounds N` retry rounds. Each round picks the
 * custom_ids its rules name (failed requests of a submit, or failure records with chosen reasons),
 * copies their request lines into `round<N>/`, and runs the main steps again from the earliest
 * submit with something to redo, on those lines only: files the round makes live in `round<N>/`,
 * sinks merge into their shared folder (best result per custom_id). A round with nothing to do
 * ends the rounds. The engine runs it; this file only declares it.
 */
import type { RetryRule, RoundsStep } from "../types.ts";

/** The rounds step: `retry` rules in order; `names` shortens step names inside rounds (`round1_submit`). */
export function rounds(o: { retry: RetryRule[]; names?: Record<string, string> }): RoundsStep {
  return { kind: "rounds", name: "rounds", retry: o.retry, names: o.names ?? {} };
}
