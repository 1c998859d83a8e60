/**
 * batchline's own prompts for the agentless pipelines (four: localization and repair or test
 * writing, for each role), and the placeholders a user's template fills. A template replaces the
 * prompt of one step (`--step1-prompt-template`, `--step2-prompt-template`, or `--prompt-template`
 * for the stage being run), so a model trained on another wording (Agentless-style prompts for
 * Kimi-Dev-72B) gets exactly the text it expects. Placeholders (`STEP1_PLACEHOLDERS`,
 * `STEP2_PLACEHOLDERS`) are `{name}`; any other braces stay as written.
 */

export const LOCALIZE_BUGFIX = `You will be shown a GitHub issue and the layout of the repository it was filed against.

### Issue
{problem_statement}

### Repository layout
{structure}

Name the files whose source must change to resolve this issue, the most important first, at most 5.
Write each full path, exactly as it appears in the layout, on its own line inside one block:
\`\`\`
path/to/first.py
path/to/second.py
\`\`\`
`;

export const LOCALIZE_TESTWRITE = `You will be shown a GitHub issue and the layout of the repository it was filed against, tests included.

### Issue
{problem_statement}

### Repository layout
{structure}

Name the files most relevant to reproducing this issue in a test: first the existing test files where
such a test belongs, then the source files involved, at most 5.
Write each full path, exactly as it appears in the layout, on its own line inside one block:
\`\`\`
tests/test_something.py
package/module.py
\`\`\`
`;

export const REPAIR = `Fix the issue below by editing the files shown.

### Issue
{problem_statement}

### Files
{content}

Answer with SEARCH/REPLACE edits. Each edit is a \`\`\`python block holding: the file path on its
own line, the line <<<<<<< SEARCH, the exact lines to find (copied from the file, indentation
included), the line =======, the lines to put in their place, and the line >>>>>>> REPLACE.
Keep each SEARCH part short but unique in its file. Edit only the files shown.
`;

export const REPRODUCE = `Write a test that reproduces the issue below, as edits to the test file {file}.

### Issue
{problem_statement}

### Test file and related code
{content}

Answer with SEARCH/REPLACE edits to {file} only, in \`\`\`python blocks: the file path on its own
line, <<<<<<< SEARCH, the exact existing lines to find, =======, the new lines, >>>>>>> REPLACE.
Add one new pytest test function named test_... that fails while the issue is present and passes
once it is fixed; import what it needs with absolute imports.
`;

/** What a step-1 (localization) template can use, with what each holds. */
export const STEP1_PLACEHOLDERS = {
  problem_statement: "the issue text (CRLF made LF with --convert_crlf)",
  structure: "batchline's repo tree: 4-space indent, dirs end in /, Python files only, byte order, test files hidden for the bugfixer",
  agentless_structure: "the repo tree as Agentless/Kimi-Dev print it: the structure file's key order, names with a dot but no .py skipped, names starting with test skipped for the bugfixer, no final newline",
  instance_id: "the row's instance_id",
  repo: "the row's repo (owner/name)",
} as const;

/** What a step-2 (repair or test-writing) template can use: step 1's and the files. */
export const STEP2_PLACEHOLDERS = {
  ...STEP1_PLACEHOLDERS,
  content: "the files found, each as `### <path>` and a ```python block (testwriter: the test file first)",
  agentless_content: "the files as Agentless/Kimi-Dev lay them out: `<path>` on a line, the file's lines, a blank line between files, no final newline (testwriter: the test file only)",
  file: "the testwriter's test file (structure path); empty for the bugfixer",
} as const;

/** The step a template is for. */
export type PromptStep = "step1" | "step2";

const PLACEHOLDER = /\{([a-z_]+)\}/g;

/** The `{name}` words of a template that are no placeholder of its step (they stay as written). */
export function unknownPlaceholders(template: string, step: PromptStep): string[] {
  const known: Record<string, string> = step === "step1" ? STEP1_PLACEHOLDERS : STEP2_PLACEHOLDERS;
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]!))].filter((n) => !Object.hasOwn(known, n));
}

/** A placeholder's value, or a function computing it (called once, only when the template uses it). */
export type PlaceholderValue = string | (() => string);

/** A template's `{name}` words that its step cannot fill: `unavailable` are step-2 names in a step-1 template (an error), `unknown` are no placeholder at all (they stay as written). */
export function checkTemplate(template: string, step: PromptStep): { unavailable: string[]; unknown: string[] } {
  const names = unknownPlaceholders(template, step);
  return { unavailable: names.filter((n) => Object.hasOwn(STEP2_PLACEHOLDERS, n)), unknown: names.filter((n) => !Object.hasOwn(STEP2_PLACEHOLDERS, n)) };
}

/** Fills `{name}` placeholders with `values`; names without a value are left as they are. */
export function fillTemplate(template: string, values: Record<string, PlaceholderValue>): string {
  const done = new Map<string, string>();
  return template.replace(PLACEHOLDER, (m, name: string) => {
    if (!Object.hasOwn(values, name)) return m;
    let v = done.get(name);
    if (v === undefined) {
      const given = values[name]!;
      done.set(name, (v = typeof given === "function" ? given() : given));
    }
    return v;
  });
}

/** A template file's text: its final newline ends its last line and is not part of the prompt. */
export function templateText(file: string): string {
  return file.endsWith("\r\n") ? file.slice(0, -2) : file.endsWith("\n") ? file.slice(0, -1) : file;
}

/** Files the way Agentless/Kimi-Dev put them into a repair prompt: `<path>\n<lines>`, a blank line between, trailing whitespace trimmed. */
export function agentlessFiles(files: { path: string; text: string }[]): string {
  return files.map((f) => `${f.path}\n${f.text.endsWith("\n") ? f.text.slice(0, -1) : f.text}\n\n`).join("").trimEnd();
}

/** Files shown to the model: each with its path and content in a fence, line numbers omitted. */
export function renderFiles(files: { path: string; text: string }[]): string {
  return files.map((f) => `### ${f.path}\n\`\`\`python\n${f.text}${f.text.endsWith("\n") || f.text === "" ? "" : "\n"}\`\`\``).join("\n\n");
}
