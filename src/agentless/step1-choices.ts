/**
 * The testwriter's step-1 decisions, read back from the step-1 batch output (`--step1_file`) for
 * proc_step2: per custom_id, the test file step 1 chose (the same rule as proc_step1_gen_step2:
 * `localize` then `chooseTestFile`), or why it chose none. A custom_id on several lines takes its
 * last line, as every stage does.
 */
import { createReadStream } from "node:fs";
import { BatchOutput } from "../../schemas/openai-batch-output.ts";
import { parseCustomId } from "../core/custom-id.ts";
import { BatchlineError } from "../core/errors.ts";
import { readJsonl } from "../core/jsonl.ts";
import { answerOf } from "./answers.ts";
import { candidateLines, chooseTestFile, localize } from "./localize.ts";
import { type RepoStructureLoader, StructureError } from "./repo-structure.ts";

/** What step 1 decided for one custom_id: a test file (structure path), or a failure reason for proc_step2. */
export type Step1Choice =
  | { ok: true; testFile: string; modelFoundFiles: string[] }
  | { ok: false; reason: "step1_request_failed" | "no_test_file" | "structure_not_found" | "structure_invalid"; detail: string };

/** The step-1 choice of every custom_id in a step-1 output file; a line that is no batch output line is an error naming it. */
export async function readStep1Choices(path: string, structures: RepoStructureLoader): Promise<Map<string, Step1Choice>> {
  const choices = new Map<string, Step1Choice>();
  for await (const rec of readJsonl(createReadStream(path), { file: path })) {
    const parsed = BatchOutput.safeParse(rec.value);
    if (!parsed.success) throw new BatchlineError(`${path}:${rec.line}: not a valid batch output line (--step1_file must be the step-1 output)`);
    const line = parsed.data;
    const answer = answerOf(line);
    if (!answer.ok) {
      choices.set(line.custom_id, { ok: false, reason: "step1_request_failed", detail: `step 1 failed: ${answer.reason}: ${answer.detail}` });
      continue;
    }
    try {
      const structure = await structures.load(parseCustomId(line.custom_id).instanceId);
      const found = localize(answer.text, structure).files;
      const testFile = chooseTestFile(found, structure);
      const modelFoundFiles = candidateLines(answer.text).map((l) => l.trim()).filter((l) => l !== "");
      choices.set(line.custom_id, testFile ? { ok: true, testFile, modelFoundFiles } : { ok: false, reason: "no_test_file", detail: `step 1 named no usable test file${found.length ? ` (found: ${found.join(", ")})` : ""}` });
    } catch (err) {
      if (!(err instanceof StructureError)) throw err;
      choices.set(line.custom_id, { ok: false, reason: err.reason, detail: err.message });
    }
  }
  return choices;
}
