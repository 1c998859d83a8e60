/**
 * pass@k from runs.jsonl, with the unbiased estimator of the Codex paper (Chen et al. 2021): for a
 * task with n samples of which c passed, pass@k = 1 - C(n-c, k) / C(n, k), computed as the
 * product 1 - prod_{i=n-c+1..n} (1 - k/i) so that large n does not overflow; the score is the mean
 * over tasks. A k larger than some task's sample count has no estimate and is reported as such.
 * Scores are per model (the model that answered, as runs.jsonl records it).
 */
import { createReadStream } from "node:fs";
import { SftEvalRun } from "../../schemas/sft-eval.ts";
import { RecordError, UsageError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";

/** The unbiased pass@k of one task: n samples, c passed; undefined when n < k. */
export function passAtK(n: number, c: number, k: number): number | undefined {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k)) || k < 1 || c < 0 || c > n) throw new RangeError(`passAtK(${n}, ${c}, ${k})`);
  if (n < k) return undefined;
  if (n - c < k) return 1;
  let fail = 1;
  for (let i = n - c + 1; i <= n; i++) fail *= 1 - k / i;
  return 1 - fail;
}

/** One model's score. */
export interface ModelScore {
  model: string;
  tasks: number;
  samples: number;
  passed: number;
  /** k -> mean pass@k over tasks; null when some task has fewer than k samples. */
  passAt: Record<number, number | null>;
  /** Samples that did not pass, by reason. */
  reasons: Record<string, number>;
}

/** The k values scored: 1 and 3 and any asked for, ascending. */
export function scoredKs(extra: readonly number[] = []): number[] {
  return [...new Set([1, 3, ...extra])].sort((a, b) => a - b);
}

/** Reads runs.jsonl files (one run: several files are joined) and scores every model in them. */
export async function scoreRunFiles(files: readonly string[], ks: readonly number[]): Promise<ModelScore[]> {
  const byModel = new Map<string, Map<string, { n: number; c: number }>>();
  const reasons = new Map<string, Record<string, number>>();
  const seen = new Map<string, string>();
  for (const file of files) {
    for await (const { line, value } of readJsonl(createReadStream(file), { file })) {
      const parsed = SftEvalRun.safeParse(value);
      const customId = typeof (value as { custom_id?: unknown })?.custom_id === "string" ? (value as { custom_id: string }).custom_id : undefined;
      const at = { file, line, ...(customId ? { customId } : {}) };
      if (!parsed.success) throw new RecordError(at, `not a runs.jsonl line (${flattenIssues(parsed.error).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")})`);
      const run = parsed.data;
      const key = `${run.model}\u0000${run.custom_id}`;
      const first = seen.get(key);
      if (first) throw new RecordError(at, `${run.custom_id} of ${run.model} already scored at ${first}`);
      seen.set(key, `${file}:${line}`);
      let tasks = byModel.get(run.model);
      if (!tasks) byModel.set(run.model, (tasks = new Map()));
      const t = tasks.get(run.task_id) ?? { n: 0, c: 0 };
      t.n++;
      if (run.status === "passed") t.c++;
      else {
        const r = reasons.get(run.model) ?? {};
        r[run.reason ?? run.status] = (r[run.reason ?? run.status] ?? 0) + 1;
        reasons.set(run.model, r);
      }
      tasks.set(run.task_id, t);
    }
  }
  if (byModel.size === 0) throw new UsageError(`${files.join(", ")}: no runs to score`);
  return [...byModel.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([model, tasks]) => {
      const list = [...tasks.values()];
      const passAt: Record<number, number | null> = {};
      for (const k of ks) {
        const each = list.map((t) => passAtK(t.n, t.c, k));
        passAt[k] = each.some((p) => p === undefined) ? null : each.reduce<number>((a, p) => a + p!, 0) / list.length;
      }
      return { model, tasks: list.length, samples: list.reduce((a, t) => a + t.n, 0), passed: list.reduce((a, t) => a + t.c, 0), passAt, reasons: reasons.get(model) ?? {} };
    });
}

const pct = (p: number | null | undefined) => (p === null || p === undefined ? "-" : `${(p * 100).toFixed(1)}%`);

/** Columns padded to one width: the first `left` ones aligned left, the numbers right. */
function table(rows: string[][], left = 1): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()).join("\n") + "\n";
}

/** A table: one row per model, pass@k columns, then what the failures were. */
export function formatScores(scores: readonly ModelScore[], ks: readonly number[]): string {
  const rows = [["model", "tasks", "samples", "passed", ...ks.map((k) => `pass@${k}`)]];
  for (const s of scores) rows.push([s.model, String(s.tasks), String(s.samples), String(s.passed), ...ks.map((k) => pct(s.passAt[k]))]);
  let out = table(rows);
  for (const s of scores) {
    const r = Object.entries(s.reasons).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k} ${n}`).join(", ");
    if (r) out += `${s.model}: not passed: ${r}\n`;
  }
  if (scores.some((s) => ks.some((k) => s.passAt[k] === null))) out += "-: some task has fewer samples than k\n";
  return out;
}

/**
 * Two runs side by side (before and after fine-tuning): a row per run and model, then the change
 * in points, between the two models when each run has one, else per model the runs share.
 */
export function formatComparison(before: readonly ModelScore[], after: readonly ModelScore[], ks: readonly number[], labels: [string, string]): string {
  const rows = [["run", "model", "tasks", "samples", ...ks.map((k) => `pass@${k}`)]];
  for (const [label, scores] of [[labels[0], before], [labels[1], after]] as const) {
    for (const s of scores) rows.push([label, s.model, String(s.tasks), String(s.samples), ...ks.map((k) => pct(s.passAt[k]))]);
  }
  const change = (x: ModelScore, y: ModelScore) =>
    ks.map((k) => {
      const p = x.passAt[k];
      const q = y.passAt[k];
      return p === null || p === undefined || q === null || q === undefined ? "-" : `${q - p >= 0 ? "+" : ""}${((q - p) * 100).toFixed(1)}`;
    });
  if (before.length === 1 && after.length === 1) rows.push(["change", `${before[0]!.model} -> ${after[0]!.model}`, "", "", ...change(before[0]!, after[0]!)]);
  else {
    for (const x of before) {
      const y = after.find((s) => s.model === x.model);
      if (y) rows.push(["change", x.model, "", "", ...change(x, y)]);
    }
  }
  let out = table(rows, 2);
  const tasks = new Set([...before, ...after].map((s) => s.tasks));
  if (tasks.size > 1) out += "note: the runs do not cover the same number of tasks\n";
  return out;
}
