/**
 * The proc_step2 sink: lays out --save_dir the way Agentless's scripts and the SWE-bench harness
 * read it. Per custom_id `samples/<custom_id>.jsonl`; per pass `output_<pass>_processed.jsonl`
 * (bugfixer: one record per instance, failures as empty patches) or
 * `output_<pass>_processed_reproduction_test.jsonl` (testwriter: successes only), merged by
 * instance_id; bugfixer `preds_<pass>.jsonl` ({instance_id, model_name_or_path, model_patch});
 * `failures.jsonl` merged by (stage, custom_id). Processing a range merges into these files:
 * other ranges' results stay, nothing is duplicated, a patch is never replaced by an empty one,
 * and running the same input twice gives byte-identical files.
 */
import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { AgentlessFailure, Step2Output } from "../../schemas/agentless.ts";
import { type AtomicFile, openAtomic, writeFileAtomic } from "../core/atomic-file.ts";
import { joinLines, readRawLines, writeChunks } from "../core/jsonl.ts";
import { keySet } from "../core/key-scan.ts";
import { scanFields } from "../core/line-ids.ts";
import { jsonLine } from "../core/raw-json.ts";
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
const PRED_FIELDS = keySet(["instance_id", "model_name_or_path", "model_patch"]);

const patchOf = (v: { model_patch?: string; test_patch?: string }) => (v.model_patch ?? v.test_patch ?? "") !== "";

/** Consumes proc_step2 records and writes everything under `saveDir`. */
export async function saveStep2(saveDir: string, role: Role, model: string, outputs: AsyncIterable<Step2Output>): Promise<SaveSummary> {
  await mkdir(join(saveDir, "samples"), { recursive: true });
  const additions = new Map<number, AtomicFile>();
  const failures: AgentlessFailure[] = [];
  const succeeded = new Set<string>();
  const summary: SaveSummary = { samples: 0, failures: 0, byReason: {}, passes: [] };
  const addition = async (pass: number) => {
    let f = additions.get(pass);
    if (!f) additions.set(pass, (f = await openAtomic(join(saveDir, `.additions_${pass}.jsonl`))));
    return f;
  };
  // samples/ files are written SAMPLE_BATCH at a time, each still atomically; a later line for the same custom_id wins.
  const samples = new Map<string, string | Buffer>();
  const flushSamples = async () => {
    const batch = [...samples];
    samples.clear();
    await Promise.all(batch.map(([path, text]) => writeFileAtomic(path, text)));
  };
  try {
    for await (const out of outputs) {
      const file = await addition(out.pass);
      if (out.kind === "sample") {
        summary.samples++;
        succeeded.add(out.custom_id);
        await writeChunks(file.stream, [jsonLine(out.sample)]);
        samples.set(join(saveDir, "samples", `${out.custom_id}.jsonl`), jsonLine(out.record));
      } else {
        const f = out.failure;
        summary.failures++;
        summary.byReason[f.reason] = (summary.byReason[f.reason] ?? 0) + 1;
        failures.push(f);
        // Agentless's repair files hold one record per instance, an empty patch included (rerank counts
        // it); its reproduction-test runner takes every record as a test to run, so failures stay out.
        if (role === "bugfixer") await writeChunks(file.stream, [JSON.stringify(emptySample(f.instance_id, out.model_name_or_path || model)) + "\n"]);
        samples.set(join(saveDir, "samples", `${f.custom_id}.jsonl`), JSON.stringify({ ...f, raw_output: out.raw_output }) + "\n");
      }
      if (samples.size >= SAMPLE_BATCH) await flushSamples();
    }
    await flushSamples();
    for (const f of additions.values()) await f.commit();
  } catch (err) {
    await Promise.all([...additions.values()].map((f) => f.abort()));
    throw err;
  }

  for (const [pass, file] of [...additions].sort(([a], [b]) => a - b)) {
    summary.passes.push(pass);
    const processed = join(saveDir, processedName(role, pass));
    await mergeJsonlByKey(processed, file.path, { fields: ["instance_id", "model_patch", "test_patch"], key: (v: { instance_id: string }) => v.instance_id, score: (v) => (patchOf(v) ? 1 : 0) });
    await rm(file.path, { force: true });
    if (role === "bugfixer") {
      async function* preds(): AsyncGenerator<string> {
        for await (const { bytes } of readRawLines(createReadStream(processed, { highWaterMark: 1 << 20 }))) {
          const v = scanFields(bytes, PRED_FIELDS) as { instance_id: string; model_name_or_path: string; model_patch: string };
          yield JSON.stringify({ instance_id: v.instance_id, model_name_or_path: v.model_name_or_path, model_patch: v.model_patch });
        }
      }
      await writeFileAtomic(join(saveDir, `preds_${pass}.jsonl`), joinLines(preds()));
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
