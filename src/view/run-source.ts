/**
 * What the viewer knows about a run directory (a pipeline workdir, or a save dir on its own): the
 * overview (report.json, or counts from the save dir), one row per instance, and the detail of one
 * instance. At open it scans every JSONL file once by byte scan (key-scan.ts) and keeps, per
 * custom_id, where its lines are (file, offset, length); a detail reads those lines back from
 * disk. Memory is per line, never per byte. Nothing here writes to the run directory.
 */
import { createReadStream } from "node:fs";
import { type FileHandle, open, readFile, readdir, stat } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { candidateLines } from "../agentless/localize.ts";
import { splitReasoning } from "../agentless/reasoning.ts";
import { type InstanceVote, type VoteSummary, voteSaveDir } from "../agentless/vote.ts";
import { readAnswerBody } from "../core/answer-body.ts";
import { compareBytes, idFileName, parseCustomId } from "../core/custom-id.ts";
import { BatchlineError } from "../core/errors.ts";
import { lineText, readRawLines } from "../core/jsonl.ts";
import { keySet, scanKeys, stringAt } from "../core/key-scan.ts";
import type { PipelineReport } from "../pipeline/types.ts";
import type { Manifest } from "../pipeline/workdir.ts";
import { type InstanceExtra, type RunResult, readExtras, readScript } from "./run-extras.ts";

/** How a file of the run is read: requests and outputs are keyed by custom_id. */
export type FileRole = "request" | "output" | "failures" | "processed" | "other";

/** One file the run holds, relative to the run directory. */
export interface RunFile {
  path: string;
  role: FileRole;
  lines: number;
  bytes: number;
}

/** One step of the overview: its report entry split into counts, failures and usage. */
export interface OverviewStep {
  name: string;
  seconds: number | null;
  counts: Record<string, number>;
  failures: Record<string, number>;
  promptTokens: number | null;
  completionTokens: number | null;
  costUSD: number | null;
}

/** The run page's head: the report when the run has one, and counts the viewer made itself. */
export interface Overview {
  kind: "workdir" | "save_dir";
  path: string;
  pipeline: string | null;
  /** Where the steps come from: report.json, or manifest.json (finished steps only) for a run without a report. */
  source: "report.json" | "manifest.json" | null;
  finishedAt: string | null;
  wallSeconds: number | null;
  steps: OverviewStep[];
  empty: string[];
  error: string | null;
  /** The run makes patches per pass (agentless: processed files or samples/): the with/without-patch counts mean something. */
  patches: boolean;
  totals: {
    instances: number;
    custom_ids: number;
    with_patch: number;
    without_patch: number;
    /** Instances with a generated test or script (swe-testgen, commit-testgen). */
    generated: number;
    failures: Record<string, number>;
    promptTokens: number;
    completionTokens: number;
    costUSD: number | null;
  };
  vote: VoteSummary | null;
  /** Instances by run status (swe-testgen, commit-testgen); empty when nothing ran. */
  runs: Record<string, number>;
  files: RunFile[];
}

/** One row of the instances table. */
export interface InstanceRow {
  instance_id: string;
  passes: number;
  with_patch: number;
  without_patch: number;
  vote: string | null;
  winner_pass: number | null;
  failures: Record<string, number>;
  /** A generated test or script exists (swe-testgen, commit-testgen). */
  generated: boolean;
  /** How its run went (swe-testgen: pass_gold_patch_status; commit-testgen: passed/failed/timeout), null when never run. */
  run: string | null;
}

/** A line of the run read back for an instance page. */
export interface LineRecord {
  file: string;
  line: number;
  role: FileRole;
  value: unknown;
}

