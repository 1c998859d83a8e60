/**
 * `pipeline` progress on stderr, from the engine's events (RunContext.onEvent): on a TTY one
 * redrawn block for the step it is on (its name, time so far, and its bar: records and how far
 * through its input, or the submit's status block), and one line per finished step kept above it;
 * not on a TTY, a line when a step starts and ends, and the step's status line every interval and
 * on each state change. Messages (the run lock, a submit's events) print once.
 */
import { basename, dirname, isAbsolute, join, relative } from "node:path";
import { type PipelineEvent, oneLine } from "../pipeline/index.ts";
import { type BoardFrame, type BoardOptions, StatusBoard, SubmitTracker, bar, formatDuration } from "./status-board.ts";

/** How pipeline progress is shown. */
export interface PipelineRendererOptions extends BoardOptions {
  verbose?: boolean;
}

export interface PipelineRenderer {
  onEvent(event: PipelineEvent): void;
  close(): void;
}

/** A workdir file as it reads well in a block: relative to the working directory when inside it, else its folder and name. */
function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  if (!rel.startsWith("..") && !isAbsolute(rel)) return rel;
  return join(basename(dirname(path)), basename(path));
}

export async function createPipelineRenderer(options: PipelineRendererOptions = {}): Promise<PipelineRenderer> {
  const board = await StatusBoard.open(options);
  const verbose = options.verbose === true;
  let step: { name: string; kind: string; startedAt: number; count?: number; what?: string; fraction?: number; submit?: SubmitTracker } | undefined;

  const frame = (): BoardFrame => {
    const s = step!;
    const head = `pipeline: ${s.name} (${s.kind}, ${formatDuration(Date.now() - s.startedAt)})`;
    const inner = s.submit?.frame();
    if (inner) return { lines: [head, ...inner.lines.map((l) => `  ${l}`)], line: `pipeline: ${s.name}: ${inner.line}`, key: `${s.name}|${inner.key}` };
    const counted = s.count === undefined ? "starting" : `${s.count.toLocaleString("en-US")} ${s.what}`;
    const pct = s.fraction === undefined ? "" : ` (${(100 * s.fraction).toFixed(0)}% of its input)`;
    const barText = s.fraction === undefined ? "" : `${bar(s.fraction)} `;
    return { lines: [head, `  ${barText}${counted}${pct}`], line: `pipeline: ${s.name}: ${counted}${pct}`, key: s.name };
  };

  return {
    onEvent(e) {
      switch (e.type) {
        case "step-started":
          step = { name: e.step, kind: e.kind, startedAt: Date.now() };
          if (!board.tty) board.persist(`pipeline: ${e.step}: ${e.resume ? "resuming" : "running"}`);
          board.show(frame);
          return;
        case "step-progress":
          if (!step || step.name !== e.step) return;
          Object.assign(step, { count: e.count, what: e.what, ...(e.fraction !== undefined ? { fraction: e.fraction } : {}) });
          board.show(frame);
          return;
        case "submit": {
          if (!step || step.name !== e.step) return;
          step.submit ??= new SubmitTracker(verbose);
          if (e.event.type === "status") {
            step.submit.update({ ...e.event.status, requestFile: shortPath(e.event.status.requestFile) });
            board.show(frame);
            return;
          }
          const line = step.submit.message(e.event);
          if (line !== undefined) board.persist(`pipeline: ${e.step}: ${line}`);
          return;
        }
        case "step-finished":
          board.clear();
          board.persist(e.skipped ? `pipeline: ${e.step}: done earlier, inputs and options unchanged: skipped` : `pipeline: ${e.step}: ${oneLine(e.summary)} (${e.seconds.toFixed(1)} s)`);
          step = undefined;
          return;
        case "message":
          board.persist(`pipeline: ${e.text}`);
          return;
      }
    },
    close() {
      board.close();
    },
  };
}
