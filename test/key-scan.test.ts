/**
 * The byte scan for top-level keys (core/key-scan.ts, core/line-ids.ts) against JSON.parse on a
 * corpus of tricky lines, and the commands that use it (slice, merge, demux) copying bytes.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BatchOutput, isSuccess } from "../schemas/openai-batch-output.ts";
import { readJsonl } from "../src/core/jsonl.ts";
import { readLineIds, scanIds, scanSuccessfulOutput } from "../src/core/line-ids.ts";
import { mergeJsonlByKey } from "../src/agentless/merge-file.ts";
import { chunks, collect, runCli, tempDir } from "./helpers.ts";

/** Lines where a naive search for `"custom_id"` would go wrong, plus plain ones. */
const TRICKY: string[] = [
  '{"custom_id":"plain__pass0","body":{}}',
  '{"body":{"messages":[{"content":"x"}]},"method":"POST","custom_id":"last__pass1"}',
  '{"body":{"custom_id":"nested"},"custom_id":"outer"}',
  '{"custom_id":"first","body":{"custom_id":"nested-after"}}',
  '{"body":{"content":"say \\"custom_id\\":\\"fake\\" here"},"custom_id":"real"}',
  '{"note":"\\"custom_id\\":\\"fake\\"","custom_id":"after-string"}',
  '{"note":"ends with a backslash \\\\","custom_id":"after-backslash"}',
  '{"note":"\\\\\\"custom_id\\\\\\":","custom_id":"escaped-run"}',
  '{"custom_id":"with \\"quotes\\" inside"}',
  '{"custom_id":"unicode \\u00e9 \\ud83d\\ude00 escape"}',
  '{"custom_id":"raw é 😀 utf8"}',
  '{"custom\\u005fid":"escaped-key"}',
  '{"custom_id":"dup-first","custom_id":"dup-last"}',
  '{"custom_id":42}',
  '{"custom_id":null,"instance_id":"row-id"}',
  '{"instance_id":"only-instance"}',
  '{"custom_id":["custom_id"],"instance_id":"arr"}',
  '  {  "custom_id"  :  "spaced"  }  ',
  '{"a":[1,-2.5e+3,0,true,false,null,{"b":[]}],"custom_id":"numbers"}',
  '{"a":{"b":{"c":{"d":{"custom_id":"deep"}}}},"custom_id":"top"}',
  '{}',
  '{"custom_id":""}',
  '{"custom_id":"tab\\there"}',
  '{"custom_id":"a\\/b"}',
  '[{"custom_id":"array-top"}]',
  '"custom_id"',
  '{"custom_id":"x",}',
  '{"custom_id":"x" "y":1}',
  '{"custom_id":"x","y":tru}',
  '{"custom_id":"x","y":01}',
  '{"custom_id":"x","y":1.}',
  '{"custom_id":"unterminated}',
  '{"custom_id":"x","body":{"a":1}',
  '{"custom_id":"x"}}',
  '{"custom_id":"x"} trailing',
  '{"a":' + "[".repeat(300) + "]".repeat(300) + ',"custom_id":"very-deep"}',
];

function parsedIds(line: string): { customId: string | undefined; instanceId: string | undefined } | "invalid" {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "invalid";
  }
  const get = (k: string) => {
    const x = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[k] : undefined;
    return typeof x === "string" ? x : undefined;
  };
  return { customId: get("custom_id"), instanceId: get("instance_id") };
}

