import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { lstat, readFile, readdir, readlink, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SweBenchRow, testList } from "../schemas/swe-bench-row.ts";
import { UsageError } from "../src/core/errors.ts";
import { DatasetError, DatasetRowError } from "../src/datasets/errors.ts";
import { hubCacheDir, hubOptionsFromEnv, mainSplitFiles } from "../src/datasets/hub.ts";
import { readJsonArray } from "../src/datasets/json-array.ts";
import { openParquet, readParquetRows } from "../src/datasets/parquet.ts";
import { type DatasetRecord, indexById, loadDataset, parseDatasetSpec } from "../src/datasets/load.ts";
import { chunks, collect, FIXTURES, parseLines, runCli, tempDir } from "./helpers.ts";
import { type Logged, type Repo, fakeSha, sha256, startHub } from "./hub-double.ts";
import { type ParquetColumnSpec, makeParquet, stringColumns } from "./parquet-writer.ts";

const SIZES = [1, 2, 3, 7, Infinity];
const MINI = join(FIXTURES, "datasets/swe-bench-mini.jsonl");
const ROWS: Array<Record<string, unknown>> = (await readFile(MINI, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
const COLUMNS = stringColumns(ROWS);
const row = (i: number): Record<string, unknown> => ROWS[i] as Record<string, unknown>;
const TOKEN = "hf_test_token_123";
/** The agentless fixture rows, served from the hub double for the CLI test. */
const MINICALC = readFileSync(join(FIXTURES, "agentless/dataset.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

async function expectReject(promise: Promise<unknown>, check: (err: any) => void): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, "expected an error");
  check(caught);
}

describe("SweBenchRow", () => {
  it("accepts the fixture rows as they are, version \"2.20\" a string, extra columns kept", () => {
    const parsed = SweBenchRow.parse({ ...row(0), extra_column: [1, 2] });
    assert.equal(parsed.version, "2.20");
    assert.deepEqual(parsed, { ...row(0), extra_column: [1, 2] });
  });

  it("refuses a numeric version and says why", () => {
    const result = SweBenchRow.safeParse({ ...row(0), version: 2.2 });
    assert.equal(result.success, false);
    assert.match(result.error!.issues[0]!.message, /a number \(2\.2\), not a string.*quote it/);
  });

  it("takes FAIL_TO_PASS as a JSON string or an array, and refuses a string that is not one", () => {
    assert.ok(SweBenchRow.safeParse({ ...row(0), FAIL_TO_PASS: ["t::a"] }).success);
    assert.ok(SweBenchRow.safeParse({ ...row(0), PASS_TO_PASS: null, hints_text: null }).success);
    assert.equal(SweBenchRow.safeParse({ ...row(0), FAIL_TO_PASS: "tests/a.py::t" }).success, false);
    assert.deepEqual(testList(row(0)["FAIL_TO_PASS"] as string), ["tests/test_stats.py::test_mean_empty"]);
    assert.deepEqual(testList(["x"]), ["x"]);
    assert.deepEqual(testList(undefined), []);
  });
});

describe("readJsonArray", () => {
  const text = '\ufeff[\r\n  {"id": "a", "s": "]}, [{\\"x\\"", "u": "naïve 中文 🎉"},\n  {"id": "b", "n": [1, [2, {"c": 3}]]}\n  ,\n"plain", 42, null, true\n]\n';
  for (const size of SIZES) {
    it(`gives the same items, positions and start lines at chunk size ${size}`, async () => {
      const got = await collect(readJsonArray(chunks(text, size), { file: "rows.json" }));
      assert.deepEqual(got, [
        { row: 1, line: 2, value: { id: "a", s: ']}, [{"x"', u: "naïve 中文 🎉" } },
        { row: 2, line: 3, value: { id: "b", n: [1, [2, { c: 3 }]] } },
        { row: 3, line: 5, value: "plain" },
        { row: 4, line: 5, value: 42 },
        { row: 5, line: 5, value: null },
        { row: 6, line: 5, value: true },
      ]);
    });
  }

  it("finds every string's end whatever chunk boundary falls in a run of backslashes or on a quote", async () => {
    const values = [{ s: "a\\" }, { s: '\\"' }, "\\\\\\", { k: 'x"y\\"z', t: ["\\", '"', "\\\\"] }, "é\\", { e: "" }];
    const doc = Buffer.from(JSON.stringify(values, null, 1));
    for (let at = 0; at <= doc.length; at++) {
      const got = await collect(readJsonArray([doc.subarray(0, at), doc.subarray(at)], { file: "rows.json" }));
      assert.deepEqual(got.map((g) => g.value), values, `split at byte ${at}`);
    }
  });

  for (const [name, bad, pattern] of [
    ["not an array", '{"a": 1}', /rows\.json:1: expected a JSON array/],
    ["a trailing comma", '[{"a": 1},\n]', /rows\.json:2: trailing comma/],
    ["a truncated file", '[{"a": 1},\n{"a": ', /rows\.json:2: the JSON array is not closed/],
    ["text after the array", "[]\n[]", /rows\.json:2: unexpected '\[' after the end/],
    ["a missing comma", '[{"a": 1} {"a": 2}]', /rows\.json:1: expected ',' or '\]' after item 1/],
    ["an invalid item", '[\n{"a": tru}]', /rows\.json:2: item 1 of the JSON array is not valid JSON/],
    ["an empty file", "  \n", /rows\.json:2: empty file/],
  ] as const) {
    it(`reports ${name} with file and line`, async () => {
      await expectReject(collect(readJsonArray([bad], { file: "rows.json" })), (err) => assert.match(err.message, pattern));
    });
  }
});

describe("parseDatasetSpec", () => {
  it("treats .jsonl/.json/.parquet paths as local and anything else as a hub id", () => {
    assert.deepEqual(parseDatasetSpec("data/test.JSONL"), { kind: "local", path: "data/test.JSONL", format: "jsonl" });
    assert.deepEqual(parseDatasetSpec("/x/rows.json"), { kind: "local", path: "/x/rows.json", format: "json" });
    assert.deepEqual(parseDatasetSpec("t.parquet"), { kind: "local", path: "t.parquet", format: "parquet" });
    assert.deepEqual(parseDatasetSpec("princeton-nlp/SWE-bench_Lite"), { kind: "hub", dataset: "princeton-nlp/SWE-bench_Lite" });
    assert.throws(() => parseDatasetSpec("rows.csv"), /rows\.csv: unsupported file format/);
  });
});

describe("loadDataset: local files", () => {
  it("reads the .jsonl fixture with line numbers; version stays \"2.20\"", async () => {
    const got = await collect(loadDataset(MINI));
    assert.deepEqual(got.map((r) => r.value), ROWS);
    assert.deepEqual(got.map((r) => r.at), ROWS.map((r, i) => ({ file: MINI, line: i + 1, instanceId: r["instance_id"] })));
    assert.equal(typeof got[0]!.value.version, "string");
    assert.equal(got[0]!.value.version, "2.20");
  });

  it("streams a .json array with row numbers and start lines", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "rows.json");
      await writeFile(path, JSON.stringify(ROWS, null, 2));
      const got = await collect(loadDataset(path));
      assert.deepEqual(got.map((r) => r.value), ROWS);
      assert.deepEqual(got.map((r) => r.at.row), [1, 2, 3]);
      assert.equal(got[0]!.at.line, 2);
      assert.equal(got[0]!.value.version, "2.20");
    } finally {
      await cleanup();
    }
  });

  it("reads a .json file holding JSON Lines (what Dataset.to_json writes)", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "rows.json");
      await writeFile(path, await readFile(MINI));
      const got = await collect(loadDataset(path));
      assert.deepEqual(got.map((r) => [r.at.line, r.value.instance_id]), ROWS.map((r, i) => [i + 1, r["instance_id"]]));
    } finally {
      await cleanup();
    }
  });

  it("reads a local gzip .parquet (hyparquet-compressors) with 1-based row numbers", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "test.parquet");
      await writeFile(path, makeParquet(COLUMNS, ROWS, { rowGroupSize: 2, codec: "GZIP" }));
      const got = await collect(loadDataset(path));
      assert.deepEqual(got.map((r) => r.value), ROWS);
      assert.deepEqual(got.map((r) => r.at), ROWS.map((r, i) => ({ file: path, row: i + 1, instanceId: r["instance_id"] })));
      assert.equal(got[0]!.value.version, "2.20");
    } finally {
      await cleanup();
    }
  });

  it("reads parquet one row group at a time", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "groups.parquet");
      await writeFile(path, makeParquet(COLUMNS, ROWS, { rowGroupSize: 1 }));
      const source = await openParquet(path, path);
      const inner = source.file;
      const reads: number[] = [];
      source.file = { byteLength: inner.byteLength, slice: (start, end) => (reads.push(start), inner.slice(start, end)) };
      const groupStarts = source.metadata.row_groups.map((g) => Number(g.columns[0]!.meta_data!.data_page_offset));
      const rows = readParquetRows(source, path);
      assert.deepEqual((await rows.next()).value, { row: 1, value: row(0) });
      assert.deepEqual(reads, [groupStarts[0]], "only the first row group was read");
      assert.equal((await collect(rows)).length, 2);
      assert.deepEqual(reads, groupStarts);
    } finally {
      await cleanup();
    }
  });

  it("turns parquet timestamps and int64 into JSON values", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "typed.parquet");
      const columns: ParquetColumnSpec[] = [
        ...COLUMNS.filter((c) => c.name !== "created_at"),
        { name: "created_at", type: "timestamp-ms" },
        { name: "stars", type: "int64" },
      ];
      await writeFile(path, makeParquet(columns, [{ ...row(0), created_at: new Date("2021-03-04T10:15:00Z"), stars: 12n }]));
      const [got] = await collect(loadDataset(path));
      assert.equal(got!.value.created_at, "2021-03-04T10:15:00Z");
      assert.equal(got!.value["stars"], 12);
    } finally {
      await cleanup();
    }
  });

  it("names the parquet file and the missing columns before reading rows", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "dataset.parquet");
      const columns = COLUMNS.filter((c) => c.name !== "problem_statement" && c.name !== "base_commit");
      await writeFile(path, makeParquet(columns, ROWS));
      await expectReject(collect(loadDataset(path)), (err) => {
        assert.ok(err instanceof DatasetError);
        assert.equal(err.kind, "missing-columns");
        assert.deepEqual(err.columns, ["base_commit", "problem_statement"]);
        assert.match(err.message, /dataset\.parquet: missing columns base_commit, problem_statement \(columns: repo, instance_id, /);
      });
    } finally {
      await cleanup();
    }
  });

  it("names the file, row and instance_id of a row with null required fields", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "dataset.parquet");
      const rows = [row(0), row(1), { ...row(2), problem_statement: null, base_commit: null }];
      await writeFile(path, makeParquet(COLUMNS, rows));
      await expectReject(collect(loadDataset(path)), (err) => {
        assert.ok(err instanceof DatasetRowError);
        assert.equal(err.message, `${path} row 3 (instance_id=acme-labs__quickmath-31): missing fields base_commit, problem_statement`);
        assert.deepEqual(err.missing, ["base_commit", "problem_statement"]);
        assert.deepEqual(err.at, { file: path, row: 3, instanceId: "acme-labs__quickmath-31" });
      });
    } finally {
      await cleanup();
    }
  });

  it("names file:line for a bad JSONL row, refuses a numeric version, and skips bad rows with onBadRow", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "bad.jsonl");
      const { problem_statement: _, ...noStatement } = row(1);
      await writeFile(path, [JSON.stringify(row(0)), "", JSON.stringify(noStatement), `{"instance_id":"x__y-1","repo":"x/y","base_commit":"abc","problem_statement":"p","version":2.20}`].join("\n"));
      await expectReject(collect(loadDataset(path)), (err) => {
        assert.ok(err instanceof DatasetRowError);
        assert.equal(err.message, `${path}:3 (instance_id=acme-labs__quickmath-27): missing fields problem_statement`);
      });
      const bad: DatasetRowError[] = [];
      const good = await collect(loadDataset(path, { onBadRow: (e) => bad.push(e) }));
      assert.deepEqual(good.map((r) => r.at.line), [1]);
      assert.equal(bad.length, 2);
      assert.match(bad[1]!.message, /:4 \(instance_id=x__y-1\): not a valid SWE-bench row: version: a number \(2\.2\), not a string/);
    } finally {
      await cleanup();
    }
  });

  it("says when a local file does not exist", async () => {
    await expectReject(collect(loadDataset("/nonexistent/dir/test.jsonl")), (err) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.kind, "not-found");
      assert.match(err.message, /\/nonexistent\/dir\/test\.jsonl: no such file/);
    });
  });
});