/** One pass (custom_id) of an instance, as the instance page shows it. */
export interface PassDetail {
  custom_id: string;
  pass: number;
  /** The patch and which field it came from (model_patch, test_patch), or null when the pass has none. */
  patch: string | null;
  patch_field: string | null;
  /** Lines of the step-1 (localization) answer that name files. */
  found_files: string[] | null;
  /** The last answer: text with reasoning split off (message.reasoning_content counts as reasoning). */
  answer: { answer: string; reasoning: string; finish_reason: string | null } | null;
  /** The request that produced the last answer (the last request file holding this custom_id). */
  request: LineRecord | null;
  failures: { stage: string | null; reason: string; detail: string | null; file: string }[];
  /** Every line of the run with this custom_id, in file order. */
  records: LineRecord[];
}

/** The instance page. */
export interface InstanceDetail {
  instance_id: string;
  problem_statement: string | null;
  /** The first user message of the instance's first request, when there is no problem statement. */
  prompt: string | null;
  vote: InstanceVote | null;
  /** swe-testgen: the generated test patch. */
  test_patch: string | null;
  /** commit-testgen: the generated script (path relative to the run directory; text null when the file is gone). */
  script: { path: string; text: string | null } | null;
  run: RunResult | null;
  /** swe-testgen: the phases the instance went through (preds.json stage[]). */
  stages: unknown[] | null;
  passes: PassDetail[];
}

interface Located {
  file: number;
  offset: number;
  bytes: number;
  line: number;
}

const PROCESSED = /^output_(\d+)_processed(_reproduction_test)?\.jsonl$/;
const ID_KEYS = keySet(["custom_id", "instance_id", "reason", "model_patch", "test_patch"]);
const ROUND_DIR = /^round\d+$/;

function roleOf(rel: string): FileRole | undefined {
  const name = basename(rel);
  if (!name.endsWith(".jsonl") || name.endsWith(".sha256.jsonl")) return undefined;
  if (name.endsWith("failures.jsonl")) return "failures";
  if (PROCESSED.test(name)) return "processed";
  if (/^preds_\d+\.jsonl$|^all_preds\.jsonl$/.test(name)) return undefined; // the patches again, from the processed files
  // by path: swe-testgen keeps its batches as requests/<phase>_<n>.jsonl and answers/<phase>_<n>.jsonl
  if (/request/.test(rel)) return "request";
  if (/output|answers/.test(rel)) return "output";
  return "other";
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function listJsonl(dir: string, depth: number): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => compareBytes(a.name, b.name))) {
    const path = join(dir, e.name);
    if (e.isFile() && e.name.endsWith(".jsonl")) out.push(path);
    else if (e.isDirectory() && depth > 0 && e.name !== "samples" && !e.name.startsWith(".")) out.push(...(await listJsonl(path, depth - 1)));
  }
  return out;
}

function numberOr(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function stepOf(name: string, summary: Record<string, unknown>, seconds: number | null): OverviewStep {
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(summary)) {
    if (typeof v === "number" && !["promptTokens", "completionTokens", "costUSD"].includes(k)) counts[k] = v;
  }
  const failures = typeof summary.failures === "object" && summary.failures !== null ? (summary.failures as Record<string, number>) : {};
  return { name, seconds, counts, failures, promptTokens: numberOr(summary.promptTokens), completionTokens: numberOr(summary.completionTokens), costUSD: numberOr(summary.costUSD) };
}

/** A run directory opened for viewing; `open` scans it once. */
export class RunSource {
  readonly root: string;
  readonly kind: "workdir" | "save_dir";
  private readonly saveDir: string;
  private readonly files: RunFile[] = [];
  private readonly handles: FileHandle[] = [];
  /** custom_id -> its lines, in file order. */
  private readonly byId = new Map<string, Located[]>();
  /** instance_id -> custom_ids. */
  private readonly instances = new Map<string, Set<string>>();
  /** custom_id -> patch field when its processed line has a non-empty patch. */
  private readonly patched = new Map<string, string>();
  /** custom_id -> its last failure reason. */
  private readonly lastFailure = new Map<string, string>();
  private report: PipelineReport | null = null;
  /** The manifest's finished steps, for a run without report.json (still going, or killed). */
  private manifest: Manifest | null = null;
  private votes = new Map<string, InstanceVote>();
  private voteSummary: VoteSummary | null = null;
  private problems = new Map<string, string>();
  private hasSamples = false;
  private extras = new Map<string, InstanceExtra>();