describe("byte scan for top-level keys", () => {
  it("finds the same ids as JSON.parse, or says it is not sure (never a wrong id)", () => {
    let sure = 0;
    for (const line of TRICKY) {
      const expected = parsedIds(line);
      const scanned = scanIds(Buffer.from(line));
      if (scanned === undefined) continue; // falls back to JSON.parse: same result by construction
      sure++;
      assert.notEqual(expected, "invalid", `the scan accepted a line JSON.parse refuses: ${line}`);
      assert.deepEqual(scanned, expected, line);
    }
    assert.ok(sure >= 20, `the fast path took only ${sure} lines`);
    // The cases the scan must hand to JSON.parse.
    for (const line of ['{"custom\\u005fid":"escaped-key"}', '[{"custom_id":"array-top"}]', '{"custom_id":"x",}', '{"custom_id":"unterminated}', '{"custom_id":"x"} trailing']) {
      assert.equal(scanIds(Buffer.from(line)), undefined, line);
    }
  });

  it("readLineIds gives JSON.parse's ids and its error, line numbers, CRLF kept in the bytes", async () => {
    const valid = TRICKY.filter((l) => parsedIds(l) !== "invalid");
    const text = valid.map((l, i) => (i % 3 === 0 ? `${l}\r\n` : i % 3 === 1 ? `${l}\n\n` : `${l}\n`)).join("");
    for (const size of [1, 2, 3, 7, 64, Infinity]) {
      const got = await collect(readLineIds(chunks(text, size), { file: "t.jsonl" }));
      const want = await collect(readJsonl(chunks(text, size), { file: "t.jsonl" }));
      assert.deepEqual(
        got.map((g) => [g.line, g.offset, g.customId, g.instanceId]),
        want.map((w) => [w.line, w.offset, ...Object.values(parsedIds(w.text) as object)]),
        `chunk size ${size}`,
      );
      assert.ok(got.filter((_, i) => i % 3 === 0).every((g) => g.bytes[g.bytes.length - 1] === 13), "CRLF lines keep their \\r");
    }
    for (const bad of TRICKY.filter((l) => parsedIds(l) === "invalid")) {
      const expected = await collect(readJsonl([`{"custom_id":"ok"}\n${bad}\n`], { file: "t.jsonl" })).catch((e: Error) => e.message);
      const got = await collect(readLineIds([`{"custom_id":"ok"}\n${bad}\n`], { file: "t.jsonl" })).catch((e: Error) => e.message);
      assert.equal(typeof got, "string", `no error for ${bad}`);
      assert.equal(got, expected, bad);
    }
  });

  it("calls a batch output line a success exactly when the schema and isSuccess do", () => {
    const lines = [
      '{"id":"r1","custom_id":"a","response":{"status_code":200,"request_id":"q","body":{"choices":[]}},"error":null}',
      '{"error":null,"response":{"body":{"status_code":500},"request_id":"q","status_code":200},"custom_id":"b","id":"r"}',
      '{"id":"r1","custom_id":"a","response":{"status_code":200.0,"request_id":"q"},"error":null}',
      '{"id":"r1","custom_id":"a","response":{"status_code":200.0,"request_id":"q","body":null},"error":null}',
      '{"id":"r1","custom_id":"a","response":{"status_code":500,"request_id":"q","body":{}},"error":null}',
      '{"id":"r1","custom_id":"a","response":null,"error":{"code":"batch_expired","message":"m"}}',
      '{"id":"r1","custom_id":"a","response":{"status_code":200,"request_id":"q"},"error":{"code":"x","message":"m"}}',
      '{"id":"r1","custom_id":"","response":{"status_code":200,"request_id":"q"},"error":null}',
      '{"custom_id":"a","response":{"status_code":200,"request_id":"q"},"error":null}',
      '{"id":"r1","custom_id":"a","response":{"status_code":200},"error":null}',
      '{"id":"r1","custom_id":"a","response":{"status_code":"200","request_id":"q"},"error":null}',
      '{"id":"r1","custom_id":"a","response":{"status_code":200,"request_id":"q"}}',
      '{"id":"r1","custom_id":"a\\u0062","response":{"status_code":2e2,"request_id":"q","body":1},"error":null}',
    ];
    for (const line of lines) {
      const parsed = BatchOutput.safeParse(JSON.parse(line));
      const expected = parsed.success && isSuccess(parsed.data) ? parsed.data.custom_id : undefined;
      assert.equal(scanSuccessfulOutput(Buffer.from(line)), expected, line);
    }
  });
});

