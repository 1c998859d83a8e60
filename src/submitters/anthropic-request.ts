/**
 * Chat-completion request body -> Anthropic Messages params, for the anthropic-version in use.
 * Under 2026-10-21 (what @anthropic-ai/sdk 1.x sends) the API refuses `temperature`, `top_p` and
 * `top_k` even at default values, so they are dropped; under 2023-06-01 they are kept
 * (temperature capped at 1). Thinking follows the model's row in `anthropic-models.ts`: adaptive
 * thinking with `output_config.effort` from `reasoning_effort`, or a `budget_tokens` kept within
 * the API's rules (>= 1024, < max_tokens). Tools, tool calls and tool messages map to `tools`,
 * `tool_use` and `tool_result` blocks. What changes on the way is counted in a `TranslationReport`;
 * what has no Anthropic form (an audio part, an OpenAI file id, a hosted tool) is an
 * `UntranslatableError` for that line, never a guess or an empty block.
 */
import { BatchlineError } from "../core/errors.ts";
import { anthropicModelRule } from "./anthropic-models.ts";

/** The anthropic-version batchline translates for by default: the one @anthropic-ai/sdk 1.x sends (a test checks they agree). */
export const ANTHROPIC_API_VERSION = "2026-10-21";
/** The versions the translation knows; any other is refused. */
export const ANTHROPIC_API_VERSIONS = ["2023-06-01", "2026-10-21"] as const;

/** Why one request line cannot be sent to Anthropic; the line becomes a failure record. */
export class UntranslatableError extends BatchlineError {}

/** Counts of what the translation changed or dropped, by group and item, over many lines. */
export class TranslationReport {
  private readonly groups = new Map<string, Map<string, number>>();
  untranslatable = 0;
  firstUntranslatable: string | undefined;

  add(group: string, item: string): void {
    let items = this.groups.get(group);
    if (!items) this.groups.set(group, (items = new Map()));
    items.set(item, (items.get(item) ?? 0) + 1);
  }

  /** One line per group, e.g. `dropped temperature (4 lines), top_p (2 lines): ...`. */
  lines(version: string): string[] {
    const out: string[] = [];
    const list = (items: Map<string, number>) => [...items].map(([item, n]) => `${item} (${n} line${n === 1 ? "" : "s"})`).join(", ");
    for (const [group, items] of this.groups) {
      if (group === "sampling") out.push(`dropped ${list(items)}: anthropic-version ${version} refuses sampling parameters (--anthropic-version 2023-06-01 or ANTHROPIC_VERSION=2023-06-01 keeps them)`);
      else if (group === "dropped") out.push(`dropped ${list(items)}: no Anthropic Messages equivalent`);
      else if (group === "thinking") out.push(`thinking (the API needs 1024 <= budget_tokens < max_tokens): ${list(items)}`);
      else out.push(`${group}: ${list(items)}`);
    }
    if (this.untranslatable > 0) out.push(`${this.untranslatable} line(s) have no Anthropic form and become failure records, not requests (first: ${this.firstUntranslatable})`);
    return out;
  }
}

export interface TranslateOptions {
  /** anthropic-version the request goes out under (default ANTHROPIC_API_VERSION). */
  version?: string;
  /** max_tokens when a request sets none (Messages requires one). */
  defaultMaxTokens?: number;
  report?: TranslationReport;
}

type Json = Record<string, unknown>;
type Block = Json;

const HANDLED = new Set(["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "enable_thinking", "thinking_budget", "thinking", "user"]);
const EFFORT_RANK: Record<string, number> = { minimal: 1, low: 1, medium: 2, high: 3, xhigh: 4, max: 5 };
/** Budget-form thinking for a reasoning_effort on models without adaptive thinking. */
const EFFORT_BUDGET: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 16_384, xhigh: 32_768, max: 32_768 };
const MIN_BUDGET = 1024;

function fail(message: string): never {
  throw new UntranslatableError(message);
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const blank = (s: string) => s.trim() === "";

/** Text of a system/developer message: a string or text parts only. */
function systemText(content: unknown, where: string): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) fail(`${where}: content is neither a string nor a list of parts`);
  return content
    .map((p, j) => {
      if (isObject(p) && p.type === "text" && typeof p.text === "string") return p.text;
      return fail(`${where}.content[${j}] is a "${String(isObject(p) ? p.type : typeof p)}" part; a system message takes text only`);
    })
    .join("");
}

