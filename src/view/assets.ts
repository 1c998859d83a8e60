/**
 * The page's static files: batchline's own (src/view/static/, copied next to the build) and
 * diff2html's browser bundle from its package. Served as they are, or inlined into one HTML file.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

/** Asset name (as the page asks for it under /static/) -> file on disk and content type. */
export const ASSETS: Readonly<Record<string, { path: () => string; type: string }>> = {
  "app.js": { path: () => fileURLToPath(new URL("./static/app.js", import.meta.url)), type: "text/javascript; charset=utf-8" },
  "app.css": { path: () => fileURLToPath(new URL("./static/app.css", import.meta.url)), type: "text/css; charset=utf-8" },
  "diff2html.min.js": { path: () => require.resolve("diff2html/bundles/js/diff2html.min.js"), type: "text/javascript; charset=utf-8" },
  "diff2html.min.css": { path: () => require.resolve("diff2html/bundles/css/diff2html.min.css"), type: "text/css; charset=utf-8" },
};

/** The page shell; `head` and `body` are inserted as they are (trusted markup only). */
export function pageShell(options: { head: string; body: string; csp: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${options.csp}">
<title>batchline view</title>
${options.head}
</head>
<body>
<div id="app"><p class="muted">loading…</p></div>
${options.body}
</body>
</html>
`;
}

/** Reads one asset's text. */
export async function assetText(name: string): Promise<string> {
  const asset = ASSETS[name];
  if (!asset) throw new Error(`no asset ${name}`);
  return readFile(asset.path(), "utf8");
}
