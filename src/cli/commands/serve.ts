/**
 * `batchline serve`: an OpenAI Files + Batches API on 127.0.0.1 in front of an upstream chat
 * server (`--upstream`) or a recorded output file (`--replay`). Prints its base URL on stdout
 * (one line, for scripts) and logs on stderr. SIGINT/SIGTERM stop it gracefully (lines in flight
 * finish, state is kept in --data-dir) and it exits 0.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { CAC } from "cac";
import { UsageError } from "../../core/errors.ts";
import { ReplayIndex } from "../../internal/replay-index.ts";
import { startBatchServer } from "../../server/batch-server.ts";
import { type Executor, replayExecutor, upstreamExecutor } from "../../server/executors.ts";
import { type Faults, parseLineErrorRule } from "../../server/faults.ts";
import { stringOption } from "../options.ts";
import { onShutdown, setShutdownNote, setShutdownPolicy } from "../shutdown.ts";

interface ServeOptions {
  port?: string | number;
  host?: string;
  upstream?: string;
  upstreamKey?: string;
  replay?: string;
  concurrency?: string | number;
  dataDir?: string | boolean;
  apiKey?: string;
  apiKeysFile?: string;
  shutdownTimeout?: string | number;
  stepDelayMs?: string | number;
  failValidation?: boolean;
  tokenLimitExceeded?: boolean;
  enqueuedTokenLimit?: string | number;
  lineError?: string | string[];
  expireAfterLines?: string | number;
  flakyEvery?: string | number;
  flakyStatus?: string | number;
  shuffle?: boolean;
  pollAfterMs?: string | number;
  quiet?: boolean;
}

function intOption(value: unknown, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} ${String(value)}: expected a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}`);
  return n;
}

/** What `main` reads from the environment for serve. */
export interface ServeEnv {
  upstreamKey?: string | undefined;
  /** BATCHLINE_SERVE_API_KEY */
  serveKey?: string | undefined;
  /** XDG_DATA_HOME, for the default --data-dir */
  dataHome?: string | undefined;
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:127\./i.test(host);
}

/** Keys from --api-key / BATCHLINE_SERVE_API_KEY and --api-keys-file (one key a line; blank lines and # comments skipped). */
async function apiKeys(options: ServeOptions, env: ServeEnv): Promise<string[]> {
  const keys: string[] = [];
  const single = stringOption(options.apiKey) ?? (env.serveKey || undefined);
  if (single !== undefined) keys.push(single);
  const file = stringOption(options.apiKeysFile);
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      throw new UsageError(`--api-keys-file: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"}) (${file})`);
    }
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      if (/\s/.test(line)) throw new UsageError(`--api-keys-file: a key must be one word with no spaces (${file}:${i + 1})`);
      keys.push(line);
    });
    if (keys.length === 0) throw new UsageError(`--api-keys-file: no keys in it (${file})`);
  }
  for (const key of keys) if (key.length < 8) throw new UsageError("serve: an API key must be at least 8 characters");
  return [...new Set(keys)];
}

