/**
 * The test file in a model's answer. The prompt asks for the file alone, so an answer without a
 * fenced block is the file itself; otherwise the fenced blocks (```python, ```py or bare ```) are
 * candidates and the first that defines a test (`def test_...` or a `Test...` class) wins, else
 * the longest. An answer that is empty after this has no test file.
 */

const FENCE = /^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n([\s\S]*?)^[ \t]*\1[ \t]*$/gm;
const DEFINES_TEST = /^\s*(?:async\s+)?def\s+test|^\s*class\s+Test/m;

/** The test file's text (ending in one newline), or undefined when the answer holds none. */
export function extractTestFile(answer: string): string | undefined {
  const text = answer.replace(/\r\n?/g, "\n");
  const blocks: string[] = [];
  for (const m of text.matchAll(FENCE)) {
    const lang = m[2]!.toLowerCase();
    if (lang === "" || lang === "python" || lang === "py" || lang === "python3") blocks.push(m[3]!);
  }
  let file: string;
  if (blocks.length > 0) file = blocks.find((b) => DEFINES_TEST.test(b)) ?? blocks.reduce((a, b) => (b.length > a.length ? b : a));
  else if (/^[ \t]*(`{3,}|~{3,})/m.test(text)) {
    // an opened fence that never closes (the answer was cut): what follows it
    file = text.replace(/^[\s\S]*?^[ \t]*(`{3,}|~{3,})[^\n]*\n?/m, "");
  } else file = text;
  file = file.trim();
  return file === "" ? undefined : `${file}\n`;
}
