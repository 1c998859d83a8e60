/**
 * Runs the CLI under a real pseudo-terminal (util-linux `script`) and replays what it wrote into
 * a headless terminal emulator (@xterm/headless, the engine of xterm.js), so a test can look at
 * the screen after every write: what a person watching the terminal would have seen.
 */
import { spawn } from "node:child_process";
import xterm from "@xterm/headless";
import { CLI, ROOT } from "./helpers.ts";

/** One write of the CLI as it arrived, with the time since the start (ms). */
export interface Write {
  at: number;
  data: string;
}

/** A finished run under a pseudo-terminal. */
export interface TerminalRun {
  code: number | null;
  writes: Write[];
  /** Everything written, as raw bytes (escape sequences included). */
  raw: string;
  /** The screen after each write: its rows, trailing blanks cut, blank rows at the bottom dropped. */
  screens: string[][];
}

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** `batchline ...args` on a `cols` x `rows` terminal (stdout and stderr both go to it). */
export async function runInTerminal(args: string[], options: { env?: NodeJS.ProcessEnv; cols?: number; rows?: number } = {}): Promise<TerminalRun> {
  const cols = options.cols ?? 120;
  const rows = options.rows ?? 40;
  const command = `stty cols ${cols} rows ${rows}; exec ${quote(process.execPath)} ${quote(CLI)} ${args.map(quote).join(" ")}`;
  const started = Date.now();
  const writes: Write[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    // -e: script exits with the CLI's code; -q: no "Script started" lines; the log file is thrown away.
    const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { cwd: ROOT, env: { ...process.env, ...options.env, TERM: "xterm-256color" }, stdio: ["pipe", "pipe", "inherit"] });
    child.stdout.on("data", (d: Buffer) => writes.push({ at: Date.now() - started, data: d.toString("utf8") }));
    child.on("error", reject);
    child.on("close", resolve);
    // stdin stays open (script ends its session when stdin ends) until the CLI exits.
  });
  const term = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 1000 });
  const screens: string[][] = [];
  for (const w of writes) {
    await new Promise<void>((resolve) => term.write(w.data, resolve));
    screens.push(screenOf(term));
  }
  term.dispose();
  return { code, writes, raw: writes.map((w) => w.data).join(""), screens };
}

/** The rows of the screen (scrollback included) with text, blank rows at the end dropped. */
function screenOf(term: InstanceType<typeof xterm.Terminal>): string[] {
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? "");
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}
