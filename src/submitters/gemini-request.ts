/**
 * Chat-completion request body <-> Gemini GenerateContent, in the REST (camelCase) form that a
 * Gemini Batch input file line carries (`{"key": ..., "request": {...}}`) and that inlined
 * requests carry. Out: system/developer messages -> `systemInstruction`, user/assistant turns ->
 * `contents` with roles user/model, sampling and length -> `generationConfig`, thinking from
 * `thinking_budget`/`enable_thinking` (what the stages' --thinking_budget writes) or
 * `reasoning_effort`, by one dated table of model rules. Back: a GenerateContentResponse ->
 * an OpenAI `chat.completion` body with usage (thoughts as reasoning tokens, cached content as
 * cached tokens). What has no Gemini form is an `UntranslatableError`, never a guess.
 */
import { BatchlineError } from "../core/errors.ts";
import { longestPrefixRule } from "../internal/model-rule.ts";

/** Why one request body cannot be sent to Gemini (the run stops, naming the line). */
export class GeminiUntranslatableError extends BatchlineError {}

type Json = Record<string, unknown>;

/** One model family's thinking rules. */
export interface GeminiModelRule {
  /** `budget`: thinkingConfig.thinkingBudget; `level`: thinkingConfig.thinkingLevel (Gemini 3); `none`: no thinking config at all. */
  thinking: "budget" | "level" | "none";
  /** Budget range the API accepts (tokens), and whether 0 (thinking off) is allowed. */
  minBudget: number;
  maxBudget: number;
  canDisable: boolean;
  /** thinkingLevel values, lowest first (level models). */
  levels: readonly string[];
}

/**
 * Written from Google's Gemini thinking guide (budget ranges per model, thinking levels for
 * Gemini 3: Pro takes low/high, the Flash models also minimal and medium; models without thinking). A model matches the longest key its name starts with
 * (after an optional `models/` prefix); an unknown `gemini-` model gets the 2.5 Flash row.
 */
export const GEMINI_MODEL_RULES = {
  date: "2026-12-01",
  models: {
    "gemini-": { thinking: "budget", minBudget: 1, maxBudget: 24_576, canDisable: true, levels: [] },
    "gemini-1.5": { thinking: "none", minBudget: 0, maxBudget: 0, canDisable: true, levels: [] },
    "gemini-2.0": { thinking: "none", minBudget: 0, maxBudget: 0, canDisable: true, levels: [] },
    "gemini-2.5-pro": { thinking: "budget", minBudget: 128, maxBudget: 32_768, canDisable: false, levels: [] },
    "gemini-2.5-flash": { thinking: "budget", minBudget: 1, maxBudget: 24_576, canDisable: true, levels: [] },
    "gemini-2.5-flash-lite": { thinking: "budget", minBudget: 512, maxBudget: 24_576, canDisable: true, levels: [] },
    "gemini-3": { thinking: "level", minBudget: 0, maxBudget: 0, canDisable: false, levels: ["minimal", "low", "medium", "high"] },
    "gemini-3-pro": { thinking: "level", minBudget: 0, maxBudget: 0, canDisable: false, levels: ["low", "high"] },
  } satisfies Record<string, GeminiModelRule>,
};

/** The rule for a model name (`models/` and a provider prefix such as `google/` are dropped first). */
export function geminiModelRule(model: string): GeminiModelRule {
  return longestPrefixRule<GeminiModelRule>(GEMINI_MODEL_RULES.models, model, GEMINI_MODEL_RULES.models["gemini-"]);
}

/** Counts what the translation changed or dropped, per note, over many lines (logged once per run). */
export class GeminiNotes {
  readonly counts = new Map<string, number>();
  add(note: string): void {
    this.counts.set(note, (this.counts.get(note) ?? 0) + 1);
  }
  lines(): string[] {
    return [...this.counts].map(([note, n]) => `${note} (${n} line${n === 1 ? "" : "s"})`);
  }
}

