/** `batchline schema` emits standard JSON Schema: ajv in strict mode compiles each one, and it judges lines as validate does. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { FIXTURES, runCli } from "./helpers.ts";

describe("schema output", () => {
  for (const [name, file] of [["request", "batch/requests.jsonl"], ["output", "batch/output-round1.jsonl"]] as const) {
    it(`schema ${name} compiles under ajv strict mode and accepts the fixture lines`, async () => {
      const r = await runCli(["schema", name]);
      assert.equal(r.code, 0, r.stderr);
      const ajv = new Ajv2020({ strict: true, allErrors: true });
      const validate = ajv.compile(JSON.parse(r.stdout) as object);
      for (const line of (await readFile(join(FIXTURES, file), "utf8")).trim().split("\n")) {
        assert.ok(validate(JSON.parse(line)), JSON.stringify(validate.errors));
      }
      if (name === "request") {
        const bad = { custom_id: "a", method: "POST", url: "v1/chat/completions", body: { model: "m", messages: [] } };
        assert.equal(validate(bad), false, "a url that is not a path is refused, as validate refuses it");
      }
    });
  }
});
