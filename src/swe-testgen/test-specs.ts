/**
 * How each SWE-bench repository runs its tests, as the SWE-bench harness does it: the test
 * command per repo (and version, for the few that differ), the test directives taken from the
 * files a test patch touches, and which log parser reads the output. Repos the harness does not
 * name (the fixtures, a user's own project) run pytest with `-rA`.
 */
import type { LogParserName } from "./log-parsers.ts";

/** The test command and parser for one repo. `argv` is run from the repository root. */
export interface TestSpec {
  /** The command, before the directives; `python` as the first word runs the runner's interpreter. */
  argv: string[];
  /** Environment for the command (sympy's warning filter). */
  env: Record<string, string>;
  parser: LogParserName;
  /** Turn test file paths into what the command takes (Django: dotted module names). */
  directives(testFiles: readonly string[]): string[];
}

const PYTEST_RA = ["python", "-m", "pytest", "--no-header", "-rA", "--tb=no", "-p", "no:cacheprovider"];
const pyFiles = (files: readonly string[]) => files.filter((f) => f.endsWith(".py"));

function pytest(argv: string[] = PYTEST_RA): TestSpec {
  return { argv, env: {}, parser: "pytest", directives: pyFiles };
}

/** Django's runner takes `tests/a/b.py` as `a.b`. */
function djangoDirectives(files: readonly string[]): string[] {
  return pyFiles(files).map((f) => f.slice(0, -3).replace(/^tests\//, "").replaceAll("/", "."));
}

/** The spec for `repo` (`owner/name`) at `version` (the dataset's version column). */
export function testSpecFor(repo: string, version?: string | null): TestSpec {
  switch (repo) {
    case "django/django":
      return {
        argv: version === "1.9" ? ["./tests/runtests.py", "--verbosity", "2"] : ["./tests/runtests.py", "--verbosity", "2", "--settings=test_sqlite", "--parallel", "1"],
        env: {},
        parser: "django",
        directives: djangoDirectives,
      };
    case "sympy/sympy":
      return { argv: ["bin/test", "-C", "--verbose"], env: { PYTHONWARNINGS: "ignore::UserWarning,ignore::SyntaxWarning" }, parser: "sympy", directives: pyFiles };
    case "sphinx-doc/sphinx":
      return { argv: ["tox", "--current-env", "-epy39", "-v", "--"], env: {}, parser: "pytest", directives: pyFiles };
    case "astropy/astropy":
      return pytest(version !== undefined && version !== null && Number.parseFloat(version) >= 5 ? ["python", "-m", "pytest", "-rA", "-vv", "-o", "console_output_style=classic", "--tb=no"] : PYTEST_RA);
    case "mwaskom/seaborn":
      return pytest(["python", "-m", "pytest", "--no-header", "-rA"]);
    default:
      return pytest();
  }
}

/** Paths of the files a unified diff creates or changes (`diff --git a/X b/Y` -> Y), in order, once each. */
export function patchFiles(patch: string): string[] {
  const out: string[] = [];
  for (const m of patch.matchAll(/^diff --git a\/\S+ b\/(\S+)$/gm)) if (!out.includes(m[1]!)) out.push(m[1]!);
  return out;
}
