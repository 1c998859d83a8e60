/**
 * The datasets `batchline sft` turns into training rows, column by column, as they are on the hub
 * (checked against their dataset cards; the plan that asked for them names some columns wrongly):
 * - KodCode/KodCode-V1-SFT-R1: `question, solution, test_code, r1_correctness, ...`; the test
 *   file is `test_code` (not `test`), `r1_correctness` is the string "True" or "False", and the
 *   splits are train, incorrect and use_with_caution. Its tests import `from solution import ...`.
 * - TestGenEval: `code_src, test_src, code_file, test_file, instance_id, preds_context, ...`.
 */

/** One dataset: which columns hold the code and its tests, and how rows are named. */
export interface SftSource {
  name: string;
  /** Columns every row must have (a dataset without one is refused, naming what it has). */
  required: readonly string[];
  /** The code under test. */
  codeColumn: string;
  /** The reference test file: the completion. */
  testColumn: string;
  /** The file the tests import the code from: a fixed name, or a column holding the path (`fallback` when a row has none). */
  codeFile: { fixed: string } | { column: string; fallback: string };
  /** Columns that name a row in messages, the first present wins. */
  idColumns: readonly string[];
  /** The default split. */
  split: string;
}

export const SFT_SOURCES = {
  kodcode: {
    name: "kodcode",
    required: ["solution", "test_code"],
    codeColumn: "solution",
    testColumn: "test_code",
    codeFile: { fixed: "solution.py" },
    idColumns: ["question_id", "conversation_id"],
    split: "train",
  },
  testgeneval: {
    name: "testgeneval",
    required: ["code_src", "test_src"],
    codeColumn: "code_src",
    testColumn: "test_src",
    codeFile: { column: "code_file", fallback: "the module under test" },
    idColumns: ["instance_id", "id"],
    split: "train",
  },
} as const satisfies Record<string, SftSource>;

export type SftSourceName = keyof typeof SFT_SOURCES;

export function isSftSourceName(name: string): name is SftSourceName {
  return Object.hasOwn(SFT_SOURCES, name);
}

/** The column that marks a KodCode row as verified; kept only when it says "True". */
export const CORRECTNESS_COLUMN = "r1_correctness";