function imageBlock(part: Json, where: string): Block {
  const image = part.image_url;
  const url = typeof image === "string" ? image : isObject(image) && typeof image.url === "string" ? image.url : undefined;
  if (!url) fail(`${where}: image_url part without a url`);
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (m) return { type: "image", source: { type: "base64", media_type: m[1], data: m[2] } };
  if (/^https?:\/\//.test(url)) return { type: "image", source: { type: "url", url } };
  return fail(`${where}: image url ${url.slice(0, 40)} is neither https nor a base64 data URL`);
}

function fileBlock(part: Json, where: string): Block {
  const file = isObject(part.file) ? part.file : {};
  const data = typeof file.file_data === "string" ? /^data:application\/pdf;base64,(.*)$/s.exec(file.file_data) : null;
  if (data) return { type: "document", source: { type: "base64", media_type: "application/pdf", data: data[1] } };
  if (typeof file.file_id === "string") fail(`${where} is a "file" part with an OpenAI file_id, which has no Anthropic form`);
  return fail(`${where} is a "file" part that is not a base64 PDF, which has no Anthropic form`);
}

/** A user or assistant message's content as blocks; blank text is left out (the API refuses empty text blocks). */
function contentBlocks(content: unknown, where: string, role: "user" | "assistant"): Block[] {
  if (content === null || content === undefined) return [];
  if (typeof content === "string") return blank(content) ? [] : [{ type: "text", text: content }];
  if (!Array.isArray(content)) fail(`${where}: content is neither a string nor a list of parts`);
  const blocks: Block[] = [];
  content.forEach((p, j) => {
    const at = `${where}.content[${j}]`;
    if (!isObject(p)) fail(`${at} is not a content part`);
    if (p.type === "text" && typeof p.text === "string") {
      if (!blank(p.text)) blocks.push({ type: "text", text: p.text });
    } else if (p.type === "refusal" && role === "assistant" && typeof p.refusal === "string") {
      if (!blank(p.refusal)) blocks.push({ type: "text", text: p.refusal });
    } else if (p.type === "image_url" && role === "user") {
      blocks.push(imageBlock(p, at));
    } else if (p.type === "file" && role === "user") {
      blocks.push(fileBlock(p, at));
    } else {
      fail(`${at} is a "${String(p.type)}" part, which has no Anthropic form in a ${role} message`);
    }
  });
  return blocks;
}

function toolUseBlock(call: unknown, where: string): Block {
  if (!isObject(call) || call.type !== "function" || !isObject(call.function)) fail(`${where} is not a function tool call, which has no Anthropic form`);
  const fn = call.function;
  let input: unknown;
  try {
    input = JSON.parse(typeof fn.arguments === "string" && fn.arguments !== "" ? fn.arguments : "{}");
  } catch {
    fail(`${where}: function.arguments is not valid JSON`);
  }
  if (!isObject(input)) fail(`${where}: function.arguments is not a JSON object`);
  return { type: "tool_use", id: call.id, name: fn.name, input };
}

function toolResultBlock(m: Json, where: string): Block {
  if (typeof m.tool_call_id !== "string") fail(`${where}: tool message without tool_call_id`);
  const block: Block = { type: "tool_result", tool_use_id: m.tool_call_id };
  if (typeof m.content === "string") {
    if (!blank(m.content)) block.content = m.content;
  } else if (m.content !== null && m.content !== undefined) {
    const parts = contentBlocks(m.content, where, "user");
    if (parts.length > 0) block.content = parts;
  }
  return block;
}

/** OpenAI messages -> Anthropic `system` + alternating messages (consecutive same-role turns merged, tool results first). */
function translateMessages(messages: unknown): { system: string; messages: { role: string; content: string | Block[] }[] } {
  if (!Array.isArray(messages)) fail("body.messages is not a list");
  const system: string[] = [];
  const out: { role: "user" | "assistant"; content: Block[] }[] = [];
  const push = (role: "user" | "assistant", blocks: Block[]) => {
    const last = out.at(-1);
    if (last && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) fail(`${where} is not a message object`);
    if (m.role === "system" || m.role === "developer") {
      const text = systemText(m.content, where);
      if (!blank(text)) system.push(text);
    } else if (m.role === "user") {
      const blocks = contentBlocks(m.content, where, "user");
      if (blocks.length === 0) fail(`${where} (user) has no content; Anthropic refuses empty messages and empty text blocks`);
      push("user", blocks);
    } else if (m.role === "assistant") {
      const blocks = contentBlocks(m.content, where, "assistant");
      const calls = Array.isArray(m.tool_calls) ? m.tool_calls : [];
      calls.forEach((c, j) => blocks.push(toolUseBlock(c, `${where}.tool_calls[${j}]`)));
      if (blocks.length > 0) push("assistant", blocks);
      else if (i !== messages.length - 1) fail(`${where} (assistant) has no content; Anthropic refuses empty messages and empty text blocks`);
    } else if (m.role === "tool") {
      push("user", [toolResultBlock(m, where)]);
    } else {
      fail(`${where} has role "${String(m.role)}", which has no Anthropic form`);
    }
  });
  if (out.length === 0) fail("no user or assistant messages");
  // A turn that is one text block goes out as a string, as most callers write it.
  const compact = out.map((m) => ({ role: m.role, content: m.content.length === 1 && m.content[0]!.type === "text" ? (m.content[0]!.text as string) : m.content }));
  return { system: system.join("\n\n"), messages: compact };
}

