/**
 * Provider fallback as a pipeline step (ISO-Bench's script falls back between providers): the
 * lines of the primary submit's output that failed as requests (HTTP errors, expired, cancelled,
 * no response) are sent again through `--fallback <backend>`, and one merged output is written in
 * the primary's line order, each line with `backend` naming who answered it. Without --fallback
 * the step only adds `backend` to the primary's lines. A killed fallback submit resumes from its
 * own state (nothing paid twice), as the engine's submit steps do.
 */
import { createReadStream } from "node:fs";
import { isSuccess, type BatchOutput } from "../../schemas/openai-batch-output.ts";
import { readJsonl } from "../core/jsonl.ts";
import { backendOptionsOf } from "../pipeline/index.ts";
import type { Step, StepContext } from "../pipeline/index.ts";
import { writeLines } from "../pipeline/steps/stage.ts";
import { resetSubmit, submitReporting } from "../pipeline/steps/submit.ts";
import { submitFile } from "../submitters/submit-file.ts";

/** Options of the fallback step: what it reads (workdir files) and the merged output it writes. */
export interface FallbackStepOptions {
  requests: string;
  primary: string;
  out: string;
}

type FallbackOptions = { fallback?: string | undefined; fallbackFrom?: string | undefined };

async function lines(path: string): Promise<{ id: string; text: string; value: unknown }[]> {
  const out: { id: string; text: string; value: unknown }[] = [];
  for await (const rec of readJsonl(createReadStream(path), { file: path })) out.push({ id: String((rec.value as { custom_id?: unknown }).custom_id), text: rec.text, value: rec.value });
  return out;
}

/** The fallback step (see the header). */
export function submitWithFallback<Options extends FallbackOptions>(name: string, o: FallbackStepOptions): Step<Options> {
  const resent = `${name}_requests.jsonl`;
  const answered = `${name}_output.jsonl`;
  return {
    kind: "stage",
    name,
    in: [o.requests, o.primary],
    out: [o.out, resent, answered],
    hashed: (ctx) => ({ fallback: ctx.options.fallback ?? null, from: ctx.options.fallbackFrom ?? null }),
    async run(ctx: StepContext<Options>) {
      const primaryName = ctx.run.backend;
      const primary = await lines(ctx.file(o.primary));
      const failed = new Set(primary.filter((l) => !isSuccess(l.value as BatchOutput)).map((l) => l.id));
      const fallback = ctx.options.fallback;
      const second = new Map<string, unknown>();
      if (fallback && failed.size > 0) {
        const requests = (await lines(ctx.file(o.requests))).filter((l) => failed.has(l.id));
        await writeLines(ctx.file(resent), requests.map((l) => l.text));
        if (!ctx.resume) await resetSubmit(ctx.file(answered));
        const from = ctx.options.fallbackFrom;
        const { from: _primaryRecording, ...backendOptions } = backendOptionsOf(ctx.run) as Record<string, unknown>;
        await submitFile(fallback, { ...backendOptions, ...(from ? { from } : {}), requests: ctx.file(resent), output: ctx.file(answered), env: ctx.env, ...submitReporting(ctx, `${ctx.name} (${fallback})`), ...(ctx.signal ? { signal: ctx.signal } : {}) });
        for (const l of await lines(ctx.file(answered))) second.set(l.id, l.value);
      } else {
        await writeLines(ctx.file(resent), []);
        await writeLines(ctx.file(answered), []);
      }
      let byFallback = 0;
      const merged = primary.map((l) => {
        const other = second.get(l.id);
        if (failed.has(l.id) && other !== undefined && (isSuccess(other as BatchOutput) || !isSuccess(l.value as BatchOutput))) {
          if (isSuccess(other as BatchOutput)) byFallback++;
          return JSON.stringify({ ...(other as object), backend: fallback });
        }
        return JSON.stringify({ ...(l.value as object), backend: primaryName });
      });
      await writeLines(ctx.file(o.out), merged);
      return { produced: merged.length, summary: { lines: merged.length, failedOnPrimary: failed.size, resent: fallback ? failed.size : 0, answeredByFallback: byFallback } };
    },
  };
}
