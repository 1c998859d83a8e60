/**
 * commit-testgen prompt text (batchline's own) and template filling. A template may use
 * `{commit_json}` (the whole extraction JSON) and per-field placeholders (`{commit_hash}`,
 * `{commit_message}`, `{parent_hash}`, `{author}`, `{date}`, `{category}`, `{changed_files}`,
 * `{diff}`, `{csv_metadata}`). Other `{...}` text is left as it is, so code in a template needs
 * no escaping.
 */
import type { CommitExtraction } from "../../schemas/commit-extraction.ts";

/** The system prompt used when neither --prompt-template nor TEST_CASE_GENERATOR_PROMPT is given. */
export const DEFAULT_TEMPLATE = `You write test-case generators for code changes.

You will receive one git commit as a JSON document: its hash, message, and for each changed file
the unified diff, the file's content before the change, and how it changed (added, modified,
deleted, renamed). Write ONE standalone Python 3 script for this commit that builds realistic test
cases exercising exactly the behaviour the commit changes.

The script must:
- run with \`python3 script.py\` from an empty working directory, using only the standard library
  unless the commit's own code needs a package (then import it inside a try block and skip the
  cases that need it, with a message, when it is missing);
- not reach the network and not write outside its working directory;
- build inputs that reach the changed lines, including edge cases the diff suggests (empty input,
  boundaries, types the new code handles differently), and for each case the expected outcome
  where the commit makes it knowable;
- write the cases to \`test_cases.json\` in the working directory (a list of objects with at least
  \`name\`, \`input\` and \`expected\`) and print a one-line JSON summary
  \`{"commit": "<hash>", "cases": <count>}\` on stdout;
- exit with status 0 when the cases were produced.

Answer with the complete script in one \`\`\`python fenced block and nothing else.`;

/** The user message that carries the commit when the template does not place `{commit_json}` itself. */
export function commitMessage(hash: string, commitJson: string): string {
  return `Commit ${hash}. Its extraction JSON:\n\n\`\`\`json\n${commitJson}\n\`\`\`\n`;
}

/** The follow-up that gives the model its script back with what went wrong. */
export function repairMessage(kind: "syntax" | "runtime", hash: string, code: string, error: string): string {
  const what =
    kind === "syntax"
      ? `Python could not parse the script you wrote for commit ${hash}:\n\n${error}`
      : `The script you wrote for commit ${hash} failed when it ran:\n\n${error}`;
  return `${what}

Fix it and answer with the whole corrected script in one \`\`\`python fenced block. Keep what it
tests; change only what is needed for it to ${kind === "syntax" ? "parse" : "run to completion"}.

The script:

\`\`\`python
${code}
\`\`\`
`;
}

/** Replaces the known placeholders in `template`; anything else in braces is kept. */
export function fillTemplate(template: string, extraction: CommitExtraction, commitJson: string): string {
  const values: Record<string, string> = {
    commit_json: commitJson,
    commit_hash: extraction.commit_hash,
    commit_message: extraction.message,
    parent_hash: extraction.parent_hash ?? "",
    author: extraction.author ?? "",
    date: extraction.date ?? "",
    category: String(extraction.csv_metadata?.category ?? ""),
    changed_files: JSON.stringify(extraction.files_changed.map((f) => f.file_path), null, 2),
    diff: extraction.files_changed.map((f) => f.diff).join(""),
    csv_metadata: JSON.stringify(extraction.csv_metadata ?? {}, null, 2),
  };
  return template.replace(/\{([a-z_]+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? values[name]! : whole));
}

/** True when the template places the commit JSON itself. */
export function placesCommitJson(template: string): boolean {
  return template.includes("{commit_json}");
}