function translateTools(tools: unknown): Block[] {
  if (!Array.isArray(tools)) fail("body.tools is not a list");
  return tools.map((t, i) => {
    if (!isObject(t) || t.type !== "function" || !isObject(t.function)) fail(`tools[${i}] is a "${String(isObject(t) ? t.type : typeof t)}" tool, which has no Anthropic form (function tools only)`);
    const fn = t.function;
    const tool: Block = { name: fn.name, input_schema: isObject(fn.parameters) ? fn.parameters : { type: "object", properties: {} } };
    if (typeof fn.description === "string") tool.description = fn.description;
    if (fn.strict === true) tool.strict = true;
    return tool;
  });
}

function translateToolChoice(choice: unknown, parallel: unknown): Block | undefined {
  let out: Block | undefined;
  if (choice === "auto") out = { type: "auto" };
  else if (choice === "none") out = { type: "none" };
  else if (choice === "required") out = { type: "any" };
  else if (isObject(choice) && choice.type === "function" && isObject(choice.function) && typeof choice.function.name === "string") out = { type: "tool", name: choice.function.name };
  else if (choice !== undefined && choice !== null) fail(`tool_choice ${JSON.stringify(choice)} has no Anthropic form`);
  if (parallel === false) {
    out ??= { type: "auto" };
    if (out.type !== "none") out.disable_parallel_tool_use = true;
  }
  return out;
}

/** Thinking and effort for the model's rule; may raise max_tokens. */
function translateThinking(b: Json, params: Json, report: TranslationReport | undefined): boolean {
  const rule = anthropicModelRule(String(b.model ?? ""));
  const explicit = isObject(b.thinking) ? b.thinking : undefined;
  const effortIn = typeof b.reasoning_effort === "string" ? b.reasoning_effort : undefined;
  let budget = b.thinking_budget !== undefined && b.thinking_budget !== null ? Number(b.thinking_budget) : explicit?.type === "enabled" ? Number(explicit.budget_tokens) : undefined;
  if (budget !== undefined && !Number.isFinite(budget)) fail(`thinking_budget ${String(b.thinking_budget)} is not a number`);
  let on: boolean;
  if (b.enable_thinking === true || b.enable_thinking === false) on = b.enable_thinking;
  else if (explicit) on = explicit.type !== "disabled";
  else on = budget !== undefined || (effortIn !== undefined && effortIn !== "none");
  if (effortIn === "none") on = false;

  const config: Json = {};
  if (effortIn !== undefined && effortIn !== "none") {
    const rank = EFFORT_RANK[effortIn];
    if (rank === undefined) fail(`reasoning_effort ${effortIn} is not a known level`);
    const level = [...rule.effort].reverse().find((l) => EFFORT_RANK[l]! <= rank);
    if (level !== undefined) {
      config.effort = level;
      if (level !== effortIn) report?.add("reasoning_effort", `${effortIn} sent as ${level} (the model's nearest level)`);
    } else if (!(on && rule.thinking === "budget")) {
      report?.add("dropped", "reasoning_effort");
    }
  }
  if (Object.keys(config).length > 0) params.output_config = { ...(params.output_config as Json | undefined), ...config };
  if (!on) return false;

  if (rule.thinking !== "budget") {
    params.thinking = { type: "adaptive" };
    if (budget !== undefined) report?.add("thinking", "thinking_budget not sent to a model that takes adaptive thinking (reasoning_effort sets its effort)");
    return true;
  }
  if (budget === undefined) {
    budget = EFFORT_BUDGET[effortIn ?? "high"] ?? EFFORT_BUDGET.high!;
    if (effortIn !== undefined) report?.add("thinking", `budget_tokens ${budget} from reasoning_effort ${effortIn}`);
  }
  budget = Math.floor(budget);
  if (budget < MIN_BUDGET) {
    budget = MIN_BUDGET;
    report?.add("thinking", `budget raised to ${MIN_BUDGET}`);
  }
  const maxTokens = params.max_tokens as number;
  if (budget >= maxTokens) {
    if (maxTokens >= 2 * MIN_BUDGET) {
      budget = Math.max(MIN_BUDGET, Math.floor((maxTokens * 3) / 4));
      report?.add("thinking", "budget >= max_tokens, clamped to 3/4 of max_tokens");
    } else {
      params.max_tokens = budget + MIN_BUDGET;
      report?.add("thinking", `max_tokens raised to budget + ${MIN_BUDGET}`);
    }
  }
  params.thinking = { type: "enabled", budget_tokens: budget };
  return true;
}

