/**
 * The Python script that runs one generated test file in the sandbox and reports on it as JSON:
 * it parses the file (a syntax error is reported, not run), decides whether the file tests
 * anything at all, then runs real pytest in-process with a small plugin that counts the tests
 * collected, passed, failed and skipped, and the errors outside a test's call.
 *
 * A file "tests nothing" when no assert in it looks at anything but constants (`assert True`,
 * `assert 1 == 1`) and it uses no `pytest.raises` / `pytest.warns` / `pytest.approx`: such a file
 * passes whatever the code does, so it never counts as a pass. It is written into the workspace
 * next to the code and the test file; the runner gives the timeout and cuts the network.
 */

/** The driver's file name in the workspace. */
export const DRIVER_FILE = "_batchline_sft_eval.py";
/** Where the driver writes its report (read back by the runner). */
export const REPORT_FILE = "_batchline_sft_eval.json";

/** The report the driver writes. */
export interface DriverReport {
  syntax_error?: string;
  /** Asserts / pytest.raises-style checks that look at something other than constants. */
  checks: number;
  collected: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Errors in setup/teardown or collection. */
  errors: number;
  exit_code: number | null;
}

export const DRIVER_SOURCE = String.raw`import ast
import json
import sys

test_path, report_path = sys.argv[1], sys.argv[2]
result = {"checks": 0, "collected": 0, "passed": 0, "failed": 0, "skipped": 0, "errors": 0, "exit_code": None}


def write():
    with open(report_path, "w") as f:
        json.dump(result, f)


def only_constants(node):
    return all(not isinstance(n, (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Starred, ast.Await)) for n in ast.walk(node))


class Checks(ast.NodeVisitor):
    def __init__(self):
        self.count = 0

    def visit_Assert(self, node):
        if not only_constants(node.test):
            self.count += 1
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in ("raises", "warns", "approx") and isinstance(node.value, ast.Name) and node.value.id == "pytest":
            self.count += 1
        self.generic_visit(node)


with open(test_path, encoding="utf-8") as f:
    source = f.read()
try:
    tree = ast.parse(source, filename=test_path)
except SyntaxError as e:
    result["syntax_error"] = "%s (line %s)" % (e.msg, e.lineno)
    write()
    sys.exit(0)
checks = Checks()
checks.visit(tree)
result["checks"] = checks.count

import pytest


class Counter:
    def pytest_collection_modifyitems(self, items):
        result["collected"] = len(items)

    def pytest_collectreport(self, report):
        if report.failed:
            result["errors"] += 1

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            if report.passed:
                result["passed"] += 1
            elif report.failed:
                result["failed"] += 1
            elif report.skipped:
                result["skipped"] += 1
        elif report.failed:
            result["errors"] += 1
        elif report.skipped and report.when == "setup":
            result["skipped"] += 1


try:
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-o", "addopts=", "--tb=short", test_path], plugins=[Counter()])
    result["exit_code"] = int(code)
finally:
    write()
`;