/** Body fields that change nothing Gemini would do, dropped with a note. */
const IGNORED = new Set(["user", "store", "metadata", "service_tier", "parallel_tool_calls", "stream_options"]);
const HANDLED = new Set(["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "n", "seed", "presence_penalty", "frequency_penalty", "response_format", "reasoning_effort", "enable_thinking", "thinking_budget", "stream"]);
/** Gemini's OpenAI-compatibility budgets for a reasoning_effort on budget models. */
const EFFORT_BUDGET: Record<string, number> = { minimal: 1024, low: 1024, medium: 8192, high: 24_576, xhigh: 24_576 };
const EFFORT_RANK: Record<string, number> = { minimal: 0, low: 1, medium: 2, high: 3, xhigh: 3 };
/** Gemini takes 1 to 8 candidates per request. */
export const MAX_CANDIDATES = 8;
/** Gemini takes at most 5 stop sequences. */
export const MAX_STOP_SEQUENCES = 5;

function fail(message: string): never {
  throw new GeminiUntranslatableError(message);
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const blank = (s: string) => s.trim() === "";

function textOnly(content: unknown, where: string): string[] {
  if (typeof content === "string") return blank(content) ? [] : [content];
  if (!Array.isArray(content)) fail(`${where}: content is neither a string nor a list of parts`);
  return content.flatMap((p, j) => {
    if (isObject(p) && p.type === "text" && typeof p.text === "string") return blank(p.text) ? [] : [p.text];
    return fail(`${where}.content[${j}] is a "${String(isObject(p) ? p.type : typeof p)}" part; a system message takes text only`);
  });
}

/** A user or assistant message's content as Gemini parts (text, and base64 images in user turns). */
function parts(content: unknown, where: string, role: "user" | "model"): Json[] {
  if (content === null || content === undefined) return [];
  if (typeof content === "string") return blank(content) ? [] : [{ text: content }];
  if (!Array.isArray(content)) fail(`${where}: content is neither a string nor a list of parts`);
  const out: Json[] = [];
  content.forEach((p, j) => {
    const at = `${where}.content[${j}]`;
    if (!isObject(p)) fail(`${at} is not a content part`);
    if (p.type === "text" && typeof p.text === "string") {
      if (!blank(p.text)) out.push({ text: p.text });
    } else if (p.type === "refusal" && role === "model" && typeof p.refusal === "string") {
      if (!blank(p.refusal)) out.push({ text: p.refusal });
    } else if (p.type === "image_url" && role === "user") {
      const image = p.image_url;
      const url = typeof image === "string" ? image : isObject(image) && typeof image.url === "string" ? image.url : "";
      const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
      if (!m) fail(`${at}: image url ${url.slice(0, 40)} is not a base64 data URL (Gemini fetches no https images in a batch)`);
      out.push({ inlineData: { mimeType: m[1], data: m[2] } });
    } else {
      fail(`${at} is a "${String(p.type)}" part, which gemini-batch does not translate in a ${role === "model" ? "assistant" : "user"} message`);
    }
  });
  return out;
}

function translateMessages(messages: unknown): { systemInstruction?: Json; contents: Json[] } {
  if (!Array.isArray(messages) || messages.length === 0) fail("body.messages is not a non-empty list");
  const system: string[] = [];
  const contents: { role: string; parts: Json[] }[] = [];
  messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) fail(`${where} is not a message object`);
    if (m.role === "system" || m.role === "developer") {
      system.push(...textOnly(m.content, where));
      return;
    }
    if (m.role !== "user" && m.role !== "assistant") {
      fail(`${where} has role "${String(m.role)}"${m.role === "tool" ? " (tool calls are not translated by gemini-batch)" : ""}, which has no Gemini form here`);
    }
    if (m.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) fail(`${where} has tool_calls, which gemini-batch does not translate`);
    const role = m.role === "user" ? "user" : "model";
    const ps = parts(m.content, where, role);
    if (ps.length === 0) fail(`${where} (${String(m.role)}) has no content; Gemini refuses a turn without parts`);
    const last = contents.at(-1);
    if (last && last.role === role) last.parts.push(...ps);
    else contents.push({ role, parts: ps });
  });
  if (contents.length === 0) fail("no user or assistant messages (Gemini needs at least one content)");
  return { ...(system.length > 0 ? { systemInstruction: { parts: system.map((text) => ({ text })) } } : {}), contents };
}

function wholeNumber(value: unknown, field: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`${field} ${JSON.stringify(value)} is not a whole number >= ${min}`);
  return n;
}

function numberIn(value: unknown, field: string, lo: number, hi: number): number {
  const n = Number(value);
  if (typeof value !== "number" || !Number.isFinite(n) || n < lo || n > hi) fail(`${field} ${JSON.stringify(value)} is outside Gemini's range ${lo}..${hi}`);
  return n;
}

