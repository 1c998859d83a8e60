/**
 * The prompt batchline trains and evaluates the pytest writer with. Placeholders: `{code}` (the
 * code under test, required), `{code_file}` (the file the tests import it from) and
 * `{existing_tests}`. A block between `{#existing_tests}` and `{/existing_tests}` is kept only when
 * there are existing tests. `--prompt-template <file>` replaces the text; any other `{name}` in it
 * is refused, so a typo does not reach the training data.
 */
import { readFile } from "node:fs/promises";
import { UsageError } from "../core/errors.ts";

/** The constraint every prompt carries (the plan's wording of the rule). */
export const PYTEST_CONSTRAINT = "pytest only, no hypothesis, no unittest";

/** batchline's own template: the code, the constraint, optionally the tests to extend. */
export const DEFAULT_PROMPT_TEMPLATE = `Write a pytest test file for the code below.

Rules: ${PYTEST_CONSTRAINT}. Cover edge cases, use pytest.mark.parametrize where several inputs share one check, and answer with the contents of the test file only, with no explanation around it.

The code is in {code_file}:
{code}
{#existing_tests}
Tests that already exist for it (keep them and add to them):
{existing_tests}
{/existing_tests}`;

/** What a prompt is made from. */
export interface PromptFields {
  code: string;
  code_file: string;
  existing_tests?: string;
}

const PLACEHOLDERS = new Set(["code", "code_file", "existing_tests"]);
const SECTION = /\{#existing_tests\}\n?([\s\S]*?)\{\/existing_tests\}\n?/g;

/** Checks a template: it must use `{code}` and nothing but the known placeholders; `source` names it in errors. */
export function checkPromptTemplate(template: string, source: string): string {
  const bare = template.replace(SECTION, "$1");
  for (const m of bare.matchAll(/\{([#/]?[A-Za-z_][\w]*)\}/g)) {
    const name = m[1]!;
    if (!PLACEHOLDERS.has(name)) throw new UsageError(`${source}: unknown placeholder {${name}} (known: {code}, {code_file}, {existing_tests}, and the block {#existing_tests}...{/existing_tests})`);
  }
  if (!bare.includes("{code}")) throw new UsageError(`${source}: a prompt template must contain {code}`);
  return template;
}

/** Reads and checks a `--prompt-template` file. */
export async function readPromptTemplate(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(`--prompt-template ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return checkPromptTemplate(text, path);
}

/** Fills a checked template in one pass (a `{code}` inside the code stays as it is); ends with one newline. */
export function renderPrompt(template: string, fields: PromptFields): string {
  const existing = fields.existing_tests ?? "";
  const withSections = template.replace(SECTION, (_, body: string) => (existing.trim() === "" ? "" : body));
  const filled = withSections.replace(/\{(code|code_file|existing_tests)\}/g, (_, name: keyof PromptFields) => fields[name] ?? "");
  return `${filled.trimEnd()}\n`;
}