  private constructor(root: string, kind: "workdir" | "save_dir", saveDir: string) {
    this.root = root;
    this.kind = kind;
    this.saveDir = saveDir;
  }

  /** True when `dir` looks like a run: a workdir (report.json / manifest.json) or a save dir. */
  static async isRun(dir: string): Promise<boolean> {
    if (!(await isDir(dir))) return false;
    for (const name of ["report.json", "manifest.json", "failures.jsonl", "samples", "preds.json", "index.json"]) if (await exists(join(dir, name))) return true;
    return (await readdir(dir)).some((n) => PROCESSED.test(n));
  }

  /** Opens a workdir or save dir and scans it. */
  static async open(dir: string): Promise<RunSource> {
    if (!(await RunSource.isRun(dir))) throw new BatchlineError(`view: ${dir} is neither a pipeline workdir (report.json, manifest.json) nor a save dir (samples/, failures.jsonl, output_<pass>_processed.jsonl)`);
    const workdir = (await exists(join(dir, "report.json"))) || (await exists(join(dir, "manifest.json")));
    const saveDir = workdir && (await isDir(join(dir, "save"))) ? join(dir, "save") : dir;
    const source = new RunSource(dir, workdir ? "workdir" : "save_dir", saveDir);
    await source.scan();
    return source;
  }

  private async scan(): Promise<void> {
    this.extras = await readExtras(this.root, this.saveDir);
    for (const id of this.extras.keys()) if (!this.instances.has(id)) this.instances.set(id, new Set());
    if (this.kind === "workdir") {
      try {
        this.report = JSON.parse(await readFile(join(this.root, "report.json"), "utf8")) as PipelineReport;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new BatchlineError(`view: ${join(this.root, "report.json")} is not valid JSON (${(err as Error).message})`);
      }
      if (!this.report) {
        try {
          this.manifest = JSON.parse(await readFile(join(this.root, "manifest.json"), "utf8")) as Manifest;
        } catch {
          this.manifest = null; // no manifest either: the counts come from the files alone
        }
      }
    }
    for (const name of await readdir(join(this.saveDir, "samples")).catch(() => [] as string[])) {
      if (!name.endsWith(".jsonl")) continue;
      this.hasSamples = true;
      this.addId(name.slice(0, -".jsonl".length));
    }
    const files = (await listJsonl(this.root, 2)).flatMap((path) => {
      const rel = relative(this.root, path);
      const role = roleOf(rel);
      return role ? [{ path, rel, role }] : [];
    });
    // processed files name instances, not custom_ids: read them once the custom_ids are known
    for (const f of files) if (f.role !== "processed") await this.scanFile(f.path, f.rel, f.role);
    for (const f of files) if (f.role === "processed") await this.scanFile(f.path, f.rel, f.role);
    if (this.files.some((f) => f.role === "processed" && !f.path.includes("reproduction_test"))) {
      try {
        const { summary, votes } = await voteSaveDir({ saveDir: this.saveDir, output: "", write: async () => {} });
        this.voteSummary = summary;
        this.votes = new Map(votes.map((v) => [v.instance_id, v]));
      } catch (err) {
        if (!(err instanceof BatchlineError)) throw err;
      }
    }
  }

  private addId(customId: string, instanceId?: string): void {
    const instance = instanceId ?? this.instanceOf(customId);
    let set = this.instances.get(instance);
    if (!set) this.instances.set(instance, (set = new Set()));
    set.add(customId);
  }