/**
 * One chat-completion body as Messages params for `options.version`. Throws UntranslatableError
 * (naming the part or field) when the body has something Anthropic cannot take.
 */
export function toMessagesParams(body: Record<string, unknown>, options: TranslateOptions = {}): Record<string, unknown> {
  const version = options.version ?? ANTHROPIC_API_VERSION;
  const report = options.report;
  const b = body;
  const { system, messages } = translateMessages(b.messages);
  const maxTokens = Number(b.max_tokens ?? b.max_completion_tokens ?? options.defaultMaxTokens ?? 4096);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) fail(`max_tokens ${String(b.max_tokens ?? b.max_completion_tokens)} is not a whole number >= 1`);
  const params: Json = { model: b.model, max_tokens: maxTokens, messages };
  if (system) params.system = system;
  if (b.tools !== undefined && b.tools !== null) params.tools = translateTools(b.tools);
  const choice = translateToolChoice(b.tool_choice, b.parallel_tool_calls);
  if (choice) params.tool_choice = choice;

  const format = isObject(b.response_format) ? b.response_format : undefined;
  if (format?.type === "json_schema") {
    const schema = isObject(format.json_schema) ? format.json_schema.schema : undefined;
    if (!isObject(schema)) fail("response_format json_schema without a schema");
    if (!anthropicModelRule(String(b.model ?? "")).structuredOutput) fail(`response_format json_schema: ${String(b.model)} has no structured output`);
    params.output_config = { format: { type: "json_schema", schema } };
  } else if (format && format.type !== "text") {
    report?.add("dropped", `response_format ${String(format.type)}`);
  }

  const thinking = translateThinking(b, params, report);

  for (const key of ["temperature", "top_p", "top_k"] as const) {
    const value = b[key];
    if (value === undefined || value === null) continue;
    if (version >= "2026-10-21") {
      report?.add("sampling", key);
    } else if (thinking && (key !== "top_p" || Number(value) < 0.95)) {
      report?.add("dropped with thinking on", key);
    } else if (key === "temperature" && Number(value) > 1) {
      params.temperature = 1;
      report?.add("temperature", "capped at 1 (Anthropic's range is 0-1)");
    } else {
      params[key] = value;
    }
  }
  const stops = (Array.isArray(b.stop) ? b.stop : [b.stop]).filter((s) => typeof s === "string" && !blank(s));
  if (stops.length > 0) params.stop_sequences = stops;
  if (typeof b.user === "string" && b.user !== "") params.metadata = { user_id: b.user };

  for (const [key, value] of Object.entries(b)) {
    if (HANDLED.has(key) || value === undefined || value === null || value === false || (key === "n" && value === 1)) continue;
    report?.add("dropped", key);
  }
  return params;
}
