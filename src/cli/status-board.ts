/**
 * Status boards for submit and pipeline progress on stderr. The runners emit events
 * (submitters/submit-events.ts, the pipeline's RunContext.onEvent) and never write to a terminal;
 * everything terminal-shaped happens here. On a TTY one block is redrawn in place by log-update
 * (maintained, diffs frames, knows how many rows to erase), and lines worth keeping are printed
 * above it with `persist`. Not on a TTY, the block's one-line form is printed every `intervalMs`
 * and whenever its state key changes (a batch changed state, a round began), never once per poll.
 * log-update is loaded only for a terminal (`StatusBoard.open`): pipes and CI never pay its import.
 */
import type { createLogUpdate } from "log-update";
import { UsageError } from "../core/errors.ts";
import type { BatchProgress, SubmitEvent, SubmitStatus } from "../submitters/submit-events.ts";

/** What a board shows now: its block (TTY), its one-line form (otherwise), and a key whose change is a state change. */
export interface BoardFrame {
  lines: string[];
  line: string;
  key: string;
}

/** How a board writes: the stream, whether it is a terminal, the interval of its periodic line. */
export interface BoardOptions {
  stream?: NodeJS.WriteStream;
  /** Whether to redraw in place (used by `StatusBoard.open`); default: the stream's own isTTY. */
  tty?: boolean;
  /** ms between two status lines when not on a TTY (default 30000). */
  intervalMs?: number;
  /** ms between two redraws on a TTY (default 100). */
  redrawMs?: number;
}

/** One redrawn block (or periodic line) plus lines printed once above it. */
export class StatusBoard {
  readonly tty: boolean;
  private readonly stream: NodeJS.WriteStream;
  private readonly intervalMs: number;
  private readonly redrawMs: number;
  private readonly draw: ReturnType<typeof createLogUpdate> | undefined;
  private frame: (() => BoardFrame) | undefined;
  private lastDraw = 0;
  private lastLine = 0;
  private lastKey: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** A redraw put off by `redrawMs`: the latest state is drawn when it fires. */
  private pending: NodeJS.Timeout | undefined;

  /** A board on a terminal when `draw` (a log-update instance on the stream) is given, else a line board. */
  constructor(options: BoardOptions = {}, draw?: ReturnType<typeof createLogUpdate>) {
    this.stream = options.stream ?? process.stderr;
    this.draw = draw;
    this.tty = draw !== undefined;
    this.intervalMs = options.intervalMs ?? 30_000;
    this.redrawMs = options.redrawMs ?? 100;
  }

  /** A board for `options.stream` (stderr): redrawn in place when it is a terminal (or `tty: true`), lines otherwise. */
  static async open(options: BoardOptions = {}): Promise<StatusBoard> {
    const stream = options.stream ?? process.stderr;
    if (!(options.tty ?? stream.isTTY === true)) return new StatusBoard(options);
    const { createLogUpdate } = await import("log-update");
    return new StatusBoard(options, createLogUpdate(stream, { showCursor: true }));
  }

  /** Prints `line` once; on a TTY above the block, which is drawn again below it. */
  persist(line: string): void {
    if (this.draw) this.draw.persist(line);
    else this.stream.write(`${line}\n`);
  }

  /** Sets what the block shows (a function: it is called again to refresh countdowns). */
  show(frame: () => BoardFrame): void {
    this.frame = frame;
    this.timer ??= setInterval(() => this.tick(false), this.tty ? 1000 : Math.min(1000, this.intervalMs)).unref();
    this.tick(true);
  }

  /** Removes the block (TTY) and stops the timer; nothing more is drawn until `show`. */
  clear(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.timer = undefined;
    this.pending = undefined;
    this.frame = undefined;
    this.lastKey = undefined;
    this.draw?.clear();
  }

  /** Ends the board: the block is removed, so the caller's summary line takes its place. */
  close(): void {
    this.clear();
  }

  private tick(changed: boolean): void {
    if (!this.frame) return;
    const now = Date.now();
    if (this.draw) {
      if (changed && now - this.lastDraw < this.redrawMs) {
        this.pending ??= setTimeout(() => {
          this.pending = undefined;
          this.tick(false);
        }, this.redrawMs - (now - this.lastDraw)).unref();
        return;
      }
      this.lastDraw = now;
      this.draw(this.frame().lines.map((l) => this.fit(l)).join("\n"));
      return;
    }
    const f = this.frame();
    if (f.key === this.lastKey && now - this.lastLine < this.intervalMs) return;
    this.lastKey = f.key;
    this.lastLine = now;
    this.stream.write(`${f.line}\n`);
  }

  /** Cuts a line to the terminal's width, so a block never wraps (its height stays what it shows). */
  private fit(line: string): string {
    const width = this.stream.columns;
    return width && line.length >= width ? `${line.slice(0, Math.max(0, width - 2))}…` : line;
  }
}

/** Display order of batch states; others come after, in the order seen. */
const STATE_ORDER = ["waiting", "created", "validating", "in_progress", "finalizing", "completed", "ended", "cancelling", "canceling", "expired", "cancelled", "canceled", "failed"];

/** `3 in_progress, 1 finalizing, 36 completed`. */
export function batchesByState(batches: readonly BatchProgress[]): string {
  const counts = new Map<string, number>();
  for (const b of batches) counts.set(b.state, (counts.get(b.state) ?? 0) + 1);
  const rank = (s: string) => (STATE_ORDER.includes(s) ? STATE_ORDER.indexOf(s) : STATE_ORDER.length);
  return [...counts].sort((a, b) => rank(a[0]) - rank(b[0])).map(([s, n]) => `${n} ${s}`).join(", ");
}