describe("indexById", () => {
  it("maps instance_id to row", async () => {
    const index = await indexById(loadDataset(MINI));
    assert.deepEqual([...index.keys()], ROWS.map((r) => r["instance_id"]));
    assert.equal(index.get("acme-labs__quickmath-12")!.version, "2.20");
  });

  it("refuses a repeated instance_id, naming both places", async () => {
    const records: DatasetRecord<SweBenchRow>[] = [
      { value: SweBenchRow.parse(row(0)), at: { file: "a.jsonl", line: 1 } },
      { value: SweBenchRow.parse(row(0)), at: { file: "a.jsonl", line: 7, instanceId: "acme-labs__quickmath-12" } },
    ];
    await expectReject(indexById(records), (err) => {
      assert.ok(err instanceof DatasetRowError);
      assert.equal(err.message, "a.jsonl:7 (instance_id=acme-labs__quickmath-12): duplicate instance_id (first seen at a.jsonl:1)");
    });
  });
});

describe("hub options", () => {
  it("follows huggingface_hub's variables, from an env object", () => {
    assert.equal(hubCacheDir({}, "/home/u"), "/home/u/.cache/huggingface/hub");
    assert.equal(hubCacheDir({ XDG_CACHE_HOME: "/x" }, "/home/u"), "/x/huggingface/hub");
    assert.equal(hubCacheDir({ HF_HOME: "/hf" }, "/home/u"), "/hf/hub");
    assert.equal(hubCacheDir({ HF_HOME: "/hf", HF_HUB_CACHE: "/c" }, "/home/u"), "/c");
    assert.deepEqual(hubOptionsFromEnv({ HF_ENDPOINT: "http://mirror", HF_TOKEN: "hf_x", HF_HUB_OFFLINE: "1" }, "/h"), {
      cacheDir: "/h/.cache/huggingface/hub",
      offline: true,
      hubUrl: "http://mirror",
      accessToken: "hf_x",
    });
  });

  it("finds push_to_hub shards, plain split files and split folders on a main branch", () => {
    const entry = (path: string) => ({ type: "file" as const, path, size: 1 });
    const entries = [
      entry("data/test-00001-of-00002.parquet"),
      entry("data/test-00000-of-00002.parquet"),
      entry("data/dev-00000-of-00001-0a1b2c.parquet"),
      entry("validation.parquet"),
      entry("train/part-0.parquet"),
      entry("README.md"),
      entry("lite/test-00000-of-00001.parquet"),
    ];
    const got = mainSplitFiles(entries, "default", "test");
    assert.deepEqual(got.files.map((e) => e.path), ["data/test-00000-of-00002.parquet", "data/test-00001-of-00002.parquet"]);
    assert.deepEqual(got.splits, ["dev", "lite", "test", "train", "validation"]);
    assert.deepEqual(mainSplitFiles(entries, "lite", "test").files.map((e) => e.path), ["lite/test-00000-of-00001.parquet"]);
  });
});

