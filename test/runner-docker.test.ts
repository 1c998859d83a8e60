import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import docker, { instanceImage } from "../src/runners/docker.ts";
import { testRunner } from "./runner-contract.ts";
import { dockerStandin } from "./docker-standin.ts";

const PYTHON = "/usr/bin/python3";

testRunner("docker (stand-in docker CLI)", async (repo) => {
  const dir = mkdtempSync(join(tmpdir(), "batchline-test-docker-"));
  const standin = dockerStandin(dir, { [instanceImage("acme__calc-1")]: repo.dir, "python:3.11-slim": null }, PYTHON);
  const runner = docker({ dockerPath: standin.bin, baseEnv: { PATH: process.env.PATH } });
  return { runner: { ...runner, close: async () => rmSync(dir, { recursive: true, force: true }) }, source: "/nonexistent" };
});

describe("docker runner", () => {
  it("names SWE-bench instance images as the harness does, lowercase with __ as _1776_", () => {
    assert.equal(instanceImage("django__django-11099"), "swebench/sweb.eval.x86_64.django_1776_django-11099:latest");
    assert.equal(instanceImage("Foo__Bar-1", "registry.local/{instance_id}:v2"), "registry.local/Foo__Bar-1:v2");
  });

  it("sends every call to DOCKER_HOST, starts without network, copies patches in, and removes the container", async () => {
    const dir = mkdtempSync(join(tmpdir(), "batchline-test-docker-"));
    try {
      const standin = dockerStandin(dir, { "python:3.11-slim": null }, PYTHON);
      const runner = docker({ dockerPath: standin.bin, baseEnv: { PATH: process.env.PATH, DOCKER_HOST: "tcp://10.1.2.3:2376", OPENAI_API_KEY: "sk-no" } });
      const r = await runner.run({ id: "gen/abc", workspace: { kind: "files", files: { "gen.py": "import os\nprint(os.environ.get('OPENAI_API_KEY'))\n" } }, command: { python: ["gen.py"] }, timeoutMs: 20_000 });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout.trim(), "None");
      const calls = standin.calls();
      assert.ok(calls.every((c) => c.DOCKER_HOST === "tcp://10.1.2.3:2376"));
      const verbs = calls.map((c) => c.argv[0]);
      assert.deepEqual([verbs[0], verbs.at(-1)], ["run", "rm"]);
      const run = calls[0]!.argv;
      assert.ok(run.includes("--network") && run[run.indexOf("--network") + 1] === "none");
      assert.ok(run.includes("python:3.11-slim"));
      const missing = await runner.run({ id: "x", workspace: { kind: "repo", repo: "a/b", commit: "HEAD", instanceId: "a__b-1" }, command: { argv: ["true"] }, timeoutMs: 5000 });
      assert.equal(missing.setup.ok, false);
      assert.match(missing.setup.ok ? "" : missing.setup.detail, /pull access denied for swebench\/sweb\.eval\.x86_64\.a_1776_b-1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
