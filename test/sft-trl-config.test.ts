/**
 * `batchline sft trl-config`: every key of the YAML is a field TRL's `trl sft` parses (the fixture
 * lists them from TRL's and transformers' source, versions noted there), read back the way
 * TrlParser reads it (PyYAML's safe_load), with the plan's hyperparameters.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const FIELDS = JSON.parse(await readFile(join(FIXTURES, "sft", "trl-fields.json"), "utf8")) as Record<string, string[]> & { removed: Record<string, string> };
const TOP_LEVEL = new Set([...FIELDS["ScriptArguments"]!, ...FIELDS["DatasetMixtureConfig"]!, ...FIELDS["ModelConfig"]!, ...FIELDS["SFTConfig"]!, ...FIELDS["_BaseConfig"]!, ...FIELDS["TrainingArguments"]!]);

/** The YAML as TRL's parser gets it: yaml.safe_load (PyYAML), as JSON. */
function safeLoad(path: string): Record<string, unknown> {
  const r = spawnSync("python3", ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("sft trl-config (CLI)", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  const cases = [
    { stage: "a", args: [], lr: 0.0002, length: { num_train_epochs: 1 }, model: "deepseek-ai/deepseek-coder-6.7b-instruct", data: "stage_a.jsonl" },
    { stage: "b", args: ["--adapter-from", "outputs/stage_a/", "--epochs", "0.5", "--dataset", "data/b.jsonl"], lr: 0.0001, length: { num_train_epochs: 0.5 }, model: "outputs/stage_a-merged", data: "data/b.jsonl" },
    { stage: "c", args: ["--adapter-from", "outputs/stage_b", "--base-model", "acme/coder-1b"], lr: 0.00005, length: { max_steps: 300 }, model: "outputs/stage_b-merged", data: "stage_c.jsonl" },
  ];
  for (const c of cases) {
    it(`stage ${c.stage}: only TRL field names, the plan's values, and the command that runs it`, async () => {
      const path = join(tmp.dir, `stage_${c.stage}.yaml`);
      const r = await runCli(["sft", "trl-config", "--stage", c.stage, ...c.args, "-o", path]);
      assert.equal(r.code, 0, r.stderr);
      const config = safeLoad(path);
      const unknown = Object.keys(config).filter((k) => !TOP_LEVEL.has(k));
      assert.deepEqual(unknown, [], "every key is a ScriptArguments/SFTConfig/ModelConfig/DatasetMixtureConfig field");
      for (const removed of Object.keys(FIELDS.removed)) assert.ok(!(removed in config), `${removed} is not written`);
      const datasets = config["datasets"] as Array<Record<string, unknown>>;
      assert.deepEqual(datasets, [{ path: "json", data_files: c.data, split: "train" }]);
      for (const d of datasets) for (const k of Object.keys(d)) assert.ok(FIELDS["DatasetConfig"]!.includes(k), k);
      assert.equal(config["model_name_or_path"], c.model);
      assert.equal(config["learning_rate"], c.lr, "a float once parsed (not the string '2e-4' PyYAML would keep)");
      for (const [k, v] of Object.entries(c.length)) assert.equal(config[k], v);
      assert.equal(config["max_length"], 2048);
      assert.equal(config["warmup_steps"], 0.03);
      assert.deepEqual(
        [config["load_in_4bit"], config["bnb_4bit_quant_type"], config["use_peft"], config["lora_r"], config["lora_alpha"], config["lora_dropout"]],
        [true, "nf4", true, 16, 32, 0.05],
      );
      assert.deepEqual(config["lora_target_modules"], ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);
      assert.match(r.stderr, new RegExp(`  trl sft --config ${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\n$`));
      if (c.model.endsWith("-merged")) {
        const from = c.model.slice(0, -"-merged".length);
        assert.match(r.stderr, new RegExp(`python -c '.*AutoPeftModelForCausalLM\\.from_pretrained\\("${from}".*merge_and_unload\\(\\)\\.save_pretrained\\("${c.model}"\\)`));
      } else assert.doesNotMatch(r.stderr, /merge_and_unload/);
    });
  }

  it("writes to stdout by default and refuses what it does not understand", async () => {
    const r = await runCli(["sft", "trl-config", "--stage", "A"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# trl sft config, stage A: .*TRL 1\.10/);
    assert.match(r.stdout, /\nmax_length: 2048\n/);
    for (const [args, want] of [
      [["--stage", "d"], /needs --stage a, b or c \(got d\)/],
      [[], /needs --stage a, b or c/],
      [["--stage", "b", "--epochs", "1", "--max-steps", "10"], /--epochs or --max-steps, not both/],
      [["--stage", "b", "--max-seq-length", "2048"], /unknown option --max-seq-length/],
    ] as Array<[string[], RegExp]>) {
      const bad = await runCli(["sft", "trl-config", ...args]);
      assert.equal(bad.code, 1, args.join(" "));
      assert.match(bad.stderr, want);
    }
  });
});