/** Method and path of each logged request, without the query. */
const routes = (logged: Logged[]) => logged.map((r) => `${r.method} ${r.url.split("?")[0]}`);

describe("loadDataset: Hugging Face Hub", () => {
  const mainSha = fakeSha("main");
  const convSha = fakeSha("conv");
  const devRow = { ...row(1), instance_id: "acme-labs__quickmath-dev-1" };
  const repos: Record<string, Repo> = {
    "acme/quickmath-bench": {
      branches: [
        {
          name: "main",
          sha: mainSha,
          files: {
            "README.md": Buffer.from("---\nconfigs: []\n---\n# quickmath bench\n"),
            "data/test-00000-of-00002.parquet": makeParquet(COLUMNS, [row(0), row(1)], { rowGroupSize: 1, codec: "SNAPPY" }),
            "data/test-00001-of-00002.parquet": makeParquet(COLUMNS, [row(2)], { codec: "GZIP" }),
            "data/dev-00000-of-00001.parquet": makeParquet(COLUMNS, [devRow]),
          },
        },
      ],
    },
    "acme/jsonl-only": {
      pageSize: 2,
      branches: [
        { name: "main", sha: fakeSha("jsonl-main"), files: { "README.md": Buffer.from("# jsonl\n"), "data/test.jsonl": Buffer.from(`${JSON.stringify(row(0))}\n`) } },
        {
          name: "refs/convert/parquet",
          sha: convSha,
          files: { "default/test/0000.parquet": makeParquet(COLUMNS, [row(0)]), "default/validation/0000.parquet": makeParquet(COLUMNS, [row(1)]) },
        },
      ],
    },
    "acme/huge": {
      branches: [
        { name: "main", sha: fakeSha("huge-main"), files: { "train.jsonl": Buffer.from("{}\n") } },
        { name: "refs/convert/parquet", sha: fakeSha("huge-conv"), files: { "default/partial-train/0000.parquet": makeParquet(COLUMNS, [row(0)]) } },
      ],
    },
    "acme/minicalc-hub": { token: TOKEN, branches: [{ name: "main", sha: fakeSha("minicalc"), files: { "data/test-00000-of-00001.parquet": makeParquet(stringColumns(MINICALC), MINICALC) } }] },
    "acme/gated": { token: TOKEN, branches: [{ name: "main", sha: fakeSha("gated"), files: { "data/test-00000-of-00001.parquet": makeParquet(COLUMNS, [row(2)]) } }] },
    "acme/corrupt": {
      corrupt: new Set(["data/test-00000-of-00001.parquet"]),
      branches: [{ name: "main", sha: fakeSha("corrupt"), files: { "data/test-00000-of-00001.parquet": makeParquet(COLUMNS, [row(0)]) } }],
    },
  };
  let hub: Awaited<ReturnType<typeof startHub>>;
  let cache: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    hub = await startHub(repos);
    cache = await tempDir();
  });
  after(async () => {
    await hub.close();
    await cache.cleanup();
  });

  /** Requests made while `fn` runs, each also printed as a test diagnostic. */
  async function during<T>(t: { diagnostic(message: string): void }, fn: () => Promise<T>): Promise<{ result: T; requests: Logged[] }> {
    const start = hub.requests.length;
    const result = await fn();
    const requests = hub.requests.slice(start);
    for (const r of requests) t.diagnostic(`${r.method} ${r.url}`);
    return { result, requests };
  }

  it("downloads a split's parquet shards from main, sending the token on every request", async (t) => {
    // stdout carries only data: nothing on the download path may print (downloadFileToCacheDir would).
    const printed: unknown[] = [];
    const saved = { log: console.log, info: console.info, debug: console.debug };
    console.log = console.info = console.debug = (...args: unknown[]) => void printed.push(args);
    let run: Awaited<ReturnType<typeof during<DatasetRecord<SweBenchRow>[]>>>;
    try {
      run = await during(t, () => collect(loadDataset("acme/quickmath-bench", { hubUrl: hub.url, accessToken: TOKEN, cacheDir: cache.dir })));
    } finally {
      Object.assign(console, saved);
    }
    assert.deepEqual(printed, []);
    const { result, requests } = run;
    assert.deepEqual(result.map((r) => r.value), ROWS);
    const file = (n: number) => `hf://datasets/acme/quickmath-bench@main/data/test-0000${n}-of-00002.parquet`;
    assert.deepEqual(result.map((r) => r.at), [
      { file: file(0), row: 1, instanceId: "acme-labs__quickmath-12" },
      { file: file(0), row: 2, instanceId: "acme-labs__quickmath-27" },
      { file: file(1), row: 1, instanceId: "acme-labs__quickmath-31" },
    ]);
    assert.equal(result[0]!.value.version, "2.20");
    const base = "/datasets/acme/quickmath-bench";
    assert.deepEqual(routes(requests), [
      "GET /api/datasets/acme/quickmath-bench/revision/main",
      `GET /api/datasets/acme/quickmath-bench/tree/${mainSha}`,
      `GET ${base}/resolve/${mainSha}/data/test-00000-of-00002.parquet`,
      `GET ${base}/resolve/${mainSha}/data/test-00000-of-00002.parquet`,
      `GET ${base}/resolve/${mainSha}/data/test-00001-of-00002.parquet`,
      `GET ${base}/resolve/${mainSha}/data/test-00001-of-00002.parquet`,
    ]);
    assert.ok(requests.every((r) => r.auth === `Bearer ${TOKEN}`), "every request carries the bearer token");
  });

  it("serves a second load from the cache without any request", async (t) => {
    const { result, requests } = await during(t, () => collect(loadDataset("acme/quickmath-bench", { hubUrl: hub.url, accessToken: TOKEN, cacheDir: cache.dir })));
    assert.deepEqual(requests, []);
    assert.deepEqual(result.map((r) => r.value), ROWS);
    const offline = await during(t, () => collect(loadDataset("acme/quickmath-bench", { hubUrl: hub.url, cacheDir: cache.dir, offline: true })));
    assert.deepEqual(offline.requests, []);
    assert.equal(offline.result.length, 3);
  });

  it("keeps the hub cache layout: blobs by hash, snapshot links, refs/main", async () => {
    const storage = join(cache.dir, "datasets--acme--quickmath-bench");
    const data = repos["acme/quickmath-bench"]!.branches[0]!.files["data/test-00000-of-00002.parquet"]!;
    const pointer = join(storage, "snapshots", mainSha, "data/test-00000-of-00002.parquet");
    assert.ok((await lstat(pointer)).isSymbolicLink());
    assert.equal(await readlink(pointer), join("..", "..", "..", "blobs", sha256(data)));
    assert.equal(await readFile(join(storage, "refs/main"), "utf8"), mainSha);
    assert.deepEqual((await readdir(join(storage, "blobs"))).sort(), [
      sha256(data),
      sha256(repos["acme/quickmath-bench"]!.branches[0]!.files["data/test-00001-of-00002.parquet"]!),
    ].sort());
  });

  it("asks the hub again with refresh, without downloading cached files again", async (t) => {
    const { requests } = await during(t, () => collect(loadDataset("acme/quickmath-bench", { hubUrl: hub.url, cacheDir: cache.dir, refresh: true })));
    assert.deepEqual(routes(requests), ["GET /api/datasets/acme/quickmath-bench/revision/main", `GET /api/datasets/acme/quickmath-bench/tree/${mainSha}`]);
  });

  it("loads another split of the same dataset", async () => {
    const got = await collect(loadDataset("acme/quickmath-bench", { split: "dev", hubUrl: hub.url, cacheDir: cache.dir }));
    assert.deepEqual(got.map((r) => r.value), [devRow]);
    assert.equal(got[0]!.at.file, "hf://datasets/acme/quickmath-bench@main/data/dev-00000-of-00001.parquet");
  });

  it("names the splits found when the split does not exist", async (t) => {
    await expectReject(during(t, () => collect(loadDataset("acme/quickmath-bench", { split: "train", hubUrl: hub.url, cacheDir: cache.dir }))), (err) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.kind, "split-not-found");
      assert.equal(err.message, 'acme/quickmath-bench has no split "train" (splits found: dev, test)');
      assert.deepEqual(err.splits, ["dev", "test"]);
    });
  });

  it("falls back to the parquet conversion branch (paginated tree) when main has no parquet", async (t) => {
    const { result, requests } = await during(t, () => collect(loadDataset("acme/jsonl-only", { hubUrl: hub.url, cacheDir: cache.dir })));
    assert.deepEqual(result.map((r) => r.value), [row(0)]);
    assert.equal(result[0]!.at.file, "hf://datasets/acme/jsonl-only@refs%2Fconvert%2Fparquet/default/test/0000.parquet");
    const paths = routes(requests);
    assert.equal(paths[0], "GET /api/datasets/acme/jsonl-only/revision/main");
    assert.ok(paths.includes("GET /api/datasets/acme/jsonl-only/revision/refs%2Fconvert%2Fparquet"));
    assert.ok(paths.filter((p) => p === `GET /api/datasets/acme/jsonl-only/tree/${convSha}`).length >= 2, "tree pages followed");
    assert.equal(await readFile(join(cache.dir, "datasets--acme--jsonl-only/refs/refs/convert/parquet"), "utf8"), convSha);
    const again = await during(t, () => collect(loadDataset("acme/jsonl-only", { hubUrl: hub.url, cacheDir: cache.dir })));
    assert.deepEqual(again.requests, []);
    const explicit = await collect(loadDataset("acme/jsonl-only", { split: "validation", revision: "refs/convert/parquet", hubUrl: hub.url, cacheDir: cache.dir }));
    assert.deepEqual(explicit.map((r) => r.value), [row(1)]);
  });

  it("lists the conversion branch's splits when the split is missing there", async () => {
    await expectReject(collect(loadDataset("acme/jsonl-only", { split: "dev", hubUrl: hub.url, cacheDir: cache.dir })), (err) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.message, 'acme/jsonl-only has no split "dev" (splits found: test, validation)');
    });
  });

  it("refuses a partially converted split", async () => {
    await expectReject(collect(loadDataset("acme/huge", { split: "train", hubUrl: hub.url, cacheDir: cache.dir })), (err) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.kind, "partial");
      assert.match(err.message, /only part of split "train".*drop rows/);
    });
  });

  it("says when the dataset does not exist, or needs a token", async () => {
    await expectReject(collect(loadDataset("acme/nope", { hubUrl: hub.url, cacheDir: cache.dir })), (err) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.kind, "not-found");
      assert.equal(err.message, `dataset acme/nope not found on ${hub.url} (check the name; if it is private or gated, set HF_TOKEN)`);
    });
    await expectReject(collect(loadDataset("acme/gated", { hubUrl: hub.url, cacheDir: cache.dir })), (err) => assert.match(err.message, /set HF_TOKEN/));
    const got = await collect(loadDataset("acme/gated", { hubUrl: hub.url, cacheDir: cache.dir, accessToken: TOKEN }));
    assert.deepEqual(got.map((r) => r.value), [row(2)]);
  });

  it("the agentless CLI loads --dataset from the hub with HF_ENDPOINT, HF_TOKEN and HF_HUB_CACHE, then from the cache", async () => {
    const out = join(cache.dir, "cli-requests.jsonl");
    const env = { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, HF_HUB_CACHE: join(cache.dir, "cli-cache"), HF_HOME: join(cache.dir, "home") };
    const args = ["agentless", "bugfixer", "--stage", "gen_step1", "--dataset", "acme/minicalc-hub", "--split", "test", "--repostructure_dir", join(FIXTURES, "agentless/repostructures"), "--output_file", out];
    const before = hub.requests.length;
    const r = await runCli(args, { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(hub.requests.slice(before).every((q) => q.auth === `Bearer ${TOKEN}`), "HF_TOKEN sent on every request");
    assert.ok(hub.requests.length > before);
    const ids = (parseLines(await readFile(out, "utf8")) as { custom_id: string }[]).map((q) => q.custom_id);
    assert.deepEqual(ids, ["acme__minicalc-101", "acme__minicalc-102", "acme__minicalc-103"]);
    const again = hub.requests.length;
    const cached = await runCli([...args, "--output_file", `${out}.2`], { env });
    assert.equal(cached.code, 0, cached.stderr);
    assert.equal(hub.requests.length, again, "the second run reads the cache and asks the hub nothing");
    assert.deepEqual(await readFile(`${out}.2`, "utf8"), await readFile(out, "utf8"));
  });

  it("says to set HF_ENDPOINT or use a local file when the hub is unreachable", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expectReject(collect(loadDataset("acme/quickmath-bench", { hubUrl: `http://127.0.0.1:${port}`, cacheDir: join(cache.dir, "other") })), (err) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.kind, "unreachable");
      assert.match(err.message, new RegExp(`cannot reach the Hugging Face Hub at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\).*set HF_ENDPOINT.*local \\.jsonl, \\.json or \\.parquet file`));
    });
  });

  it("fails offline when the split is not cached, without any request", async (t) => {
    const { requests } = await during(t, () =>
      expectReject(collect(loadDataset("acme/quickmath-bench", { hubUrl: hub.url, cacheDir: join(cache.dir, "empty"), offline: true })), (err) => {
        assert.ok(err instanceof DatasetError);
        assert.equal(err.kind, "not-cached");
        assert.match(err.message, /is not in the Hugging Face cache at .*empty/);
      }),
    );
    assert.deepEqual(requests, []);
  });

  it("refuses a download whose hash does not match, leaving nothing in the cache", async () => {
    await expectReject(collect(loadDataset("acme/corrupt", { hubUrl: hub.url, cacheDir: cache.dir })), (err) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.kind, "download");
      assert.match(err.message, /data\/test-00000-of-00001\.parquet: downloaded content does not match the hub's hash/);
    });
    const storage = join(cache.dir, "datasets--acme--corrupt");
    assert.deepEqual(await readdir(join(storage, "blobs")), []);
    assert.equal(existsSync(join(storage, "snapshots")), false);
    assert.equal(existsSync(join(storage, "batchline")), false);
  });

  it("refuses bad options before any request", async () => {
    const start = hub.requests.length;
    await expectReject(collect(loadDataset("acme/quickmath-bench", { hubUrl: hub.url, cacheDir: cache.dir, accessToken: "abc" })), (err) => assert.ok(err instanceof UsageError));
    await expectReject(collect(loadDataset("acme/quickmath-bench", { hubUrl: hub.url })), (err) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /cache directory/);
    });
    await expectReject(collect(loadDataset("not a dataset", { cacheDir: cache.dir })), (err) => assert.equal(err.kind, "bad-spec"));
    assert.equal(hub.requests.length, start);
  });
});
