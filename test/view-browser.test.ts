/**
 * `batchline view` in a real browser: Debian's headless Chromium (apt `chromium`, installed by
 * .ci/run) driven by playwright-core, one browser for the whole file. The run is a real
 * agentless-bugfixer run on the agentless fixtures, with one step-2 answer carrying a `<script>`
 * and an `onerror=` into its patch, answer and reasoning: the page must show them as text and run
 * neither. Screenshots go to the test's temp dir.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { type Browser, type Page, type Route, chromium } from "playwright-core";
import { createCommitRepo } from "./commit-testgen-repo.ts";
import { CLI, FIXTURES, runCli, tempDir } from "./helpers.ts";

/** What the page functions below use of an element (the project compiles without the DOM lib, so these are typed here, not inferred). */
interface WithAttributes {
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
}

const CHROMIUM = "/usr/bin/chromium";
const F = join(FIXTURES, "agentless");
const XSS_CODE = `"<script>window.__pwned = 1</script><img src=x onerror=\\"window.__pwned = 2\\">"`;
const XSS_PROSE = `<script>window.__pwned = 3</script> and <img src=x onerror="window.__pwned = 4">`;

let dir = "";
let cleanup = async () => {};
let workdir = "";
let browser: Browser;
const servers: ChildProcess[] = [];

/** Starts `batchline view ...args`, resolves to the URL it prints on stdout. */
function startView(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "view", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    servers.push(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl !== -1) resolve(out.slice(0, nl));
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (code) => reject(new Error(`view exited ${code} before printing its URL: ${err}`)));
  });
}

/** A page that fails the test on any dialog and records page errors. */
async function newPage(): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return { page, dialogs, errors };
}

async function assertNothingRan(page: Page, dialogs: string[]): Promise<void> {
  assert.deepEqual(dialogs, []);
  assert.equal(await page.evaluate("window.__pwned"), undefined, "model output ran as script");
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: the view browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
  ({ dir, cleanup } = await tempDir());
  // one step-2 answer writes markup into its patch, its prose and its reasoning
  const lines = (await readFile(join(F, "bugfixer-step2-output.jsonl"), "utf8")).split("\n").filter((l) => l.trim() !== "");
  const step2 = lines.map((l) => {
    const v = JSON.parse(l);
    if (v.custom_id !== "acme__minicalc-101__pass1") return l;
    const message = v.response.body.choices[0].message;
    message.content = message.content
      .replace(`raise CalcError("division by zero", position)`, `raise CalcError(${XSS_CODE}, position)`)
      .replace("No, precedence", `No (${XSS_PROSE}), precedence`)
      .replace("so Python's own error escapes", `so Python's own error escapes ${XSS_PROSE}`);
    return JSON.stringify(v);
  });
  const step2File = join(dir, "step2-output.jsonl");
  await writeFile(step2File, step2.join("\n") + "\n");
  workdir = join(dir, "run");
  const r = await runCli(["pipeline", "agentless-bugfixer", "--dataset", join(F, "dataset.jsonl"), "--repostructure_dir", join(F, "repostructures"), "--passk", "2", "--backend", "replay", "--from-step1", join(F, "bugfixer-step1-output.jsonl"), "--from-step2", step2File, "--rounds", "0", "--workdir", workdir]);
  assert.equal(r.code, 0, r.stderr);
  browser = await chromium.launch({ executablePath: CHROMIUM });
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.kill("SIGTERM");
  await cleanup();
});

