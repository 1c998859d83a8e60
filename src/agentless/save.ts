/**
 * The proc_step2 sink: lays out --save_dir the way Agentless's scripts and the SWE-bench harness
 * read it. Per custom_id `samples/<custom_id>.jsonl`; per pass `output_<pass>_processed.jsonl`
 * (bugfixer: one record per instance, failures as empty patches) or
 * `output_<pass>_processed_reproduction_test.jsonl` (testwriter: successes only), merged by
 * instance_id; bugfixer `preds_<pass>.jsonl` ({instance_id, model_name_or_path, model_patch});
 * `failures.jsonl` merged by (stage, custom_id). Processing a range merges into these files:
 * other ranges' results stay, nothing is duplicated, a patch is never replaced by an empty one,
 * and running the same input twice gives byte-identical files. When a pass's file does not exist
 * yet and its lines came in instance_id order (each id once), the merge would copy them as they
 * are: the additions file (and the preds written beside it) are renamed into place instead.
 */
import { createReadStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { AgentlessFailure, Step2Output } from "../../schemas/agentless.ts";
import { type AtomicFile, openAtomic, writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes, idFileName } from "../core/custom-id.ts";
import { joinLines, readRawLines, writeChunks } from "../core/jsonl.ts";
import { keySet } from "../core/key-scan.ts";
import { scanFields } from "../core/line-ids.ts";
import { jsonLineParts } from "../core/raw-json.ts";
import { mergeJsonlByKey } from "./merge-file.ts";
import type { Role } from "./steps.ts";

export interface SaveSummary {
  samples: number;
  failures: number;
  byReason: Record<string, number>;
  passes: number[];
}

/** `output_<pass>_processed.jsonl` or its testwriter name. */
export function processedName(role: Role, pass: number): string {
  return role === "bugfixer" ? `output_${pass}_processed.jsonl` : `output_${pass}_processed_reproduction_test.jsonl`;
}

function emptySample(instanceId: string, model: string): Record<string, unknown> {
  return { model_name_or_path: model, instance_id: instanceId, model_patch: "", raw_model_patch: "", original_file_content: [], edited_files: [], new_file_content: [] };
}

const SAMPLE_BATCH = 32;
const SAMPLE_BATCH_BYTES = 4 * 1024 * 1024;
const PREDS_CHUNK = 64 * 1024;
const PRED_FIELDS = keySet(["instance_id", "model_name_or_path", "model_patch"]);

const patchOf = (v: { model_patch?: string; test_patch?: string }) => (v.model_patch ?? v.test_patch ?? "") !== "";

/** One pass's new lines: the file, its preds lines (bugfixer), and whether its instance_ids came strictly increasing. */
interface PassAdditions {
  file: AtomicFile;
  preds: AtomicFile | undefined;
  /** Preds lines not written yet: they are small, so they go out PREDS_CHUNK characters at a time. */
  predsText: string;
  last: string | undefined;
  sorted: boolean;
}

const missing = (path: string) => stat(path).then(() => false, (err: NodeJS.ErrnoException) => err.code === "ENOENT");

/** Consumes proc_step2 records and writes everything under `saveDir`. */
export async function saveStep2(saveDir: string, role: Role, model: string, outputs: AsyncIterable<Step2Output>): Promise<SaveSummary> {
  await mkdir(join(saveDir, "samples"), { recursive: true });
  const additions = new Map<number, PassAdditions>();
  const failures: AgentlessFailure[] = [];
  const succeeded = new Set<string>();
  const summary: SaveSummary = { samples: 0, failures: 0, byReason: {}, passes: [] };
  const addition = async (pass: number) => {
    let a = additions.get(pass);
    if (!a) {
      const file = await openAtomic(join(saveDir, `.additions_${pass}.jsonl`));
      const preds = role === "bugfixer" ? await openAtomic(join(saveDir, `.additions_preds_${pass}.jsonl`)) : undefined;
      additions.set(pass, (a = { file, preds, predsText: "", last: undefined, sorted: true }));
    }
    return a;
  };
  const add = async (a: PassAdditions, line: readonly (Uint8Array | string)[], instanceId: string, patch: string, modelName: string) => {
    a.sorted &&= a.last === undefined || compareBytes(a.last, instanceId) < 0;
    a.last = instanceId;
    await writeChunks(a.file.stream, line);
    if (!a.preds) return;
    a.predsText += JSON.stringify({ instance_id: instanceId, model_name_or_path: modelName, model_patch: patch }) + "\n";
    if (a.predsText.length >= PREDS_CHUNK) await flushPreds(a);
  };
  const flushPreds = async (a: PassAdditions) => {
    if (a.preds && a.predsText !== "") await writeChunks(a.preds.stream, [a.predsText]);
    a.predsText = "";
  };
  // samples/ files are written SAMPLE_BATCH (or SAMPLE_BATCH_BYTES) at a time, each still atomically,
  // while the next batch fills (so the stage's workers are not kept waiting); a later line for the
  // same custom_id wins.
  let samples = new Map<string, string | Uint8Array[]>();
  let sampleBytes = 0;
  let writing: Promise<unknown> = Promise.resolve();
  const flushSamples = async () => {
    await writing;
    const batch = [...samples];
    samples = new Map();
    sampleBytes = 0;
    writing = Promise.all(batch.map(([path, text]) => writeFileAtomic(path, text)));
    writing.catch(() => {}); // surfaced by the next flush's await
  };
  const all = () => [...additions.values()].flatMap((a) => (a.preds ? [a.file, a.preds] : [a.file]));
  try {
    for await (const out of outputs) {
      const a = await addition(out.pass);
      if (out.kind === "sample") {
        summary.samples++;
        succeeded.add(out.custom_id);
        const s = out.sample as { instance_id: string; model_patch?: string };
        // Whole-file texts come as the workers' bytes: the pieces are written as they are, never joined.
        await add(a, jsonLineParts(out.sample), s.instance_id, s.model_patch ?? "", out.sample.model_name_or_path);
        const record = jsonLineParts(out.record);
        for (const part of record) sampleBytes += part.length;
        samples.set(join(saveDir, "samples", idFileName(out.custom_id, ".jsonl")), record);
      } else {
        const f = out.failure;
        summary.failures++;
        summary.byReason[f.reason] = (summary.byReason[f.reason] ?? 0) + 1;
        failures.push(f);
        // Agentless's repair files hold one record per instance, an empty patch included (rerank counts
        // it); its reproduction-test runner takes every record as a test to run, so failures stay out.
        if (role === "bugfixer") {
          const modelName = out.model_name_or_path || model;
          await add(a, [JSON.stringify(emptySample(f.instance_id, modelName)) + "\n"], f.instance_id, "", modelName);
        }
        samples.set(join(saveDir, "samples", idFileName(f.custom_id, ".jsonl")), JSON.stringify({ ...f, raw_output: out.raw_output }) + "\n");
      }
      if (samples.size >= SAMPLE_BATCH || sampleBytes >= SAMPLE_BATCH_BYTES) await flushSamples();
    }
    await flushSamples();
    await writing;
    for (const a of additions.values()) await flushPreds(a);
    for (const f of all()) await f.commit();
  } catch (err) {
    await writing.catch(() => {});
    await Promise.all(all().map((f) => f.abort()));
    throw err;
  }

  for (const [pass, a] of [...additions].sort(([x], [y]) => x - y)) {
    summary.passes.push(pass);
    const processed = join(saveDir, processedName(role, pass));
    const preds = join(saveDir, `preds_${pass}.jsonl`);
    if (a.sorted && a.last !== undefined && (await missing(processed))) {
      // What the merge would write: these lines, in this order.
      await rename(a.file.path, processed);
      if (a.preds) await rename(a.preds.path, preds);
      continue;
    }
    await mergeJsonlByKey(processed, a.file.path, { fields: ["instance_id", "model_patch", "test_patch"], key: (v: { instance_id: string }) => v.instance_id, score: (v) => (patchOf(v) ? 1 : 0) });
    await rm(a.file.path, { force: true });
    if (a.preds) await rm(a.preds.path, { force: true });
    if (role === "bugfixer") {
      async function* predLines(): AsyncGenerator<string> {
        for await (const { bytes } of readRawLines(createReadStream(processed, { highWaterMark: 1 << 20 }))) {
          const v = scanFields(bytes, PRED_FIELDS) as { instance_id: string; model_name_or_path: string; model_patch: string };
          yield JSON.stringify({ instance_id: v.instance_id, model_name_or_path: v.model_name_or_path, model_patch: v.model_patch });
        }
      }
      await writeFileAtomic(preds, joinLines(predLines()));
    }
  }

  // failures.jsonl: this run's failures replace earlier ones of the same stage and custom_id; successes clear them.
  const failureKey = (v: AgentlessFailure) => `${v.stage}\u0000${v.custom_id}`;
  const newFailures = join(saveDir, ".additions_failures.jsonl");
  await writeFileAtomic(newFailures, joinLines(failures.map((f) => JSON.stringify(f))));
  const drop = new Set([...succeeded].map((id) => `proc_step2\u0000${id}`));
  await mergeJsonlByKey(join(saveDir, "failures.jsonl"), newFailures, { fields: ["stage", "custom_id"], key: failureKey, drop });
  await rm(newFailures, { force: true });
  return summary;
}