describe("slice, merge and demux copy bytes", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  const ok = (id: string, rid: string) => `{"id":"${rid}","custom_id":"${id}","response":{"status_code":200,"request_id":"q","body":{"choices":[{"message":{"content":"a\\u00e9 \\"b\\""}}]}},"error":null}`;
  const failed = (id: string, rid: string) => `{"id":"${rid}","custom_id":"${id}","response":null,"error":{"code":"batch_expired","message":"expired"}}`;

  it("slice keeps CRLF endings and adds the missing final newline", async () => {
    const path = join(dir, "crlf.jsonl");
    const lines = TRICKY.filter((l) => parsedIds(l) !== "invalid" && (parsedIds(l) as { customId?: string }).customId);
    await writeFile(path, lines.join("\r\n"));
    const out = join(dir, "crlf-out.jsonl");
    const r = await runCli(["slice", path, "--start", "a", "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    const kept = lines.filter((l) => (parsedIds(l) as { customId: string }).customId >= "a");
    assert.ok(kept.length >= 10);
    const lastIsKept = kept[kept.length - 1] === lines[lines.length - 1];
    const expected = kept.map((l, i) => (i === kept.length - 1 && lastIsKept ? `${l}\n` : `${l}\r\n`)).join("");
    assert.equal((await readFile(out)).toString("latin1"), Buffer.from(expected).toString("latin1"));
  });

  it("merge copies the winning lines byte for byte, CRLF included", async () => {
    const a = join(dir, "round1.jsonl");
    const b = join(dir, "round2.jsonl");
    await writeFile(a, `${ok("x__pass0", "r1")}\r\n${failed("y__pass0", "r2")}\r\n  ${ok("z__pass0", "r3")}`);
    await writeFile(b, `${ok("y__pass0", "r4")}\r\n${failed("x__pass0", "r5")}\n`);
    const out = join(dir, "merged.jsonl");
    const r = await runCli(["merge", a, b, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(out, "utf8"), `${ok("x__pass0", "r1")}\r\n  ${ok("z__pass0", "r3")}\n${ok("y__pass0", "r4")}\r\n`);
  });

  it("merge still refuses an invalid output line with its location", async () => {
    const a = join(dir, "bad-round.jsonl");
    await writeFile(a, `${ok("x__pass0", "r1")}\n{"id":"r2","custom_id":"y","response":{"status_code":200},"error":null}\n`);
    const r = await runCli(["merge", a, "-o", join(dir, "never.jsonl")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batchline: .*bad-round\.jsonl:2 \(custom_id=y\): not a valid batch output line/);
  });

  it("demux keeps the bytes of each line", async () => {
    const path = join(dir, "passes.jsonl");
    await writeFile(path, `${ok("x__pass0", "r1")}\r\n${ok("x__pass1", "r2")}\n${ok("y__pass0", "r3")}`);
    const outDir = join(dir, "by-pass");
    const r = await runCli(["demux", path, "-d", outDir, "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(outDir, "passes_0.jsonl"), "utf8"), `${ok("x__pass0", "r1")}\r\n${ok("y__pass0", "r3")}\n`);
    assert.equal(await readFile(join(outDir, "passes_1.jsonl"), "utf8"), `${ok("x__pass1", "r2")}\n`);
  });
});

describe("mergeJsonlByKey with the byte scan", () => {
  it("writes the same bytes as with every line parsed", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const target = '{"instance_id":"b","model_patch":""}\r\n{"model_patch":"diff b","instance_id":"a","x":{"instance_id":"nested"}}\n{"instance\\u005fid":"c","model_patch":"p"}\n';
      const additions = '{"instance_id":"a","model_patch":""}\n{"instance_id":"b","model_patch":"diff \\"b2\\""}\n{"instance_id":"d","test_patch":"t"}\n';
      const results: string[] = [];
      for (const fields of [undefined, ["instance_id", "model_patch", "test_patch"]]) {
        const t = join(dir, `target-${results.length}.jsonl`);
        const a = join(dir, `additions-${results.length}.jsonl`);
        await writeFile(t, target);
        await writeFile(a, additions);
        const score = (v: { model_patch?: string; test_patch?: string }) => ((v.model_patch ?? v.test_patch ?? "") !== "" ? 1 : 0);
        await mergeJsonlByKey(t, a, { ...(fields ? { fields } : {}), key: (v: { instance_id: string }) => v.instance_id, score });
        results.push(await readFile(t, "utf8"));
      }
      assert.equal(results[1], results[0]);
      assert.equal(results[0], '{"model_patch":"diff b","instance_id":"a","x":{"instance_id":"nested"}}\n{"instance_id":"b","model_patch":"diff \\"b2\\""}\n{"instance\\u005fid":"c","model_patch":"p"}\n{"instance_id":"d","test_patch":"t"}\n');
    } finally {
      await cleanup();
    }
  });
});

describe("coverage's readers (src/pipeline/files.ts) with the byte scan", () => {
  it("customIds and answerOutcomes give what a full parse of every line gives", async () => {
    const { customIds, answerOutcomes } = await import("../src/pipeline/files.ts");
    const { failureCode } = await import("../src/internal/replay-index.ts");
    const { dir, cleanup } = await tempDir();
    try {
      const valid = TRICKY.filter((l) => parsedIds(l) !== "invalid");
      const requests = join(dir, "requests.jsonl");
      await writeFile(requests, valid.join("\r\n") + "\n\n");
      assert.deepEqual(await customIds(requests), valid.map((l) => (parsedIds(l) as { customId?: string }).customId).filter((id) => id !== undefined));
      assert.deepEqual(await customIds(join(dir, "absent.jsonl")), []);
      const answers = [
        '{"id":"r1","custom_id":"a","response":{"status_code":200,"request_id":"q","body":{"custom_id":"inner","x":"\\"custom_id\\":\\"z\\""}},"error":null}',
        '{"id":"r2","custom_id":"b","response":null,"error":{"code":"batch_expired","message":"expired"}}',
        '{"id":"r3","custom_id":"c","response":{"status_code":500,"request_id":"q","body":{}},"error":null}',
        '{"id":"r4","custom_id":"d","response":{"status_code":200,"body":{}},"error":null}',
        '{"id":"r5","custom\\u005fid":"e","response":{"status_code":200,"request_id":"q","body":{}},"error":null}',
        '{"id":"r6","custom_id":"a","response":null,"error":{"code":"server_error","message":"late failure"}}',
        '{"id":"r7","custom_id":"b","response":{"status_code":200,"request_id":"q","body":{}},"error":null}',
        '{"id":"r8","custom_id":"f","response":{"status_code":200,"request_id":"q","body":{}},"error":{"code":"x","message":"both"}}',
        '{"id":"r9","custom_id":42,"response":{"status_code":200,"request_id":"q","body":{}},"error":null}',
        '{"id":"r10","custom_id":"g","custom_id":"h","response":{"status_code":200,"request_id":"q","body":{}},"error":null}',
      ];
      const outputs = [join(dir, "out.jsonl"), join(dir, "round1-out.jsonl")];
      await writeFile(outputs[0]!, answers.slice(0, 6).join("\n") + "\n");
      await writeFile(outputs[1]!, answers.slice(6).join("\r\n"));
      const expected = new Map<string, string>();
      for (const line of answers.map((l) => JSON.parse(l) as BatchOutput)) {
        if (typeof line.custom_id !== "string") continue;
        const good = isSuccess(line);
        if (expected.get(line.custom_id) === "ok" && !good) continue;
        expected.set(line.custom_id, good ? "ok" : failureCode(line));
      }
      assert.deepEqual(await answerOutcomes(outputs), expected);
      await writeFile(outputs[1]!, '{"id":"r1","custom_id":"a"\n');
      await assert.rejects(answerOutcomes(outputs), /round1-out\.jsonl:1\b.*not valid JSON/);
    } finally {
      await cleanup();
    }
  });
});
