/**
 * `batchline sft trl-config`: the `trl sft --config <file>` YAML for one stage of the plan, and
 * the commands that run it. Option names are TRL's as of 1.10 (trl/scripts/sft.py parses
 * ScriptArguments, SFTConfig (a transformers TrainingArguments), ModelConfig and
 * DatasetMixtureConfig from the YAML): `max_length` (not the removed `max_seq_length`),
 * `warmup_steps` below 1 as the warmup ratio (transformers 5 deprecated `warmup_ratio`), QLoRA as
 * ModelConfig's `load_in_4bit` + `bnb_4bit_quant_type: nf4` with `dtype` as the compute dtype.
 * The dataset is the JSONL file `batchline sft` wrote, loaded by DatasetMixtureConfig as
 * `{path: json, data_files: <file>}`. Nothing is trained here.
 *
 * Stages: A = KodCode (LR 2e-4, 1 epoch), B = TestGenEval (LR 1e-4, 0.5-1 epoch), C = failure->fix
 * traces (LR 5e-5, a few hundred steps). TRL refuses a PEFT model plus a new LoRA config ("merge
 * and unload the existing adapter first"), so `--adapter-from DIR` trains on `DIR-merged`, the
 * earlier stage's adapter merged into its base, and the printed commands make it first.
 */
import { Document } from "yaml";
import { UsageError } from "../core/errors.ts";

export const TRL_VERSION = "1.10";
export const DEFAULT_BASE_MODEL = "deepseek-ai/deepseek-coder-6.7b-instruct";
export const LORA_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

/** Per stage: the plan's learning rate, length of training, batch, and default file names. */
export const STAGES = {
  a: { what: "KodCode (tests for small functions)", learning_rate: 2e-4, num_train_epochs: 1, per_device_train_batch_size: 4, gradient_accumulation_steps: 4, dataset: "stage_a.jsonl", output_dir: "outputs/stage_a" },
  b: { what: "TestGenEval (full test files of real repositories)", learning_rate: 1e-4, num_train_epochs: 1, per_device_train_batch_size: 4, gradient_accumulation_steps: 2, dataset: "stage_b.jsonl", output_dir: "outputs/stage_b" },
  c: { what: "failure->fix traces", learning_rate: 5e-5, max_steps: 300, per_device_train_batch_size: 4, gradient_accumulation_steps: 1, dataset: "stage_c.jsonl", output_dir: "outputs/stage_c" },
} as const;
export type TrlStage = keyof typeof STAGES;

export interface TrlConfigOptions {
  stage: TrlStage;
  baseModel?: string;
  /** The previous stage's adapter directory (output_dir of stage A for B, of B for C). */
  adapterFrom?: string;
  /** The SFT JSONL file; default stage_<x>.jsonl. */
  dataset?: string;
  outputDir?: string;
  /** Epochs (stage A/B); default 1. */
  epochs?: number;
  /** Steps (stage C, or instead of epochs); default 300 for stage C. */
  maxSteps?: number;
  maxLength?: number;
}

/** The config as a plain object, keys in the order they are written. */
export function trlConfig(o: TrlConfigOptions): Record<string, unknown> {
  const s = STAGES[o.stage];
  const base = o.baseModel ?? DEFAULT_BASE_MODEL;
  if (o.epochs !== undefined && !(o.epochs > 0)) throw new UsageError(`--epochs ${o.epochs}: expected a number > 0`);
  const steps = o.maxSteps ?? ("max_steps" in s ? s.max_steps : undefined);
  const epochs = steps === undefined ? (o.epochs ?? ("num_train_epochs" in s ? s.num_train_epochs : 1)) : undefined;
  return {
    // ModelConfig: the base (or the earlier stage merged into it), 4-bit NF4, LoRA
    model_name_or_path: o.adapterFrom ? mergedDir(o.adapterFrom) : base,
    dtype: "bfloat16",
    load_in_4bit: true,
    bnb_4bit_quant_type: "nf4",
    use_peft: true,
    lora_r: 16,
    lora_alpha: 32,
    lora_dropout: 0.05,
    lora_target_modules: [...LORA_TARGET_MODULES],
    // DatasetMixtureConfig: the JSONL batchline sft wrote
    datasets: [{ path: "json", data_files: o.dataset ?? s.dataset, split: "train" }],
    // SFTConfig / TrainingArguments
    output_dir: o.outputDir ?? s.output_dir,
    learning_rate: s.learning_rate,
    ...(epochs !== undefined ? { num_train_epochs: epochs } : { max_steps: steps }),
    per_device_train_batch_size: s.per_device_train_batch_size,
    gradient_accumulation_steps: s.gradient_accumulation_steps,
    warmup_steps: 0.03,
    max_length: o.maxLength ?? 2048,
    bf16: true,
    gradient_checkpointing: true,
    logging_steps: 10,
  };
}

/** Where `--adapter-from DIR` is merged into its base. */
export function mergedDir(adapterDir: string): string {
  return `${adapterDir.replace(/\/+$/, "")}-merged`;
}

/** The YAML text, with a header saying what it is for. */
export function trlConfigYaml(o: TrlConfigOptions): string {
  const doc = new Document(trlConfig(o));
  const s = STAGES[o.stage];
  doc.commentBefore = ` trl sft config, stage ${o.stage.toUpperCase()}: ${s.what}. Written by batchline sft trl-config for TRL ${TRL_VERSION} (transformers 5).`;
  return doc.toString({ lineWidth: 0 });
}

/** Shell-quotes a word when it needs it. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The commands that run the stage: the merge of --adapter-from (if any), then `trl sft --config`. */
export function trlCommands(o: TrlConfigOptions, configPath: string): string[] {
  const commands: string[] = [];
  if (o.adapterFrom) {
    const dir = o.adapterFrom.replace(/\/+$/, "");
    const merged = mergedDir(dir);
    const py = [
      "from peft import AutoPeftModelForCausalLM",
      "from transformers import AutoTokenizer",
      `m = AutoPeftModelForCausalLM.from_pretrained(${JSON.stringify(dir)}, dtype="bfloat16")`,
      `m.merge_and_unload().save_pretrained(${JSON.stringify(merged)})`,
      `AutoTokenizer.from_pretrained(m.peft_config["default"].base_model_name_or_path).save_pretrained(${JSON.stringify(merged)})`,
    ].join("; ");
    commands.push(`python -c ${sh(py)}`);
  }
  commands.push(`trl sft --config ${sh(configPath)}`);
  return commands;
}
