/**
 * Request settings from flags and the environment the CLI hands in, with generate_test_generators.py's
 * defaults: provider = --provider, else LLM_PROVIDER, else openai when OPENAI_API_KEY is set, else
 * anthropic when ANTHROPIC_API_KEY is set, else openai; model = --model, else OPENAI_MODEL or
 * ANTHROPIC_MODEL (the provider's own), else gpt-5-2025-08-07 / claude-sonnet-4-5; temperature
 * 0.1; max tokens 65536 (64000 for anthropic, its output limit). The template = --prompt-template,
 * else the file TEST_CASE_GENERATOR_PROMPT names, else batchline's default text.
 */
import { readFile } from "node:fs/promises";
import { UsageError } from "../core/errors.ts";
import { DEFAULT_TEMPLATE } from "./prompts.ts";
import type { RequestSettings } from "./requests.ts";

export const PROVIDERS = ["openai", "anthropic"] as const;
export type Provider = (typeof PROVIDERS)[number];

/** The environment variables the settings read. */
export interface SettingsEnv {
  LLM_PROVIDER?: string;
  OPENAI_MODEL?: string;
  ANTHROPIC_MODEL?: string;
  OPENAI_API_KEY?: string;
  ANTHROPIC_API_KEY?: string;
  TEST_CASE_GENERATOR_PROMPT?: string;
}

/** Flags as typed (strings or numbers). */
export interface SettingsFlags {
  provider?: string;
  model?: string;
  temperature?: string | number;
  maxTokens?: string | number;
  maxContextTokens?: string | number;
  promptTemplate?: string;
}

const DEFAULT_MODELS: Record<Provider, string> = { openai: "gpt-5-2025-08-07", anthropic: "claude-sonnet-4-5" };
const DEFAULT_MAX_TOKENS: Record<Provider, number> = { openai: 65536, anthropic: 64000 };

function number(value: string | number | undefined, flag: string, check: (n: number) => boolean, what: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`${flag} ${value}: expected ${what}`);
  return n;
}

/** The provider the flags and environment choose. */
export function resolveProvider(flags: SettingsFlags, env: SettingsEnv): Provider {
  const named = flags.provider ?? (env.LLM_PROVIDER || undefined);
  if (named !== undefined) {
    if (!(PROVIDERS as readonly string[]).includes(named)) throw new UsageError(`${flags.provider !== undefined ? "--provider" : "LLM_PROVIDER"} ${named}: expected ${PROVIDERS.join(" or ")}`);
    return named as Provider;
  }
  if (env.OPENAI_API_KEY) return "openai";
  if (env.ANTHROPIC_API_KEY) return "anthropic";
  return "openai";
}

/** Reads the template file, with a usage error naming where its path came from. */
async function readTemplate(path: string, from: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    throw new UsageError(`${from} ${path}: cannot read the prompt template`);
  }
}

/** Settings for gen and repair requests (see the header for the order of precedence). */
export async function resolveSettings(flags: SettingsFlags, env: SettingsEnv): Promise<RequestSettings & { provider: Provider; templateSource: string }> {
  const provider = resolveProvider(flags, env);
  const model = flags.model ?? ((provider === "anthropic" ? env.ANTHROPIC_MODEL : env.OPENAI_MODEL) || DEFAULT_MODELS[provider]);
  const temperature = number(flags.temperature, "--temperature", (n) => n >= 0 && n <= 2, "a number from 0 to 2") ?? 0.1;
  const maxTokens = number(flags.maxTokens, "--max-tokens", (n) => Number.isInteger(n) && n > 0, "a whole number > 0") ?? DEFAULT_MAX_TOKENS[provider];
  const maxContextTokens = number(flags.maxContextTokens, "--max-context-tokens", (n) => Number.isInteger(n) && n > 0, "a whole number > 0");
  if (maxContextTokens !== undefined && maxContextTokens <= maxTokens) {
    throw new UsageError(`--max-context-tokens ${maxContextTokens} leaves no room for the prompt: it must be more than --max-tokens ${maxTokens}`);
  }
  let template = DEFAULT_TEMPLATE;
  let templateSource = "batchline default";
  if (flags.promptTemplate) {
    template = await readTemplate(flags.promptTemplate, "--prompt-template");
    templateSource = flags.promptTemplate;
  } else if (env.TEST_CASE_GENERATOR_PROMPT) {
    template = await readTemplate(env.TEST_CASE_GENERATOR_PROMPT, "TEST_CASE_GENERATOR_PROMPT");
    templateSource = env.TEST_CASE_GENERATOR_PROMPT;
  }
  return { provider, model, temperature, maxTokens, template, templateSource, ...(maxContextTokens !== undefined ? { maxContextTokens } : {}) };
}
