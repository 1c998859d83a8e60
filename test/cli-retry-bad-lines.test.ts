/** `retry` and `plan` refuse a malformed request line with file:line, as submit does; --skip-bad reports and skips it. */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

describe("retry and malformed request lines", () => {
  it("refuses a request line that is not a request, naming file:line (custom_id); --skip-bad reports and skips it", async () => {
    const requests = join(dir, "requests.jsonl");
    const lines = (await readFile(join(FIXTURES, "batch/requests.jsonl"), "utf8")).trimEnd().split("\n");
    lines.push('{"custom_id":"broken__pass0","method":"POST"}'); // no url, no body; never answered, so "missing"
    await writeFile(requests, lines.join("\n") + "\n");
    const output = join(FIXTURES, "batch/output-round1.jsonl");

    const refused = await runCli(["retry", requests, output, "-o", join(dir, "retry.jsonl")]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^batchline: .*requests\.jsonl:7 \(custom_id=broken__pass0\): not a valid batch request line: .*url/m);
    assert.doesNotMatch(refused.stderr, /^ {4}at /m);

    const skipped = await runCli(["retry", requests, output, "--skip-bad"]);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.match(skipped.stderr, /batchline: skipped .*requests\.jsonl:7 \(custom_id=broken__pass0\)/);
    assert.doesNotMatch(skipped.stdout, /broken__pass0/);
    assert.ok(skipped.stdout.split("\n").filter(Boolean).length >= 1, "the valid lines to retry are still written");
  });

  it("plan: --skip-bad leaves a bad line out of the plan and says so", async () => {
    const requests = join(dir, "plan-bad.jsonl");
    const lines = (await readFile(join(FIXTURES, "batch/requests.jsonl"), "utf8")).trimEnd().split("\n");
    lines.splice(2, 0, "not json", '{"custom_id":"x"}');
    await writeFile(requests, lines.join("\n") + "\n");
    const refused = await runCli(["plan", requests]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^batchline: .*plan-bad\.jsonl:3: not valid JSON/);
    const skipped = await runCli(["plan", requests, "--skip-bad", "--json"]);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.equal(JSON.parse(skipped.stdout).lines, 6);
    assert.match(skipped.stderr, /skipped .*plan-bad\.jsonl:3: not valid JSON/);
    assert.match(skipped.stderr, /skipped .*plan-bad\.jsonl:4 \(custom_id=x\): not a valid batch request line/);
    assert.match(skipped.stderr, /plan: skipped 2 bad line\(s\)/);
  });
});
