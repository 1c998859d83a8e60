/**
 * Which SWE-bench rows a run works on: the dataset the guide's --benchmark/--subset/--split name
 * (or --dataset, a hub id or a local file), every repo's rows cut to --repo-select-num (0: all),
 * or exactly --instance-ids. The choice per repo is a seeded shuffle (the same rows every run).
 */
import { createHash } from "node:crypto";
import { UsageError } from "../core/errors.ts";
import { type LoadDatasetOptions, loadDataset } from "../datasets/load.ts";
import type { SweBenchRow } from "../../schemas/swe-bench-row.ts";

/** The hub dataset of a benchmark and subset. */
export function datasetName(benchmark: string, subset: string): string {
  if (benchmark === "swebenchpro") return "ScaleAI/SWE-bench_Pro";
  const bySubset: Record<string, string> = { verified: "princeton-nlp/SWE-bench_Verified", lite: "princeton-nlp/SWE-bench_Lite", full: "princeton-nlp/SWE-bench", test: "princeton-nlp/SWE-bench" };
  const name = bySubset[subset.toLowerCase()];
  if (!name) throw new UsageError(`--subset ${subset}: not a SWE-bench subset (verified, lite, full); or give --dataset`);
  return name;
}

function rank(id: string): string {
  return createHash("sha256").update(`swe-testgen:${id}`).digest("hex");
}

export interface SelectOptions {
  dataset: string;
  split: string;
  repoSelectNum: number;
  instanceIds?: readonly string[] | undefined;
  hub?: Omit<LoadDatasetOptions<SweBenchRow>, "split">;
}

/** The selected rows, in dataset order. */
export async function selectRows(o: SelectOptions): Promise<SweBenchRow[]> {
  const rows: SweBenchRow[] = [];
  for await (const r of loadDataset(o.dataset, { ...(o.hub ?? {}), split: o.split })) rows.push(r.value);
  if (o.instanceIds && o.instanceIds.length > 0) {
    const want = new Set(o.instanceIds);
    const missing = [...want].filter((id) => !rows.some((r) => r.instance_id === id));
    if (missing.length > 0) throw new UsageError(`--instance-ids: not in ${o.dataset}: ${missing.join(", ")}`);
    return rows.filter((r) => want.has(r.instance_id));
  }
  if (o.repoSelectNum <= 0) return rows;
  const byRepo = new Map<string, SweBenchRow[]>();
  for (const r of rows) byRepo.set(r.repo, [...(byRepo.get(r.repo) ?? []), r]);
  const keep = new Set<string>();
  for (const list of byRepo.values()) {
    for (const r of [...list].sort((a, b) => (rank(a.instance_id) < rank(b.instance_id) ? -1 : 1)).slice(0, o.repoSelectNum)) keep.add(r.instance_id);
  }
  return rows.filter((r) => keep.has(r.instance_id));
}
