/** `batchline cache stats|prune|verify`: look at, trim and check the request cache. */
import type { CAC } from "cac";
import { BatchlineError, UsageError } from "../../core/errors.ts";
import { type CacheEnv, ResponseCache, cacheDirForCli, parseAge } from "../../cache/response-cache.ts";
import { stringOption } from "../options.ts";

interface CacheCommandOptions {
  cache?: string | boolean;
  olderThan?: string;
  json?: boolean;
}

const day = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());

async function cacheCommand(action: string, options: CacheCommandOptions, env: CacheEnv): Promise<void> {
  if (!["stats", "prune", "verify"].includes(action)) throw new UsageError(`cache ${action}: expected stats, prune or verify`);
  const dir = cacheDirForCli(options.cache, env);
  if (dir === undefined) throw new UsageError("the request cache is off (--no-cache or BATCHLINE_CACHE=off): name it with --cache <dir>");
  const olderThan = action === "prune" ? parseAge(stringOption(options.olderThan), "--older-than") : undefined;
  if (action !== "prune" && options.olderThan !== undefined) throw new UsageError("--older-than is for cache prune");
  const cache = ResponseCache.open(dir);
  try {
    if (action === "stats") {
      const s = cache.stats();
      if (options.json) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
        return;
      }
      process.stdout.write(`${s.dir}: ${s.entries} answer(s), ${(s.bytesOnDisk / 1e6).toFixed(1)} MB on disk, stored ${day(s.oldest)} .. ${day(s.newest)}\n`);
      for (const b of s.byBackend) process.stdout.write(`  ${b.backend} ${b.model ?? "-"}: ${b.entries}\n`);
    } else if (action === "prune") {
      const removed = cache.prune(Date.now() - olderThan!);
      process.stdout.write(`${dir}: removed ${removed} answer(s) stored more than ${stringOption(options.olderThan)} ago; ${cache.stats().entries} left\n`);
    } else {
      const r = cache.verify();
      for (const b of r.bad.slice(0, 20)) process.stderr.write(`cache verify: entry ${b.key}: ${b.why}\n`);
      if (r.bad.length > 0) throw new BatchlineError(`${dir}: ${r.bad.length} of ${r.checked} entries are bad (a later submit sends their requests again after cache prune; or delete the directory)`);
      process.stdout.write(`${dir}: ${r.checked} entries, all readable, every key matches its request\n`);
    }
  } finally {
    cache.close();
  }
}

export function registerCache(cli: CAC, env: CacheEnv): void {
  cli
    .command("cache <action>", "The request cache (answers stored by submit and pipeline): stats, prune --older-than <age>, verify")
    .option("--cache <dir>", "Cache directory (default: BATCHLINE_CACHE, else $XDG_CACHE_HOME/batchline/responses, else ~/.cache/batchline/responses)")
    .option("--older-than <age>", "prune: remove answers stored longer ago than this: 30d, 12h, 90m, 2w")
    .option("--json", "stats: print JSON")
    .example("batchline cache stats")
    .example("batchline cache prune --older-than 30d")
    .action((action: string, options: CacheCommandOptions) => cacheCommand(action, options, env));
}