  private async scanFile(path: string, rel: string, role: FileRole): Promise<void> {
    const fileIndex = this.files.length;
    const file: RunFile = { path: rel, role, lines: 0, bytes: (await stat(path)).size };
    this.files.push(file);
    this.handles.push(await open(path, "r"));
    const pass = role === "processed" ? Number(PROCESSED.exec(basename(rel))![1]) : 0;
    for await (const raw of readRawLines(createReadStream(path, { highWaterMark: 1 << 22 }))) {
      file.lines++;
      let spans = scanKeys(raw.bytes, ID_KEYS);
      let fields: (string | undefined)[];
      if (spans) fields = spans.map((s) => stringAt(raw.bytes, s));
      else {
        let value: Record<string, unknown>;
        try {
          value = JSON.parse(lineText(raw.bytes)) as Record<string, unknown>;
        } catch {
          continue; // a bad line is shown by the JSONL view, not fatal here
        }
        fields = ["custom_id", "instance_id", "reason", "model_patch", "test_patch"].map((k) => (typeof value?.[k] === "string" ? (value[k] as string) : undefined));
        spans = undefined;
      }
      const [customIdField, instanceId, reason, modelPatch, testPatch] = fields;
      let customId = customIdField;
      if (role === "processed") {
        if (!instanceId) continue;
        // processed files hold one line per instance: its custom_id is the pass's
        customId = this.customIdFor(instanceId, pass);
        const patch = modelPatch ?? testPatch;
        if (patch !== undefined && patch.trim() !== "") this.patched.set(customId, modelPatch !== undefined ? "model_patch" : "test_patch");
      }
      if (!customId) continue;
      this.addId(customId, instanceId);
      if (role === "failures" && reason) this.lastFailure.set(customId, reason);
      let list = this.byId.get(customId);
      if (!list) this.byId.set(customId, (list = []));
      list.push({ file: fileIndex, offset: raw.offset, bytes: raw.bytes.length, line: raw.line });
    }
  }

  /**
   * The instance a custom_id belongs to: `<id>__pass<N>` -> `<id>`; else, when a pipeline's own
   * files name the instances (swe-testgen's `<id>__<phase>_<n>`), the longest known prefix
   * before a `__`; else the custom_id itself.
   */
  private instanceOf(customId: string): string {
    const parsed = parseCustomId(customId);
    if (parsed.hasPass || this.extras.size === 0 || this.extras.has(customId)) return parsed.instanceId;
    for (let at = customId.lastIndexOf("__"); at > 0; at = customId.lastIndexOf("__", at - 1)) {
      if (this.extras.has(customId.slice(0, at))) return customId.slice(0, at);
    }
    return customId;
  }

  /** The custom_id of (instance, pass): `<id>__pass<N>` when the run uses passes, else the bare id. */
  private customIdFor(instanceId: string, pass: number): string {
    const withPass = `${instanceId}__pass${pass}`;
    if (this.byId.has(withPass) || this.instances.get(instanceId)?.has(withPass)) return withPass;
    if (this.byId.has(instanceId)) return instanceId;
    return pass === 0 && !this.anyPassIds() ? instanceId : withPass;
  }

  private passIds: boolean | undefined;
  private anyPassIds(): boolean {
    if (this.passIds === undefined) {
      this.passIds = false;
      for (const id of this.byId.keys()) {
        if (parseCustomId(id).hasPass) {
          this.passIds = true;
          break;
        }
      }
    }
    return this.passIds;
  }

  /** Rows of the instances table, by instance_id in byte order. */
  rows(): InstanceRow[] {
    const out: InstanceRow[] = [];
    for (const id of [...this.instances.keys()].sort(compareBytes)) {
      const ids = this.instances.get(id)!;
      let withPatch = 0;
      const failures: Record<string, number> = {};
      for (const cid of ids) {
        if (this.patched.has(cid)) withPatch++;
        else {
          const reason = this.lastFailure.get(cid);
          if (reason) failures[reason] = (failures[reason] ?? 0) + 1;
        }
      }
      const vote = this.votes.get(id);
      const extra = this.extras.get(id);
      out.push({ instance_id: id, passes: ids.size, with_patch: withPatch, without_patch: ids.size - withPatch, vote: vote?.outcome ?? null, winner_pass: vote?.winner_pass ?? null, failures, generated: extra?.test_patch !== undefined || extra?.script !== undefined, run: extra?.run?.status ?? null });
    }
    return out;
  }

