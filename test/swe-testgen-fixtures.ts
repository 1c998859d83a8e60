/** Test helper for swe-testgen: the fixture repositories cloned from their bundles into a repos dir (`<dir>/acme__<name>`). */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES } from "./helpers.ts";

export const SWE_FIXTURES = join(FIXTURES, "swe-testgen");
export const DATASET = join(SWE_FIXTURES, "dataset.jsonl");
export const ANSWERS = join(SWE_FIXTURES, "answers.jsonl");
/** Debian's Python: pytest + coverage (installed by .ci/run). */
export const PYTHON = "/usr/bin/python3";

export interface FixtureRow {
  instance_id: string;
  repo: string;
  base_commit: string;
  patch: string;
  problem_statement: string;
  version: string;
}

export function fixtureRows(): FixtureRow[] {
  return readFileSync(DATASET, "utf8").trim().split("\n").map((l) => JSON.parse(l) as FixtureRow);
}

/** A fresh repos dir holding a clone of each fixture bundle; `cleanup` removes it. */
export function fixtureReposDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "batchline-swe-repos-"));
  for (const name of ["calc", "textutil", "shapes"]) {
    execFileSync("git", ["clone", "-q", join(SWE_FIXTURES, `${name}.bundle`), join(dir, `acme__${name}`)], { stdio: "pipe" });
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
