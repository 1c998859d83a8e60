/** Test helper: a per-test copy of the stand-in `docker` CLI (test/docker-standin.py) with its images and call record. */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";

export interface DockerStandin {
  /** Path of the stand-in executable to pass as `dockerPath`. */
  bin: string;
  /** Every call so far: argv and the DOCKER_HOST it saw. */
  calls(): { argv: string[]; DOCKER_HOST: string | null }[];
}

/** Installs the stand-in in `dir`: `images` maps image names to a git repo (cloned to /testbed) or null; `python` runs as `python` inside. */
export function dockerStandin(dir: string, images: Record<string, string | null>, python: string): DockerStandin {
  const bin = join(dir, "docker");
  copyFileSync(join(ROOT, "test/docker-standin.py"), bin);
  chmodSync(bin, 0o755);
  mkdirSync(join(dir, "state", "shim"), { recursive: true });
  writeFileSync(join(dir, "state", "images.json"), JSON.stringify(images));
  symlinkSync(python, join(dir, "state", "shim", "python"));
  return {
    bin,
    calls: () =>
      readFileSync(join(dir, "state", "calls.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { argv: string[]; DOCKER_HOST: string | null }),
  };
}
