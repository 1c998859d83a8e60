/**
 * Runners by name, loaded lazily (`--runner local|docker`). A new runner (Kubernetes, Modal) is
 * one file exporting a `RunnerFactory` plus one line here; it passes test/runner-contract.ts.
 */
import type { LocalRunnerOptions } from "./local.ts";
import type { Runner } from "./types.ts";

/** Options any runner may be given; each runner reads the ones it knows. */
export interface AnyRunnerOptions extends LocalRunnerOptions {
  /** docker: the `docker` executable (default `docker` on PATH); its environment carries DOCKER_HOST. */
  dockerPath?: string;
  /** docker: image name template, `{instance_id}` and `{docker_id}` (instance id with `__` as `_1776_`) filled in. */
  imageTemplate?: string;
  /** docker: image for `files` workspaces (no repo). */
  filesImage?: string;
  /** docker: seconds allowed for each docker CLI call other than the job's command (default 900). */
  dockerTimeoutSeconds?: number;
}

export const RUNNERS = {
  local: async (o: AnyRunnerOptions): Promise<Runner> => (await import("./local.ts")).default(o),
  docker: async (o: AnyRunnerOptions): Promise<Runner> => (await import("./docker.ts")).default(o),
} satisfies Record<string, (options: AnyRunnerOptions) => Promise<Runner>>;

export type RunnerName = keyof typeof RUNNERS;

export function isRunnerName(name: string): name is RunnerName {
  return Object.hasOwn(RUNNERS, name);
}

/** Makes the runner called `name` (one of `RUNNERS`). */
export function createRunner(name: RunnerName, options: AnyRunnerOptions): Promise<Runner> {
  return RUNNERS[name](options);
}
