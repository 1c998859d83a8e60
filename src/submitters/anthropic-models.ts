/**
 * What each Claude model takes, as one dated table (like the price table): which thinking form
 * (`budget`: `{type: "enabled", budget_tokens}` only; `adaptive`: `{type: "adaptive"}` only, the
 * budget form is a 400; `both`: adaptive preferred, the budget form deprecated but accepted),
 * which `output_config.effort` levels, and whether `output_config.format` (structured output)
 * exists. A model matches the longest key its name starts with; an unknown model gets the
 * `claude-` default row (budget thinking, no effort, structured output), the form every model
 * since 4.5 takes. Models change: check the date.
 */
import { longestPrefixRule } from "../internal/model-rule.ts";

/** One model family's request rules. */
export interface AnthropicModelRule {
  thinking: "budget" | "adaptive" | "both";
  /** `output_config.effort` levels the model accepts, lowest first; empty when it has no effort parameter. */
  effort: readonly string[];
  /** `output_config.format` with a JSON schema. */
  structuredOutput: boolean;
}


const LOW_HIGH = ["low", "medium", "high"] as const;
const LOW_MAX = ["low", "medium", "high", "max"] as const;
const LOW_XHIGH_MAX = ["low", "medium", "high", "xhigh", "max"] as const;

/** Written from Anthropic's extended/adaptive thinking, effort and structured output pages and the 2026-10-21 migration guide. */
export const ANTHROPIC_MODEL_RULES = {
  date: "2026-12-01",
  models: {
    "claude-": { thinking: "budget", effort: [], structuredOutput: true },
    "claude-3": { thinking: "budget", effort: [], structuredOutput: false },
    "claude-sonnet-4": { thinking: "budget", effort: [], structuredOutput: false },
    "claude-opus-4": { thinking: "budget", effort: [], structuredOutput: false },
    "claude-opus-4-1": { thinking: "budget", effort: [], structuredOutput: true },
    "claude-sonnet-4-5": { thinking: "budget", effort: [], structuredOutput: true },
    "claude-haiku-4-5": { thinking: "budget", effort: [], structuredOutput: true },
    "claude-opus-4-5": { thinking: "budget", effort: LOW_HIGH, structuredOutput: true },
    "claude-opus-4-6": { thinking: "both", effort: LOW_MAX, structuredOutput: true },
    "claude-sonnet-4-6": { thinking: "both", effort: LOW_MAX, structuredOutput: true },
    "claude-opus-4-7": { thinking: "adaptive", effort: LOW_XHIGH_MAX, structuredOutput: true },
    "claude-opus-4-8": { thinking: "adaptive", effort: LOW_XHIGH_MAX, structuredOutput: true },
    "claude-mythos-preview": { thinking: "adaptive", effort: LOW_MAX, structuredOutput: true },
    "claude-opus-5": { thinking: "adaptive", effort: LOW_XHIGH_MAX, structuredOutput: true },
    "claude-sonnet-5": { thinking: "adaptive", effort: LOW_XHIGH_MAX, structuredOutput: true },
    "claude-haiku-5": { thinking: "adaptive", effort: LOW_XHIGH_MAX, structuredOutput: true },
    "claude-fable-5": { thinking: "adaptive", effort: LOW_XHIGH_MAX, structuredOutput: true },
    "claude-mythos-5": { thinking: "adaptive", effort: LOW_XHIGH_MAX, structuredOutput: true },
  } satisfies Record<string, AnthropicModelRule>,
};

/** The rule for a model name (a provider prefix such as `anthropic/` is dropped first). */
export function anthropicModelRule(model: string): AnthropicModelRule {
  return longestPrefixRule<AnthropicModelRule>(ANTHROPIC_MODEL_RULES.models, model, ANTHROPIC_MODEL_RULES.models["claude-"]);
}
