/**
 * `batchline view --static`: one self-contained HTML file of a run's overview and instance pages.
 * The page's own script and diff2html are inlined; the run's data rides along as JSON in a
 * `<script type="application/json">` block (with `<` written as `\u003c`, so no model string can
 * close it); a Content-Security-Policy allows exactly the two inlined scripts by hash.
 */
import { createHash } from "node:crypto";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { assetText, pageShell } from "./assets.ts";
import type { RunSource } from "./run-source.ts";

/** JSON that is safe inside a script element: no `<`, and no U+2028/9 line separators. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** The report's HTML. */
export async function staticReportHtml(run: RunSource): Promise<string> {
  const details: Record<string, unknown> = {};
  for (const id of run.instanceIds()) {
    const d = (await run.instance(id))!;
    // every line of every pass (whole prompts, answers, file contents) would make the file grow
    // with the run many times over: the report keeps what the page shows without unfolding them
    details[id] = { ...d, passes: d.passes.map((p) => ({ ...p, records: [], records_omitted: p.records.length })) };
  }
  const data = { mode: "run", overview: run.overview(), instances: run.rows(), details };
  const scripts = [await assetText("diff2html.min.js"), await assetText("app.js")];
  // an inlined script must not hold the text that would end its element early
  for (const s of scripts) if (/<\/script|<!--/i.test(s)) throw new Error("an inlined script holds </script or <!--");
  const csp = `default-src 'none'; script-src ${scripts.map(sha256).join(" ")}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
  return pageShell({
    csp,
    head: `<style>\n${await assetText("diff2html.min.css")}\n${await assetText("app.css")}\n</style>`,
    body: `<script type="application/json" id="batchline-data">${scriptSafeJson(data)}</script>\n${scripts.map((s) => `<script>${s}</script>`).join("\n")}`,
  });
}

/** Writes the report to `output` atomically; returns its size in bytes. */
export async function writeStaticReport(run: RunSource, output: string): Promise<number> {
  const html = await staticReportHtml(run);
  await writeFileAtomic(output, html);
  return Buffer.byteLength(html);
}
