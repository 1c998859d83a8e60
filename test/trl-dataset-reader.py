"""Reads an SFT JSONL file the way TRL's SFTTrainer takes a dataset (trl f2cd577, 1.10.0.dev0).

Standard library only, so the test runs without torch. What it mirrors:
- `datasets.load_dataset("json", data_files=...)`: every line is a JSON object and all lines share
  one set of columns with one type each (Arrow needs a single schema);
- `SFTTrainer` picks the dataset type from the first example: `"messages"` (or `text`) is language
  modeling, `"prompt"` + `"completion"` is prompt-completion (completion-only loss by default);
- `trl.data_utils.is_conversational`: a supported key holding a list whose first item is a dict
  with `role`; a conversational example is a list of {role, content} messages;
- the non-conversational prompt-completion path concatenates `prompt + completion` as strings.
It also refuses empty records (an empty prompt, completion or message content), which train on nothing.
Prints `<type> <rows>` and exits 0, or prints the problem and exits 1.
"""
import json
import sys

SUPPORTED_KEYS = ["prompt", "chosen", "rejected", "completion", "messages"]


def is_conversational(example):
    keys = [k for k in example if k in SUPPORTED_KEYS]
    if keys:
        value = example[keys[0]]
        if isinstance(value, list) and value and isinstance(value[0], dict) and "role" in value[0]:
            return True
    return False


def fail(message):
    print(message)
    sys.exit(1)


def check_messages(messages, where):
    if not isinstance(messages, list) or not messages:
        fail(f"{where}: messages must be a non-empty list")
    for m in messages:
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            fail(f"{where}: a message must be {{role, content}}: {m!r}")
        if m["role"] not in ("system", "user", "assistant"):
            fail(f"{where}: unknown role {m['role']!r}")
        if not isinstance(m["content"], str) or not m["content"].strip():
            fail(f"{where}: empty message content")
    if messages[-1]["role"] != "assistant":
        fail(f"{where}: the last message must be the assistant's (the target)")


def main(path):
    schema = None
    rows = 0
    kind = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            where = f"{path}:{n}"
            row = json.loads(line)
            if not isinstance(row, dict):
                fail(f"{where}: not a JSON object")
            shape = {k: type(v).__name__ for k, v in row.items()}
            if schema is None:
                schema = shape
                if "messages" in row:
                    kind = "messages"
                elif "prompt" in row and "completion" in row:
                    kind = "prompt-completion"
                else:
                    fail(f"{where}: neither messages nor prompt + completion: {sorted(row)}")
            elif shape != schema:
                fail(f"{where}: columns {shape} differ from the first row's {schema}")
            if kind == "messages":
                if not is_conversational(row):
                    fail(f"{where}: messages is not conversational")
                check_messages(row["messages"], where)
            else:
                if is_conversational(row):
                    check_messages(row["prompt"] + row["completion"], where)
                else:
                    if not isinstance(row["prompt"], str) or not isinstance(row["completion"], str):
                        fail(f"{where}: prompt and completion must be strings")
                    if not row["prompt"].strip() or not row["completion"].strip():
                        fail(f"{where}: empty prompt or completion")
                    _ = row["prompt"] + row["completion"]
            rows += 1
    if rows == 0:
        fail(f"{path}: no rows")
    print(f"{kind} {rows}")


if __name__ == "__main__":
    main(sys.argv[1])
