/**
 * The runner interface: run one command for untrusted code in a fresh, throw-away workspace and
 * say what happened. A runner never touches the user's checkout, never throws because the command
 * failed (that is a result), and kills everything the command started when the time is up.
 *
 * A new runner (Kubernetes Job, Modal sandbox, ...) is one more file in src/runners/ that exports
 * a `RunnerFactory` and a line in `RUNNERS` (index.ts). It has to:
 *  1. build the workspace: a `repo` workspace is the repository at `commit` (from `source`, a
 *     local checkout, or from an image that already holds it, see `RepoWorkspace.instanceId`),
 *     then each of `patches` applied in order with `git apply` (the first that does not apply
 *     ends the job with `setup.ok=false`, the command is not run), then `files` written;
 *     a `files` workspace is an empty directory holding only `files`;
 *  2. run `command` there with the cwd at the workspace root (`{python: args}` runs the runner's
 *     Python interpreter), with `env` added to a minimal environment (no API keys of the caller);
 *  3. cut the network unless `network` is true, or say in `notes` that it could not;
 *  4. stop the whole job (every process it started) after `timeoutMs`, with `timedOut=true`;
 *  5. with `coverage`, run a `{python}` command under coverage.py and return per-file line sets;
 *  6. read back `outputs` (paths relative to the workspace root), then throw the workspace away.
 * test/runner-contract.ts is the shared suite every runner passes.
 */

/** A patch to apply with `git apply` (a unified diff as git writes it); `name` is for messages. */
export interface Patch {
  name: string;
  diff: string;
}

/** A repository at a commit, patched. */
export interface RepoWorkspace {
  kind: "repo";
  /** `owner/name` as in SWE-bench rows (`django/django`); picks the checkout or image. */
  repo: string;
  /** The commit to check out (a full or abbreviated hash, or any revision git accepts). */
  commit: string;
  /** A local git repository or mirror to take `commit` from; runners that build from images ignore it. */
  source?: string;
  /** The SWE-bench instance id, for runners whose images are per instance (docker). */
  instanceId?: string;
  /** Applied in order with `git apply`. */
  patches?: readonly Patch[];
  /** Written after the patches (relative path -> UTF-8 text). */
  files?: Readonly<Record<string, string>>;
}

/** An empty directory holding only `files` (relative path -> UTF-8 text): for scripts that need no repo. */
export interface FilesWorkspace {
  kind: "files";
  files: Readonly<Record<string, string>>;
}

export type Workspace = RepoWorkspace | FilesWorkspace;

/** What to run: `python` runs the runner's interpreter with these arguments; `argv` runs as given (no shell). */
export type Command = { python: readonly string[] } | { argv: readonly string[] };

/** Run the command under coverage.py, measuring files under the workspace root. */
export interface CoverageRequest {
  /** Only these workspace-relative paths (files or directories); default: the whole workspace. */
  include?: readonly string[];
}

/** One job for a runner. */
export interface RunJob {
  /** A short label for logs and container names (an instance id, a custom_id). */
  id: string;
  workspace: Workspace;
  command: Command;
  /** Wall-clock limit for the command in milliseconds; the whole process group (or container) is killed after it. */
  timeoutMs: number;
  /** Added to the runner's minimal environment. */
  env?: Readonly<Record<string, string>>;
  /** Leave the network on (default: cut where the platform allows). */
  network?: boolean;
  coverage?: CoverageRequest;
  /** Workspace-relative files to read back after the run; a missing file comes back as null. */
  outputs?: readonly string[];
}

/** Lines coverage.py reports for one file (1-based line numbers, ascending). */
export interface FileCoverage {
  executed: number[];
  /** Executable lines that did not run. */
  missing: number[];
  /** Lines excluded by coverage.py's exclusion rules (`# pragma: no cover`, ...). */
  excluded: number[];
}

/** Per-file coverage keyed by workspace-relative path with `/` separators. */
export type CoverageData = Record<string, FileCoverage>;

/** How the workspace was built: `ok=false` means the command did not run. */
export type SetupResult =
  | { ok: true }
  | { ok: false; reason: "patch_does_not_apply"; patch: string; detail: string }
  | { ok: false; reason: "checkout_failed" | "workspace_failed"; detail: string };

/** What happened. `exitCode` is null when the command was killed (by the timeout or a signal). */
export interface RunResult {
  setup: SetupResult;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Output as UTF-8; when longer than the runner's cap only the tail is kept and `truncated` is set. */
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
  /** What the runner wants the log to say about this job (network not cut, coverage unavailable, ...). */
  notes: string[];
  outputs: Record<string, string | null>;
  /** Present when coverage was asked for and coverage.py produced a report. */
  coverage?: CoverageData;
}

/** A runner. `close` releases shared resources (pools, connections) when the caller is done. */
export interface Runner {
  readonly name: string;
  run(job: RunJob, options?: { signal?: AbortSignal }): Promise<RunResult>;
  close?(): Promise<void>;
}

/** Options every runner takes; each runner adds its own. */
export interface RunnerOptions {
  /** Where notes go as they happen (stderr in the CLI); they are also in `RunResult.notes`. */
  log?: (line: string) => void;
  /** Cap in bytes for each of stdout and stderr (the tail is kept); default 4 MiB. */
  maxOutputBytes?: number;
}

export type RunnerFactory<Options extends RunnerOptions> = (options: Options) => Runner;
