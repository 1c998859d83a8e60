/**
 * Syntax checks per second (the `syntax_checks` section of `npm run bench`; alone:
 * `flock /tmp/batchline-heavy.lock node test/bench/commit-testgen.ts`):
 * BENCH_SCRIPTS generated scripts (default 1,000, about 120 lines each, one in ten with a syntax
 * error) checked through the one long-lived python3 that `commit-testgen proc` uses, against the
 * baseline of one python3 process per script (`python3 -c "ast.parse(...)"`, what a per-script
 * check costs; timed on the first BENCH_SCRIPTS_EACH, default 100, as it takes ~90 ms a script).
 * Both must give the same verdicts on those. BENCH_PYTHON picks the interpreter.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PythonSyntaxChecker } from "../../src/commit-testgen/syntax-checker.ts";
import { type BenchRow, printTable } from "./common.ts";

const COUNT = Number(process.env.BENCH_SCRIPTS ?? 1000);
const EACH = Math.min(COUNT, Number(process.env.BENCH_SCRIPTS_EACH ?? 100));
const PYTHON = process.env.BENCH_PYTHON ?? "python3";

function script(i: number): string {
  const lines = ["import json", "import os", "", ""];
  for (let f = 0; f < 12; f++) {
    lines.push(`def case_${i}_${f}(x, y=${f}):`, `    """Case ${f} for script ${i}."""`, `    values = [x + k * y for k in range(${f + 3})]`);
    lines.push(`    if not values:`, `        return {"name": "empty_${f}", "input": [], "expected": None}`, `    return {"name": "c${f}", "input": values, "expected": sum(values)}`, "", "");
  }
  lines.push('if __name__ == "__main__":', `    cases = [case_${i}_${0}(1)]`, '    print(json.dumps({"cases": len(cases)}))', "");
  if (i % 10 === 0) lines[6] = "    values = [x + k * y for k in range(3)"; // an unclosed bracket
  return lines.join("\n");
}

const ONE_SHOT = "import ast, sys\ntry:\n    ast.parse(sys.stdin.read())\nexcept SyntaxError:\n    sys.exit(1)\n";

function oneProcess(code: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ["-I", "-S", "-c", ONE_SHOT], { stdio: ["pipe", "ignore", "ignore"] });
    child.on("error", reject);
    child.on("close", (status) => resolve(status === 0));
    child.stdin.end(code);
  });
}

/** The two ways over the same scripts; the verdicts must agree. */
export async function syntaxChecks(): Promise<BenchRow[]> {
  const scripts = Array.from({ length: COUNT }, (_, i) => script(i));
  console.log(`syntax_checks: ${COUNT} scripts of ~${scripts[1]!.split("\n").length} lines (${scripts.filter((_, i) => i % 10 === 0).length} with a syntax error), ${PYTHON}`);
  let t = performance.now();
  const checker = new PythonSyntaxChecker({ python: PYTHON });
  const long = (await Promise.all(scripts.map((s) => checker.check(s)))).map((v) => v.ok);
  await checker.close();
  const longSeconds = (performance.now() - t) / 1000;
  process.stderr.write(`  one long-lived python3: ${longSeconds.toFixed(2)} s\n`);
  t = performance.now();
  const each: boolean[] = [];
  for (const s of scripts.slice(0, EACH)) each.push(await oneProcess(s));
  const eachSeconds = (performance.now() - t) / 1000;
  process.stderr.write(`  one python3 per script: ${eachSeconds.toFixed(2)} s for the first ${EACH}\n`);
  if (!each.every((v, i) => v === long[i])) throw new Error("the long-lived checker and one process per script disagree");
  return [
    { section: "syntax_checks", name: "one python3 per script", value: EACH / eachSeconds, unit: "checks/s", note: `timed on the first ${EACH} scripts` },
    { section: "syntax_checks", name: "one long-lived python3 (proc)", value: COUNT / longSeconds, unit: "checks/s", baseline: "one python3 per script", note: "start-up included; same verdicts" },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await syntaxChecks());