function translateThinking(b: Json, model: string, notes: GeminiNotes | undefined): Json | undefined {
  const rule = geminiModelRule(model);
  const effort = typeof b.reasoning_effort === "string" ? b.reasoning_effort : undefined;
  if (b.reasoning_effort !== undefined && b.reasoning_effort !== null && effort === undefined) fail(`reasoning_effort ${JSON.stringify(b.reasoning_effort)} is not a level`);
  if (effort !== undefined && effort !== "none" && EFFORT_BUDGET[effort] === undefined) fail(`reasoning_effort ${effort} is not a known level`);
  const rawBudget = b.thinking_budget;
  let budget = rawBudget !== undefined && rawBudget !== null ? wholeNumber(rawBudget, "thinking_budget", 0) : undefined;
  const off = b.enable_thinking === false || effort === "none" || budget === 0;
  const on = !off && (b.enable_thinking === true || budget !== undefined || effort !== undefined);
  if (!on && !off) return undefined;
  if (rule.thinking === "none") {
    if (off) return undefined;
    fail(`${model} has no thinking; drop thinking_budget/enable_thinking/reasoning_effort for it`);
  }
  if (off) {
    if (!rule.canDisable) fail(`${model} cannot turn thinking off (Gemini refuses a thinking budget of 0 for it)`);
    return rule.thinking === "budget" ? { thinkingBudget: 0 } : undefined;
  }
  if (rule.thinking === "level") {
    // The model's highest level not above the effort asked for (its lowest when none is).
    const rank = EFFORT_RANK[effort ?? "high"]!;
    const level = [...rule.levels].reverse().find((l) => EFFORT_RANK[l]! <= rank) ?? rule.levels[0]!;
    if (effort !== undefined && level !== effort) notes?.add(`reasoning_effort ${effort} sent as thinkingLevel ${level} (${model}'s nearest level)`);
    if (budget !== undefined) notes?.add(`thinking_budget sent as thinkingLevel ${level} (Gemini 3 models take a level, not a budget)`);
    return { thinkingLevel: level, includeThoughts: true };
  }
  if (budget === undefined) {
    budget = EFFORT_BUDGET[effort ?? "high"]!;
    if (effort !== undefined) notes?.add(`thinkingBudget ${budget} from reasoning_effort ${effort}`);
  }
  if (budget < rule.minBudget || budget > rule.maxBudget) {
    const clamped = Math.min(Math.max(budget, rule.minBudget), rule.maxBudget);
    notes?.add(`thinking budget ${budget} clamped to ${clamped} (${model} takes ${rule.minBudget}..${rule.maxBudget})`);
    budget = clamped;
  }
  return { thinkingBudget: budget, includeThoughts: true };
}

function translateFormat(format: unknown): Json {
  if (!isObject(format)) fail("response_format is not an object");
  if (format.type === "text") return {};
  if (format.type === "json_object") return { responseMimeType: "application/json" };
  if (format.type === "json_schema") {
    const schema = isObject(format.json_schema) ? format.json_schema.schema : undefined;
    if (!isObject(schema)) fail("response_format json_schema without a schema");
    return { responseMimeType: "application/json", responseJsonSchema: schema };
  }
  return fail(`response_format ${String(format.type)} has no Gemini form`);
}

/**
 * One chat-completion body as a Gemini GenerateContentRequest (REST form, without `model`:
 * the batch names it). Throws GeminiUntranslatableError naming the field or part.
 */
export function toGenerateContentRequest(body: Record<string, unknown>, notes?: GeminiNotes): Json {
  const b = body;
  const model = typeof b.model === "string" ? b.model : fail("body.model is missing");
  for (const [key, value] of Object.entries(b)) {
    if (value === undefined || value === null || HANDLED.has(key)) continue;
    if (IGNORED.has(key)) notes?.add(`dropped ${key} (no Gemini equivalent)`);
    else if (key === "tools" || key === "tool_choice" || key === "functions") fail(`${key}: gemini-batch does not translate tools yet`);
    else fail(`${key}: gemini-batch does not know how to send this field to Gemini`);
  }
  if (b.stream === true) fail("stream: true has no batch form");
  const request: Json = translateMessages(b.messages);
  const config: Json = {};
  if (b.temperature !== undefined && b.temperature !== null) config.temperature = numberIn(b.temperature, "temperature", 0, 2);
  if (b.top_p !== undefined && b.top_p !== null) config.topP = numberIn(b.top_p, "top_p", 0, 1);
  if (b.top_k !== undefined && b.top_k !== null) config.topK = wholeNumber(b.top_k, "top_k", 1);
  const maxTokens = b.max_completion_tokens ?? b.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) config.maxOutputTokens = wholeNumber(maxTokens, b.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens", 1);
  if (b.stop !== undefined && b.stop !== null) {
    const stops = (Array.isArray(b.stop) ? b.stop : [b.stop]).filter((s): s is string => typeof s === "string" && s !== "");
    if (stops.length > MAX_STOP_SEQUENCES) fail(`stop has ${stops.length} sequences; Gemini takes at most ${MAX_STOP_SEQUENCES}`);
    if (stops.length > 0) config.stopSequences = stops;
  }
  if (b.n !== undefined && b.n !== null) {
    const n = wholeNumber(b.n, "n", 1);
    if (n > MAX_CANDIDATES) fail(`n ${n}: Gemini returns at most ${MAX_CANDIDATES} candidates per request`);
    if (n > 1) config.candidateCount = n;
  }
  if (b.seed !== undefined && b.seed !== null) config.seed = wholeNumber(b.seed, "seed", -(2 ** 31));
  if (b.presence_penalty !== undefined && b.presence_penalty !== null) config.presencePenalty = numberIn(b.presence_penalty, "presence_penalty", -2, 2);
  if (b.frequency_penalty !== undefined && b.frequency_penalty !== null) config.frequencyPenalty = numberIn(b.frequency_penalty, "frequency_penalty", -2, 2);
  if (b.response_format !== undefined && b.response_format !== null) Object.assign(config, translateFormat(b.response_format));
  const thinking = translateThinking(b, model, notes);
  if (thinking) config.thinkingConfig = thinking;
  if (Object.keys(config).length > 0) request.generationConfig = config;
  return request;
}