  overview(): Overview {
    const r = this.report;
    const m = this.manifest;
    const steps = r
      ? Object.entries(r.steps).map(([name, s]) => stepOf(name, s as Record<string, unknown>, numberOr(r.stepSeconds?.[name])))
      : m
        ? Object.entries(m.steps).map(([name, s]) => stepOf(name, s.summary ?? {}, numberOr(s.seconds)))
        : [];
    const rows = this.rows();
    const failures: Record<string, number> = {};
    for (const row of rows) for (const [k, v] of Object.entries(row.failures)) failures[k] = (failures[k] ?? 0) + v;
    let promptTokens = 0;
    let completionTokens = 0;
    let costUSD: number | null = 0;
    let priced = false;
    for (const s of steps) {
      promptTokens += s.promptTokens ?? 0;
      completionTokens += s.completionTokens ?? 0;
      if (s.costUSD !== null) {
        priced = true;
        costUSD = (costUSD ?? 0) + s.costUSD;
      } else if (s.promptTokens) costUSD = null;
    }
    const withPatch = rows.reduce((n, row) => n + row.with_patch, 0);
    const runs: Record<string, number> = {};
    for (const row of rows) if (row.run !== null) runs[row.run] = (runs[row.run] ?? 0) + 1;
    const customIds = rows.reduce((n, row) => n + row.passes, 0);
    return {
      kind: this.kind,
      path: this.root,
      pipeline: r?.pipeline ?? m?.pipeline ?? null,
      source: r ? "report.json" : m ? "manifest.json" : null,
      finishedAt: r?.finishedAt ?? null,
      wallSeconds: numberOr(r?.wallSeconds),
      steps,
      empty: r?.empty ?? [],
      error: typeof r?.error === "string" ? r.error : null,
      patches: this.hasSamples || this.files.some((f) => f.role === "processed"),
      totals: { instances: rows.length, custom_ids: customIds, with_patch: withPatch, without_patch: customIds - withPatch, generated: rows.filter((row) => row.generated).length, failures, promptTokens, completionTokens, costUSD: priced ? costUSD : null },
      vote: this.voteSummary,
      runs,
      files: this.files,
    };
  }

  /** Problem statements by instance_id (from a dataset), shown on instance pages. */
  setProblems(problems: Map<string, string>): void {
    this.problems = problems;
  }

  /** Instance ids, byte order. */
  instanceIds(): string[] {
    return [...this.instances.keys()].sort(compareBytes);
  }

  private async readLine(at: Located): Promise<LineRecord> {
    const buf = Buffer.allocUnsafe(at.bytes);
    await this.handles[at.file]!.read(buf, 0, at.bytes, at.offset);
    const file = this.files[at.file]!;
    let value: unknown;
    try {
      value = JSON.parse(lineText(buf));
    } catch {
      value = lineText(buf);
    }
    return { file: file.path, line: at.line, role: file.role, value };
  }

