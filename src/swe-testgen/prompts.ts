/**
 * The three prompts of swe-testgen (batchline's own wording): write tests for an issue
 * (test_gen), make them independent of the gold implementation's incidental details
 * (hard_code_fix), and cover lines the tests miss (coverage_fix). Each asks for SEARCH/REPLACE
 * edits to test files (or a unified diff), which `answerToTestPatch` turns into a git diff.
 */

/** A file shown to the model: its path and full text. */
export interface ShownFile {
  path: string;
  text: string;
}

const MAX_FILE_CHARS = 60_000;

function show(files: readonly ShownFile[]): string {
  if (files.length === 0) return "(none)\n";
  return files
    .map((f) => {
      const text = f.text.length > MAX_FILE_CHARS ? `${f.text.slice(0, MAX_FILE_CHARS)}\n... (${f.text.length - MAX_FILE_CHARS} more characters not shown)\n` : f.text;
      return `### ${f.path}\n\`\`\`python\n${text}${text.endsWith("\n") ? "" : "\n"}\`\`\`\n`;
    })
    .join("\n");
}

const ANSWER_FORMAT = `Answer with edits to test files only, as SEARCH/REPLACE blocks:

### path/to/test_file.py
<<<<<<< SEARCH
exact lines from the current file
=======
the lines that replace them
>>>>>>> REPLACE

To create a new test file, or to append to one, leave the SEARCH part empty. Do not edit
anything that is not a test file. A unified diff (\`diff --git a/... b/...\`) is accepted too.`;

/** test_gen: issue + gold patch + changed source files + related existing tests. */
export function testGenPrompt(o: { problemStatement: string; goldPatch: string; sources: readonly ShownFile[]; tests: readonly ShownFile[]; previousFailure?: string }): string {
  return `You write regression tests for a bug fix in a Python repository.

## The issue
${o.problemStatement.trim()}

## The fix (the reference patch)
\`\`\`diff
${o.goldPatch.trimEnd()}
\`\`\`

## Source files the fix changes (before the fix)
${show(o.sources)}
## Existing tests for these files
${show(o.tests)}
## Task
Write pytest tests for the behaviour the issue describes. Every test you add must FAIL on the
repository as it is (without the fix) and PASS once the reference patch is applied. Together the
tests should execute every line the reference patch adds or changes. Test behaviour through the
public interface the issue talks about; do not depend on incidental details of the reference
implementation (exact error message wording, ordering of unordered results, private helpers).
Put the tests in an existing test file shown above, or in a new test file next to them.
${o.previousFailure ? `\nAn earlier attempt was rejected: ${o.previousFailure}\n` : ""}
${ANSWER_FORMAT}
`;
}

/** The issue, the reference patch and the current test files: what both fix prompts show. */
function issueAndTests(o: { problemStatement: string; goldPatch: string; testFiles: readonly ShownFile[] }): string {
  return `## The issue
${o.problemStatement.trim()}

## The reference patch
\`\`\`diff
${o.goldPatch.trimEnd()}
\`\`\`

## The test files as they are now
${show(o.testFiles)}`;
}

/** hard_code_fix: rewrite tests that hard-code the reference implementation's details. */
export function hardCodeFixPrompt(o: { problemStatement: string; goldPatch: string; testFiles: readonly ShownFile[]; failure?: string }): string {
  return `These tests were written for the issue below and its reference fix. Review them and rewrite any
assertion that depends on details the issue does not require: exact exception or log message
text, ordering of results whose order is unspecified, private names, exact floating-point
output, or anything else a different correct fix could reasonably do differently. Keep every
check the issue itself requires, so the tests still fail without the fix and pass with it.
If the tests are already fine, repeat one of them unchanged as a single edit.

${issueAndTests(o)}
${o.failure ? `\n## What went wrong when the tests were run\n${o.failure.trim()}\n` : ""}
${ANSWER_FORMAT}
`;
}

/** coverage_fix: add tests that execute the listed lines of the reference patch. */
export function coverageFixPrompt(o: { problemStatement: string; goldPatch: string; testFiles: readonly ShownFile[]; uncoveredLines: readonly string[] }): string {
  return `The tests below pass with the reference fix of the issue, but they do not execute every line the
fix adds or changes. Add tests (or extend the existing ones) so that these lines run:

${o.uncoveredLines.map((l) => `    ${l}`).join("\n")}

The new tests must pass with the fix; keep the existing tests.

${issueAndTests(o)}
${ANSWER_FORMAT}
`;
}