/** `[######------------------]` for a fraction 0..1. */
export function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

/** `1 min 05 s`, `12 s`, `2 h 03 min`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

const n = (x: number) => x.toLocaleString("en-US");

/** Lines per second since the first status seen, and the time left at that rate. */
class RateMeter {
  private first: { at: number; done: number } | undefined;
  measure(done: number, total: number, now: number): { rate: number | undefined; etaMs: number | undefined } {
    if (!this.first || done < this.first.done) this.first = { at: now, done };
    const secs = (now - this.first.at) / 1000;
    const rate = secs >= 0.5 && done > this.first.done ? (done - this.first.done) / secs : undefined;
    return { rate, etaMs: rate ? ((total - done) / rate) * 1000 : undefined };
  }
}

/** What a submit block shows, from its last status. */
export function submitFrame(s: SubmitStatus, meter: { rate: number | undefined; etaMs: number | undefined }, verbose: boolean, now: number, prefix = ""): BoardFrame {
  const pct = s.total > 0 ? (100 * s.done) / s.total : 100;
  const counts = `${n(s.done)}/${n(s.total)} done (${pct.toFixed(0)}%), ${n(s.failed)} failed`;
  const speed = meter.rate === undefined ? "" : `, ${meter.rate >= 10 ? meter.rate.toFixed(0) : meter.rate.toFixed(1)} lines/s${meter.etaMs !== undefined && s.done < s.total ? `, ETA ${formatDuration(meter.etaMs)}` : ""}`;
  // Direct backends have no batches and no rounds: their block is the one line.
  const round = s.lastRound > 0 ? `round ${s.round} of ${s.lastRound}` : s.batches ? `round ${s.round}` : "";
  const poll = s.nextPollAt !== undefined ? `next poll in ${formatDuration(Math.max(0, s.nextPollAt - now))}` : "";
  const states = s.batches ? `batches: ${batchesByState(s.batches)}` : "";
  const head = `${prefix}[${s.backend}] ${s.requestFile}`;
  const second = [states, round, poll].filter(Boolean);
  const lines = [`${head}: ${bar(s.total > 0 ? s.done / s.total : 1)} ${counts}${speed}`, ...(second.length > 0 ? [`  ${second.join(" | ")}`] : [])];
  if (verbose && s.batches) {
    for (const b of s.batches) lines.push(`    chunk ${b.chunk}/${s.batches.length} ${b.batchId ?? "-"} ${b.state} ${n(b.done)}/${n(b.lines)}${b.failed ? ` (${n(b.failed)} failed)` : ""}`);
  }
  const line = `${head}: ${counts}${speed}${second.map((p) => `; ${p}`).join("")}`;
  return { lines, line, key: `${s.round}|${states}` };
}

/** Renders a submit's events on a board: the caller passes `onEvent` to the library and calls `close` at the end. */
export interface SubmitRenderer {
  onEvent(event: SubmitEvent): void;
  close(): void;
}

/** How submit progress is shown: `verbose` adds per-batch lines and routine messages. */
export interface SubmitRendererOptions extends BoardOptions {
  verbose?: boolean;
  /** Put before every line (a pipeline's step name). */
  prefix?: string;
  /** The board to draw on (a pipeline shares one); default a new one. */
  board?: StatusBoard;
}

/** A submit's last status and its rate, kept between events; `frame` draws it. */
export class SubmitTracker {
  private readonly meter = new RateMeter();
  private last: SubmitStatus | undefined;
  private measured: { rate: number | undefined; etaMs: number | undefined } = { rate: undefined, etaMs: undefined };
  private readonly verbose: boolean;
  private readonly prefix: string;

  constructor(verbose: boolean, prefix = "") {
    this.verbose = verbose;
    this.prefix = prefix;
  }

  update(status: SubmitStatus): void {
    this.last = status;
    this.measured = this.meter.measure(status.done, status.total, Date.now());
  }

  /** The block for the last status (undefined before the first). */
  frame(): BoardFrame | undefined {
    return this.last && submitFrame(this.last, this.measured, this.verbose, Date.now(), this.prefix);
  }

  /** The line a message prints as, or undefined when it is a detail and the tracker is not verbose. */
  message(e: Extract<SubmitEvent, { type: "message" }>): string | undefined {
    return e.level === "event" || this.verbose ? `${this.prefix}[${e.backend}] ${e.text}` : undefined;
  }
}

export async function createSubmitRenderer(options: SubmitRendererOptions = {}): Promise<SubmitRenderer> {
  const board = options.board ?? (await StatusBoard.open(options));
  const tracker = new SubmitTracker(options.verbose === true, options.prefix);
  return {
    onEvent(e) {
      if (e.type === "status") {
        tracker.update(e.status);
        board.show(() => tracker.frame()!);
        return;
      }
      const line = tracker.message(e);
      if (line !== undefined) board.persist(line);
    },
    close() {
      if (!options.board) board.close();
    },
  };
}

/** `--progress-interval` in ms (default 30 s). */
export function progressIntervalMs(value: unknown): number {
  if (value === undefined) return 30_000;
  const s = Number(Array.isArray(value) ? value[value.length - 1] : value);
  if (!Number.isFinite(s) || s <= 0) throw new UsageError(`--progress-interval ${String(value)}: expected seconds > 0`);
  return s * 1000;
}