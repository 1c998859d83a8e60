/**
 * Test-log parsers: a runner's output -> test name -> status (PASSED, FAILED, ERROR, SKIPPED,
 * XFAIL, XPASS). Test names are what the test tool prints: pytest's node ids
 * (`tests/test_calc.py::test_add[1-2]`), Django's `test_x (module.Class)`, sympy's `test_x`.
 * Same coverage as the SWE-bench harness's parsers for these tools, written for batchline.
 */

export type TestStatus = "PASSED" | "FAILED" | "ERROR" | "SKIPPED" | "XFAIL" | "XPASS";
export type LogParserName = "pytest" | "django" | "sympy";
export type TestStatusMap = Record<string, TestStatus>;

const STATUSES: readonly TestStatus[] = ["PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"];
// Terminal colour codes some repos force on.
const ANSI = /\u001b\[[0-9;]*m/g;

/** pytest with `-rA` (short summary lines `STATUS nodeid[ - message]`), or `-v` lines `nodeid STATUS`. */
export function parsePytestLog(log: string): TestStatusMap {
  const map: TestStatusMap = {};
  for (const raw of log.split("\n")) {
    const line = raw.replace(ANSI, "").trimEnd();
    const first = line.split(" ", 1)[0] as TestStatus;
    if (STATUSES.includes(first)) {
      const name = line.slice(first.length + 1).split(" - ")[0]!.trim();
      // `SKIPPED [2] tests/x.py:10: reason` counts skips, it names no test
      if (name === "" || /^\[\d+\]/.test(name)) continue;
      map[name] = first;
      continue;
    }
    const verbose = /^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b/.exec(line);
    if (verbose && map[verbose[1]!] === undefined) map[verbose[1]!] = verbose[2] as TestStatus;
  }
  return map;
}

/** Django's `runtests.py --verbosity 2`: `test_x (mod.Class) ... ok|FAIL|ERROR|skipped`, and `FAIL: name` headers. */
export function parseDjangoLog(log: string): TestStatusMap {
  const map: TestStatusMap = {};
  let previous: string | undefined;
  for (const raw of log.split("\n")) {
    const line = raw.trim();
    if (line.includes(" ... ")) previous = line.split(" ... ")[0];
    const result = /^(.*) \.\.\.\s+(ok|OK|FAIL|ERROR|skipped.*|expected failure|unexpected success)$/.exec(line);
    if (result) {
      const word = result[2]!;
      map[result[1]!] = word.toLowerCase() === "ok" ? "PASSED" : word === "FAIL" ? "FAILED" : word === "ERROR" ? "ERROR" : word === "expected failure" ? "XFAIL" : word === "unexpected success" ? "FAILED" : "SKIPPED";
      continue;
    }
    const header = /^(FAIL|ERROR): (\S+ \([^)]*\))/.exec(line);
    if (header) {
      map[header[2]!] = header[1] === "FAIL" ? "FAILED" : "ERROR";
      continue;
    }
    // output printed between "..." and the verdict: the verdict comes alone on the next line
    if (previous !== undefined && /^ok$/.test(line)) map[previous] = "PASSED";
  }
  return map;
}

/** sympy's `bin/test -C --verbose`: `test_x ok`, `test_x F`, `test_x E`, `test_x f` (expected failure), `test_x s`. */
export function parseSympyLog(log: string): TestStatusMap {
  const map: TestStatusMap = {};
  for (const raw of log.split("\n")) {
    const m = /^(test_\S+)\s+(ok|F|E|f|s|w|X|Skipped.*)\s*$/.exec(raw.trim());
    if (!m) continue;
    const word = m[2]!;
    map[m[1]!] = word === "ok" ? "PASSED" : word === "F" ? "FAILED" : word === "E" ? "ERROR" : word === "f" ? "XFAIL" : word === "X" ? "XPASS" : "SKIPPED";
  }
  return map;
}

export const LOG_PARSERS: Record<LogParserName, (log: string) => TestStatusMap> = {
  pytest: parsePytestLog,
  django: parseDjangoLog,
  sympy: parseSympyLog,
};

/** A status that counts as a pass for validation (SWE-bench counts PASSED, and XFAIL as expected). */
export function isPass(status: TestStatus | undefined): boolean {
  return status === "PASSED" || status === "XFAIL" || status === "SKIPPED";
}