describe("batchline view (headless Chromium)", () => {
  it("serves the overview: counts from the report and the files, steps, failures by reason; the table filters and sorts", async () => {
    const url = await startView([workdir]);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { page, dialogs, errors } = await newPage();
    await page.goto(url);
    await page.getByTestId("count-instances").waitFor();
    assert.equal(await page.getByTestId("count-instances").textContent(), "4");
    assert.equal(await page.getByTestId("count-custom-ids").textContent(), "8");
    assert.equal(await page.getByTestId("count-with-patch").textContent(), "2");
    assert.equal(await page.getByTestId("count-without-patch").textContent(), "6");
    assert.equal(await page.getByTestId("count-tokens").textContent(), "12,446 / 33,422");
    assert.deepEqual(await page.locator("[data-step]").evaluateAll((rows: WithAttributes[]) => rows.map((r) => r.getAttribute("data-step"))), ["gen_step1", "submit_step1", "proc_step1_gen_step2", "submit_step2", "proc_step2"]);
    assert.match((await page.locator('[data-step="submit_step2"]').textContent()) ?? "", /batch_cancelled ×1/);
    assert.match((await page.getByTestId("failures").textContent()) ?? "", /structure_not_found2/);
    assert.match((await page.getByTestId("vote-summary").textContent()) ?? "", /2 unanimous, 0 majority, 0 tie, 1 no patch; 2 predictions/);
    const rows = page.getByTestId("row");
    assert.equal(await rows.count(), 4);
    await page.getByTestId("filter").fill("truncated");
    assert.deepEqual(await rows.evaluateAll((r: WithAttributes[]) => r.map((x) => x.getAttribute("data-id"))), ["acme__minicalc-103"]);
    await page.getByTestId("filter").fill("");
    await page.getByTestId("show").selectOption("patch");
    assert.deepEqual(await rows.evaluateAll((r: WithAttributes[]) => r.map((x) => x.getAttribute("data-id"))), ["acme__minicalc-101", "acme__minicalc-103"]);
    await page.getByTestId("show").selectOption("all");
    await page.locator('th[data-sort="instance_id"]').click(); // already sorted ascending: now descending
    assert.equal(await rows.first().getAttribute("data-id"), "acme__minicalc-104");
    assert.equal(await page.getByTestId("rows-shown").textContent(), "4 of 4 instances");
    await page.screenshot({ path: join(dir, "overview.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await assertNothingRan(page, dialogs);
    await page.close();
  });

  it("shows an instance: files step 1 found, the patch as a diff with added lines marked, the answer with reasoning folded; model markup stays text", async () => {
    const url = await startView([workdir, "--dataset", join(F, "dataset.jsonl")]);
    const { page, dialogs, errors } = await newPage();
    await page.goto(url);
    await page.getByRole("link", { name: "acme__minicalc-101" }).click();
    await page.getByTestId("instance-id").waitFor();
    assert.equal(await page.getByTestId("instance-id").textContent(), "acme__minicalc-101");
    assert.match((await page.getByTestId("problem").textContent()) ?? "", /^Dividing by zero raises ZeroDivisionError/);
    const pass1 = page.locator('[data-custom-id="acme__minicalc-101__pass1"]');
    assert.deepEqual(await pass1.getByTestId("found-files").locator("li").allTextContents(), ["minicalc/evaluator.py", "setup.py"]);
    // diff2html marks added lines d2h-ins: the fix's new lines are there, as text, markup included
    const added = await pass1.locator(".d2h-ins .d2h-code-line-ctn").allTextContents();
    assert.ok(added.some((l: string) => l.includes("if right == 0:")), added.join("\n"));
    assert.ok(added.some((l: string) => l.includes("<script>window.__pwned = 1</script><img src=x onerror=")), added.join("\n"));
    assert.ok(added.some((l: string) => l.includes('version="0.1.1"')), added.join("\n"));
    const removed = await pass1.locator(".d2h-del .d2h-code-line-ctn").allTextContents();
    assert.ok(removed.some((l: string) => l.includes('version="0.1.0"')), removed.join("\n"));
    assert.match((await pass1.getByTestId("answer").textContent()) ?? "", /own error escapes <script>window.__pwned = 3<\/script> and <img src=x onerror="window.__pwned = 4">/);
    const reasoning = pass1.locator("details.reasoning");
    assert.equal(await reasoning.getAttribute("open"), null, "reasoning is folded");
    await reasoning.locator("summary").click();
    assert.match((await reasoning.locator("pre").textContent()) ?? "", /No \(<script>window.__pwned = 3<\/script>/);
    assert.equal(await page.locator("img[src=x]").count(), 0, "model markup became an element");
    const pass0 = page.locator('[data-custom-id="acme__minicalc-101__pass0"]');
    assert.match((await pass0.textContent()) ?? "", /batch_cancelled \(proc_step2\)/);
    await pass1.locator("details.request > summary").click();
    assert.match((await pass1.locator("details.request").textContent()) ?? "", /step2_requests\.jsonl:\d+/);
    await page.locator("label.toggle input").check();
    await page.locator('[data-custom-id="acme__minicalc-101__pass1"] .d2h-file-side-diff').first().waitFor();
    await page.screenshot({ path: join(dir, "instance.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await assertNothingRan(page, dialogs);
    await page.close();
  });

  it("--static writes one self-contained HTML file with the same overview and instance pages", async () => {
    const report = join(dir, "report.html");
    const r = await runCli(["view", workdir, "--static", "-o", report]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /wrote .*report\.html \(\d+ bytes, 4 instances\)/);
    const html = await readFile(report, "utf8");
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/[^"' ]*\.(js|css)/, "nothing loaded from elsewhere");
    const { page, dialogs, errors } = await newPage();
    await page.route("**/*", (route: Route) => (route.request().url().startsWith("file:") ? route.continue() : route.abort()));
    await page.goto(pathToFileURL(report).href);
    await page.getByTestId("count-instances").waitFor();
    assert.equal(await page.getByTestId("count-with-patch").textContent(), "2");
    await page.getByTestId("filter").fill("acme__minicalc-101");
    assert.equal(await page.getByTestId("row").count(), 1);
    await page.getByRole("link", { name: "acme__minicalc-101" }).click();
    const pass1 = page.locator('[data-custom-id="acme__minicalc-101__pass1"]');
    await pass1.waitFor();
    const added = await pass1.locator(".d2h-ins .d2h-code-line-ctn").allTextContents();
    assert.ok(added.some((l: string) => l.includes("<script>window.__pwned = 1</script>")), added.join("\n"));
    assert.match((await pass1.textContent()) ?? "", /The \d+ lines with this custom_id are not in the static report/);
    assert.deepEqual(errors, []);
    await assertNothingRan(page, dialogs);
    await page.close();
  });

  it("a run without report.json (going, or stopped) shows the steps finished so far from manifest.json", async () => {
    const partial = join(dir, "partial");
    await cp(workdir, partial, { recursive: true });
    await rm(join(partial, "report.json"));
    const url = await startView([partial]);
    const { page, errors } = await newPage();
    await page.goto(url);
    await page.getByTestId("steps-source").waitFor();
    assert.deepEqual(await page.locator("[data-step]").evaluateAll((rows: WithAttributes[]) => rows.map((r) => r.getAttribute("data-step"))), ["gen_step1", "submit_step1", "proc_step1_gen_step2", "submit_step2", "proc_step2"]);
    assert.match((await page.locator('[data-step="submit_step1"]').textContent()) ?? "", /lines 6, succeeded 6/);
    assert.equal(await page.getByTestId("count-instances").textContent(), "4");
    assert.deepEqual(errors, []);
    await page.close();
  });

  it("shows a commit-testgen run: each commit's script as text and how its run went", async () => {
    const repo = createCommitRepo();
    try {
      const { root, add } = repo.commits;
      const good = 'import json\n\n\ndef build_cases():\n    return [{"input": [1, 2], "expected": 3}]\n\n\nif __name__ == "__main__":\n    print(json.dumps({"cases": len(build_cases())}))\n';
      const raising = `def build_cases():\n    raise RuntimeError('${XSS_PROSE}')\n\n\nif __name__ == "__main__":\n    build_cases()\n`;
      const answer = (id: string, code: string) => JSON.stringify({ id: `batch_req_${id.slice(0, 6)}`, custom_id: id, response: { status_code: 200, request_id: "r", body: { id: "c", object: "chat.completion", created: 0, model: "gpt-4.1", choices: [{ index: 0, message: { role: "assistant", content: "```python\n" + code + "```\n" }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 5 } } }, error: null });
      const recording = join(dir, "commit-answers.jsonl");
      await writeFile(recording, `${answer(root, good)}\n${answer(add, raising)}\n`);
      const work = join(dir, "commits");
      const r = await runCli(["pipeline", "commit-testgen", "--workdir", work, "--backend", "replay", "--from-submit", recording, "--repo", repo.dir, "--commits", `${root},${add}`, "--model", "gpt-4.1", "--rounds", "0", "--python", "/usr/bin/python3"]);
      assert.equal(r.code, 0, r.stderr);
      const url = await startView([work]);
      const { page, dialogs, errors } = await newPage();
      await page.goto(url);
      await page.getByTestId("runs-summary").waitFor();
      assert.equal(await page.getByTestId("runs-summary").textContent(), "Runs of the generated tests / scripts: failed 1, passed 1.");
      assert.equal(await page.getByTestId("count-generated").textContent(), "2");
      assert.equal(await page.getByTestId("count-with-patch").count(), 0, "commit-testgen makes no patches");
      await page.getByTestId("filter").fill("failed");
      assert.deepEqual(await page.getByTestId("row").evaluateAll((rows: WithAttributes[]) => rows.map((x) => x.getAttribute("data-id"))), [add]);
      await page.getByRole("link", { name: add }).click();
      await page.getByTestId("script").waitFor();
      assert.equal(await page.getByTestId("script").textContent(), raising);
      assert.equal(await page.getByTestId("run-status").textContent(), "failed");
      assert.match((await page.getByTestId("run").textContent()) ?? "", /stderr_tail.*RuntimeError: <script>window.__pwned = 3<\/script>/s);
      assert.equal(await page.locator("img[src=x]").count(), 0, "model markup became an element");
      assert.deepEqual(errors, []);
      await assertNothingRan(page, dialogs);
      await page.close();
    } finally {
      repo.cleanup();
    }
  });

  it("shows a bare JSONL file: records as JSON trees and a search", async () => {
    const url = await startView([join(workdir, "step2_output.jsonl")]);
    const { page, dialogs, errors } = await newPage();
    await page.goto(url);
    await page.getByTestId("record").first().waitFor();
    assert.equal(await page.getByTestId("file-info").textContent(), `5 records · ${(await readFile(join(workdir, "step2_output.jsonl"))).length.toLocaleString("en-US")} bytes`);
    assert.equal(await page.getByTestId("record").count(), 5);
    await page.getByTestId("search").fill("batch_cancelled");
    await page.getByTestId("search").press("Enter");
    await page.getByTestId("status").filter({ hasText: "matching" }).waitFor();
    assert.equal(await page.getByTestId("record").count(), 1);
    assert.match((await page.getByTestId("record").textContent()) ?? "", /acme__minicalc-101__pass0/);
    await page.getByTestId("search").fill("__pwned");
    await page.getByTestId("search").press("Enter");
    await page.getByTestId("status").filter({ hasText: "__pwned" }).waitFor();
    assert.equal(await page.getByTestId("record").count(), 1);
    await page.getByTestId("record").locator("details").first().evaluate((d: { querySelectorAll(selector: string): { forEach(fn: (x: WithAttributes) => void): void } }) => d.querySelectorAll("details").forEach((x) => x.setAttribute("open", "")));
    await page.screenshot({ path: join(dir, "jsonl.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await assertNothingRan(page, dialogs);
    await page.close();
  });
});