/** Gemini finishReason -> OpenAI finish_reason (anything that ended the answer early for a policy is content_filter). */
const FINISH: Record<string, string> = {
  STOP: "stop",
  MAX_TOKENS: "length",
  SAFETY: "content_filter",
  RECITATION: "content_filter",
  BLOCKLIST: "content_filter",
  PROHIBITED_CONTENT: "content_filter",
  SPII: "content_filter",
  IMAGE_SAFETY: "content_filter",
  LANGUAGE: "content_filter",
  MALFORMED_FUNCTION_CALL: "stop",
  OTHER: "stop",
};

const count = (v: unknown): number => (v === undefined || v === null ? 0 : Number(v) || 0);

/** A GenerateContentResponse as an OpenAI chat.completion body; `created` in unix seconds. */
export function toChatCompletion(response: Json, model: string, created = 0): Json {
  const candidates = Array.isArray(response.candidates) ? (response.candidates as Json[]) : [];
  const choices = candidates.map((c, i) => {
    const ps = isObject(c.content) && Array.isArray(c.content.parts) ? (c.content.parts as Json[]) : [];
    const text = ps.filter((p) => p.thought !== true && typeof p.text === "string").map((p) => p.text as string).join("");
    const reasoning = ps.filter((p) => p.thought === true && typeof p.text === "string").map((p) => p.text as string).join("");
    const message: Json = { role: "assistant", content: text };
    if (reasoning) message.reasoning_content = reasoning;
    return { index: typeof c.index === "number" ? c.index : i, message, finish_reason: FINISH[String(c.finishReason ?? "STOP")] ?? "stop" };
  });
  const feedback = isObject(response.promptFeedback) ? response.promptFeedback : undefined;
  if (choices.length === 0 && feedback?.blockReason) choices.push({ index: 0, message: { role: "assistant", content: "" }, finish_reason: "content_filter" });
  const u = isObject(response.usageMetadata) ? response.usageMetadata : {};
  const prompt = count(u.promptTokenCount) + count(u.toolUsePromptTokenCount);
  const thoughts = count(u.thoughtsTokenCount);
  const completion = count(u.candidatesTokenCount) + thoughts;
  return {
    id: typeof response.responseId === "string" ? response.responseId : `gemini-${created}`,
    object: "chat.completion",
    created,
    model: typeof response.modelVersion === "string" ? response.modelVersion : model,
    choices,
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: u.totalTokenCount !== undefined ? count(u.totalTokenCount) : prompt + completion,
      prompt_tokens_details: { cached_tokens: count(u.cachedContentTokenCount) },
      completion_tokens_details: { reasoning_tokens: thoughts },
    },
  };
}

/** google.rpc.Code names -> HTTP status, for per-request errors (Status objects). */
const RPC_HTTP: Record<string, number> = { INVALID_ARGUMENT: 400, FAILED_PRECONDITION: 400, OUT_OF_RANGE: 400, UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, NOT_FOUND: 404, ABORTED: 409, ALREADY_EXISTS: 409, RESOURCE_EXHAUSTED: 429, CANCELLED: 499, UNKNOWN: 500, INTERNAL: 500, DATA_LOSS: 500, UNIMPLEMENTED: 501, UNAVAILABLE: 503, DEADLINE_EXCEEDED: 504 };
/** google.rpc.Code numbers -> names (a Status carries the number). */
const RPC_NAME = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

/**
 * A per-request error (google.rpc.Status `{code, message}`) as an OpenAI output line's response:
 * the HTTP status and an error body; invalid arguments are typed `invalid_request_error`, so
 * retry rounds do not send them again.
 */
export function errorResponse(status: Json, requestId: string): Json {
  // A google.rpc.Status carries the rpc code number; an HTTP-style error body carries the HTTP status and the name.
  const code = count(status.code);
  const name = typeof status.status === "string" ? status.status : code >= 100 ? `HTTP_${code}` : (RPC_NAME[code] ?? "UNKNOWN");
  const http = RPC_HTTP[name] ?? (code >= 100 ? code : 500);
  const type = http === 400 ? "invalid_request_error" : http === 429 ? "rate_limit_error" : "api_error";
  return { status_code: http, request_id: requestId, body: { error: { message: String(status.message ?? name), type, param: null, code: name } } };
}
