/**
 * `batchline view <workdir|save_dir|file.jsonl>`: argv -> the viewer (src/view). Serves the page
 * on 127.0.0.1 and prints its URL on stdout (one line, for scripts), or with `--static -o FILE`
 * writes one self-contained HTML report and exits.
 */
import { spawn } from "node:child_process";
import { homedir } from "node:os";
import type { CAC } from "cac";
import { UsageError } from "../../core/errors.ts";
import { hubOptionsFromEnv } from "../../datasets/hub.ts";
import { closeViewSource, openViewTarget } from "../../view/open-target.ts";
import { startViewServer } from "../../view/server.ts";
import { writeStaticReport } from "../../view/static-report.ts";
import { stringOption } from "../options.ts";
import { onShutdown, setShutdownNote } from "../shutdown.ts";

interface ViewOptions {
  port?: string | number;
  open?: boolean;
  static?: boolean;
  output?: string;
  dataset?: string;
  split?: string;
}

function portOption(value: unknown): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port ${String(value)}: expected a port number 0..65535`);
  return n;
}

/** Opens `url` in the desktop's browser; a failure to do so is only a note. */
function openBrowser(url: string): void {
  const [cmd, args] = process.platform === "darwin" ? ["open", [url]] : process.platform === "win32" ? ["cmd", ["/c", "start", "", url]] : ["xdg-open", [url]];
  const child = spawn(cmd, args as string[], { stdio: "ignore", detached: true });
  child.on("error", (err) => process.stderr.write(`view: could not open a browser (${err.message}); open ${url} yourself\n`));
  child.unref();
}

export function registerView(cli: CAC, env: NodeJS.ProcessEnv): void {
  cli
    .command("view <path>", "Look at a run (workdir or save dir) or a JSONL file in the browser, served on 127.0.0.1")
    .option("--port <n>", "Port (default: 0, any free port; the URL is printed on stdout)")
    .option("--open", "Open the page in the desktop's browser")
    .option("--static", "Write one self-contained HTML report (with -o) instead of serving")
    .option("-o, --output <file>", "The HTML file --static writes")
    .option("--dataset <id|file>", "Dataset (hub id or .jsonl/.json/.parquet) whose problem_statement instance pages show")
    .option("--split <name>", "Hub split of --dataset (default test)")
    .example("npx batchline view runs/lite")
    .example("npx batchline view runs/lite --static -o report.html")
    .example("npx batchline view runs/lite/step2_output.jsonl --port 8080 --open")
    .action(async (path: string, options: ViewOptions) => {
      if (cli.args.length > 1) throw new UsageError(`view takes one path, got ${cli.args.length}: ${cli.args.join(" ")}`);
      const output = stringOption(options.output);
      if (options.static && !output) throw new UsageError("view --static needs -o <report.html>");
      if (!options.static && output) throw new UsageError("view -o goes with --static");
      if (options.static && (options.port !== undefined || options.open)) throw new UsageError("view --static writes a file: --port and --open do not apply");
      const port = portOption(options.port);
      const dataset = stringOption(options.dataset);
      const split = stringOption(options.split);
      const started = Date.now();
      const source = await openViewTarget(path, {
        ...(dataset ? { dataset, datasetOptions: { ...hubOptionsFromEnv(env, homedir()), ...(split ? { split } : {}), onLog: (l: string) => process.stderr.write(`view: ${l}\n`) } } : {}),
      });
      const scanned = ((Date.now() - started) / 1000).toFixed(1);
      if (options.static) {
        try {
          if (source.mode !== "run") throw new UsageError("view --static takes a run directory (workdir or save dir), not a JSONL file");
          const bytes = await writeStaticReport(source.run, output!);
          process.stderr.write(`view: wrote ${output} (${bytes} bytes, ${source.run.instanceIds().length} instances)\n`);
        } finally {
          await closeViewSource(source);
        }
        return;
      }
      const server = await startViewServer(source, { port, log: (l) => process.stderr.write(`view: ${l}\n`) });
      process.stdout.write(`${server.url}\n`);
      const what = source.mode === "run" ? `${source.run.instanceIds().length} instances` : `${source.jsonl.info().records} records`;
      process.stderr.write(`view: ${path} (${what}, indexed in ${scanned} s) at ${server.url}; Ctrl-C stops\n`);
      if (options.open) openBrowser(server.url);
      setShutdownNote((signal) => `view stopped (${signal})`);
      onShutdown(async () => {
        await server.close();
        await closeViewSource(source);
      });
      await new Promise<never>(() => {}); // serve until a signal; shutdown() closes the server and exits
    });
}