  private async sample(customId: string): Promise<Record<string, unknown> | null> {
    try {
      const text = await readFile(join(this.saveDir, "samples", idFileName(customId, ".jsonl")), "utf8");
      const first = text.split("\n").find((l) => l.trim() !== "");
      return first ? (JSON.parse(first) as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  /** The instance page's data, or undefined for an unknown instance. */
  async instance(instanceId: string): Promise<InstanceDetail | undefined> {
    const ids = this.instances.get(instanceId);
    if (!ids) return undefined;
    const passes: PassDetail[] = [];
    let prompt: string | null = null;
    for (const customId of [...ids].sort((a, b) => parseCustomId(a).pass - parseCustomId(b).pass || compareBytes(a, b))) {
      const records: LineRecord[] = [];
      for (const at of this.byId.get(customId) ?? []) records.push(await this.readLine(at));
      const sample = await this.sample(customId);
      if (sample) records.push({ file: relative(this.root, join(this.saveDir, "samples", `${customId}.jsonl`)), line: 1, role: "other", value: sample });
      passes.push(this.passDetail(customId, records, sample));
      if (prompt === null) prompt = firstUserMessage(records.find((r) => r.role === "request")?.value);
    }
    const extra = this.extras.get(instanceId);
    return {
      instance_id: instanceId,
      problem_statement: this.problems.get(instanceId) ?? extra?.problem_statement ?? null,
      prompt,
      vote: this.votes.get(instanceId) ?? null,
      test_patch: extra?.test_patch ?? null,
      script: extra?.script ? { path: extra.script, text: await readScript(this.root, extra.script) } : null,
      run: extra?.run ?? null,
      stages: extra?.stages ?? null,
      passes,
    };
  }

  private passDetail(customId: string, records: LineRecord[], sample: Record<string, unknown> | null): PassDetail {
    let patch: string | null = null;
    let patchField: string | null = null;
    for (const r of [...records.filter((x) => x.role === "processed"), ...(sample ? [{ value: sample }] : [])]) {
      const v = r.value as Record<string, unknown>;
      for (const field of ["model_patch", "test_patch"]) {
        if (typeof v?.[field] === "string" && (v[field] as string).trim() !== "") {
          patch = v[field] as string;
          patchField = field;
        }
      }
      if (patch) break;
    }
    const outputs = records.filter((r) => r.role === "output");
    const requests = records.filter((r) => r.role === "request");
    const step1 = outputs.find((r) => /step1/.test(r.file));
    const step1Answer = step1 ? answerOf(step1.value) : null;
    const found = step1Answer ? candidateLines(step1Answer.answer).map((l) => l.trim()).filter((l) => l !== "") : null;
    const last = outputs[outputs.length - 1];
    const failures = records
      .filter((r) => r.role === "failures")
      .map((r) => {
        const v = r.value as Record<string, unknown>;
        return { stage: typeof v.stage === "string" ? v.stage : null, reason: String(v.reason ?? ""), detail: typeof v.detail === "string" ? v.detail : null, file: r.file };
      });
    return {
      custom_id: customId,
      pass: parseCustomId(customId).pass,
      patch,
      patch_field: patchField,
      found_files: found,
      answer: last ? answerOf(last.value) : null,
      request: requests[requests.length - 1] ?? null,
      failures,
      records,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.close()));
  }
}

/** The text of an output line's answer with reasoning split off; null when the line has no answer. */
function answerOf(line: unknown): { answer: string; reasoning: string; finish_reason: string | null } | null {
  const response = (line as { response?: { body?: unknown } | null })?.response;
  const body = readAnswerBody(response?.body);
  if (!body || body.text === null) return null;
  const split = splitReasoning(body.text);
  const message = (response?.body as { choices?: { message?: { reasoning_content?: unknown } }[] })?.choices?.[0]?.message;
  const extra = typeof message?.reasoning_content === "string" ? message.reasoning_content : "";
  return { answer: split.answer, reasoning: [extra, split.reasoning].filter((s) => s.trim() !== "").join("\n\n"), finish_reason: body.finishReason };
}

function firstUserMessage(request: unknown): string | null {
  const body = (request as { body?: { messages?: { role?: string; content?: unknown }[]; input?: unknown } })?.body;
  const user = body?.messages?.find((m) => m.role === "user");
  if (typeof user?.content === "string") return user.content;
  if (Array.isArray(user?.content)) return user.content.map((p: { text?: unknown }) => (typeof p?.text === "string" ? p.text : "")).join("");
  if (typeof body?.input === "string") return body.input;
  return null;
}