/** Reads the serve flags into server options; the CLI passes env-derived values explicitly. */
export async function serveOptions(
  options: ServeOptions,
  env: ServeEnv,
): Promise<{ executor: Executor; faults: Faults; port: number; host: string; concurrency: number; dataDir?: string; apiKeys: string[]; shutdownTimeoutMs: number; close: () => Promise<void> }> {
  const upstream = stringOption(options.upstream);
  const replay = stringOption(options.replay);
  if ((upstream === undefined) === (replay === undefined)) throw new UsageError("serve needs exactly one of --upstream <chat base url> or --replay <output.jsonl>");
  if (upstream !== undefined && !/^https?:\/\/[^/]/i.test(upstream)) throw new UsageError(`serve --upstream ${upstream}: expected an http:// or https:// base URL, e.g. http://127.0.0.1:8000/v1`);
  const host = stringOption(options.host) ?? "127.0.0.1";
  const keys = await apiKeys(options, env);
  if (keys.length === 0 && !isLoopback(host)) {
    throw new UsageError(`serve --host ${host}: refusing to listen beyond loopback without a key; set BATCHLINE_SERVE_API_KEY (or --api-key / --api-keys-file)`);
  }
  const shutdownTimeout = intOption(options.shutdownTimeout, "--shutdown-timeout") ?? 30;
  let executor: Executor;
  let close = async () => {};
  if (replay !== undefined) {
    const index = await ReplayIndex.open(replay);
    executor = replayExecutor(index);
    close = () => index.close();
  } else {
    executor = upstreamExecutor({ baseURL: upstream!, ...(env.upstreamKey ? { apiKey: env.upstreamKey } : {}) });
  }
  const lineErrors = ([] as string[]).concat(options.lineError ?? []).map((t) => {
    try {
      return parseLineErrorRule(String(t));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  });
  const faults: Faults = {};
  const stepDelayMs = intOption(options.stepDelayMs, "--step-delay-ms");
  const expireAfterLines = intOption(options.expireAfterLines, "--expire-after-lines");
  const flakyEvery = intOption(options.flakyEvery, "--flaky-every", 1);
  const flakyStatus = intOption(options.flakyStatus, "--flaky-status", 400);
  const pollAfterMs = intOption(options.pollAfterMs, "--poll-after-ms");
  if (stepDelayMs !== undefined) faults.stepDelayMs = stepDelayMs;
  if (options.failValidation) faults.failValidation = true;
  if (options.tokenLimitExceeded) faults.tokenLimitExceeded = true;
  const enqueuedTokenLimit = intOption(options.enqueuedTokenLimit, "--enqueued-token-limit", 1);
  if (enqueuedTokenLimit !== undefined) faults.enqueuedTokenLimit = enqueuedTokenLimit;
  if (lineErrors.length > 0) faults.lineErrors = lineErrors;
  if (expireAfterLines !== undefined) faults.expireAfterLines = expireAfterLines;
  if (flakyEvery !== undefined) faults.flakyEvery = flakyEvery;
  if (flakyStatus !== undefined) faults.flakyStatus = flakyStatus;
  if (options.shuffle) faults.shuffle = true;
  if (pollAfterMs !== undefined) faults.pollAfterMs = pollAfterMs;
  // --data-dir with no value: the user's persistent default.
  const dataDir = options.dataDir === true ? join(env.dataHome || join(homedir(), ".local/share"), "batchline/serve") : stringOption(options.dataDir);
  return {
    executor,
    faults,
    host,
    port: intOption(options.port, "--port", 0, 65535) ?? 0,
    concurrency: intOption(options.concurrency, "--concurrency", 1) ?? 16,
    ...(dataDir ? { dataDir } : {}),
    apiKeys: keys,
    shutdownTimeoutMs: shutdownTimeout * 1000,
    close,
  };
}

export function registerServe(cli: CAC, env: ServeEnv): void {
  cli
    .command("serve", "Serve the OpenAI Files + Batches API on 127.0.0.1, executing batches via --upstream or --replay")
    .option("--port <n>", "Port (default: 0, any free port; the URL is printed on stdout)")
    .option("--host <addr>", "Address to bind (default 127.0.0.1); anything but loopback needs a key")
    .option("--upstream <url>", "OpenAI-compatible base URL that answers /chat/completions, e.g. http://127.0.0.1:8000/v1 (key: UPSTREAM_API_KEY)")
    .option("--replay <file>", "Answer from a recorded batch output file, by custom_id")
    .option("--concurrency <n>", "Upstream calls in flight at once, shared by all running batches (default 16)")
    .option("--data-dir [dir]", "Keep files, batches and answers here and resume them on the next start (no value: ~/.local/share/batchline/serve; default: a temp dir, removed on exit)")
    .option("--api-key <key>", "Clients must send Authorization: Bearer <key> (or set BATCHLINE_SERVE_API_KEY)")
    .option("--api-keys-file <file>", "Several client keys, one a line; each key sees only its own files and batches")
    .option("--shutdown-timeout <s>", "On SIGTERM/SIGINT, seconds to let lines in flight finish (default 30)")
    .option("--step-delay-ms <ms>", "Fault: time spent in each status (validating, in_progress, finalizing)")
    .option("--fail-validation", "Fault: every batch fails whole-file validation")
    .option("--token-limit-exceeded", "Fault: every batch fails with token_limit_exceeded")
    .option("--enqueued-token-limit <tokens>", "Fault: an enqueued-token limit per model; a batch that would pass it (with the model's batches in progress) fails with token_limit_exceeded")
    .option("--line-error <status=regex>", "Fault: custom_ids matching regex get this HTTP status (repeatable)")
    .option("--expire-after-lines <n>", "Fault: batches expire after n lines; the rest get batch_expired")
    .option("--flaky-every <n>", "Fault: every n-th batch poll or file download fails")
    .option("--flaky-status <code>", "Fault: the status of those failures (default 500; 429 for rate limits)")
    .option("--shuffle", "Fault: output and error files in random order")
    .option("--poll-after-ms <ms>", "Send openai-poll-after-ms on batch retrieval")
    .option("-q, --quiet", "No request log on stderr")
    .example("batchline serve --replay fixtures/batch/output-round1.jsonl --port 8089")
    .example("batchline serve --upstream http://127.0.0.1:8000/v1   # vLLM / llama.cpp / Ollama")
    .action(async (options: ServeOptions) => {
      const o = await serveOptions(options, env);
      const server = await startBatchServer({ ...o, ...(options.quiet ? {} : { log: (l: string) => process.stderr.write(`serve: ${l}\n`) }) });
      if (!options.quiet && o.dataDir !== undefined) process.stderr.write(`serve: state in ${o.dataDir}${server.stats.batchesResumed > 0 ? ` (${server.stats.batchesResumed} unfinished batch(es) resumed)` : ""}\n`);
      process.stdout.write(`${server.baseURL}\n`);
      if (!options.quiet) process.stderr.write(`serve: OpenAI Files + Batches API at ${server.baseURL} (set OPENAI_BASE_URL=${server.baseURL})\n`);
      setShutdownNote((signal) => `serve stopped (${signal})${o.dataDir !== undefined ? `; unfinished batches continue on the next start with --data-dir ${o.dataDir}` : ""}`);
      setShutdownPolicy({ timeoutMs: o.shutdownTimeoutMs + 5000, exitCode: 0 });
      onShutdown(async () => {
        await server.close({ graceMs: o.shutdownTimeoutMs });
        await o.close();
      });
      await new Promise<never>(() => {}); // serve until a signal; shutdown() closes the server and exits
    });
}
