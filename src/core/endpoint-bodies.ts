/**
 * Moving a request body from one Batch endpoint to another, for `requests rewrite --url`: a chat
 * body becomes a Responses-API body and back (messages <-> input, max tokens, reasoning effort,
 * response format, function tools), field by field after OpenAI's two create-request schemas.
 * A field with no equivalent on the other side is an error naming it, never silently dropped;
 * other pairs of endpoints carry different things (an embedding is not a chat) and are refused.
 */
import { BATCH_URLS } from "../../schemas/batch-request.ts";
import { BatchlineError } from "./errors.ts";

type Body = Record<string, unknown>;
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const CHAT = "/v1/chat/completions";
const RESPONSES = "/v1/responses";

/** Fields both endpoints take with the same meaning. */
const SHARED = ["model", "temperature", "top_p", "metadata", "store", "user", "parallel_tool_calls", "service_tier", "prompt_cache_key", "safety_identifier"];

/** The Batch endpoint a url means: itself, or the one it is a short form of (`/chat/completions`). */
export function canonicalUrl(url: string): string {
  if ((BATCH_URLS as readonly string[]).includes(url)) return url;
  return BATCH_URLS.find((u) => u.endsWith(url)) ?? url;
}

function refuse(field: string, to: string): never {
  throw new BatchlineError(`body.${field} has no ${to} equivalent; remove it first (or keep the url)`);
}

function chatPartToInput(part: unknown, role: string): Obj {
  if (typeof part === "string") return { type: role === "assistant" ? "output_text" : "input_text", text: part };
  if (isObj(part) && part.type === "text" && typeof part.text === "string") return { type: role === "assistant" ? "output_text" : "input_text", text: part.text };
  if (isObj(part) && part.type === "image_url" && isObj(part.image_url)) {
    return { type: "input_image", image_url: part.image_url.url, ...(part.image_url.detail !== undefined ? { detail: part.image_url.detail } : {}) };
  }
  throw new BatchlineError(`a ${isObj(part) ? String(part.type) : typeof part} content part has no /v1/responses equivalent`);
}

function chatToResponses(body: Body): Body {
  const out: Body = {};
  for (const [key, value] of Object.entries(body)) {
    if (SHARED.includes(key)) out[key] = value;
    else if (key === "messages") {
      if (!Array.isArray(value)) throw new BatchlineError("body.messages must be an array");
      out.input = value.map((m: unknown, i) => {
        if (!isObj(m) || typeof m.role !== "string") throw new BatchlineError(`body.messages[${i}] has no role`);
        if (m.role === "tool" || m.tool_calls !== undefined || m.function_call !== undefined) throw new BatchlineError(`body.messages[${i}]: tool calls and tool results have no plain /v1/responses input form here; keep the url`);
        const content = typeof m.content === "string" ? m.content : Array.isArray(m.content) ? m.content.map((p) => chatPartToInput(p, m.role as string)) : "";
        return { role: m.role, content };
      });
    } else if (key === "max_tokens" || key === "max_completion_tokens") out.max_output_tokens = value;
    else if (key === "reasoning_effort") out.reasoning = { ...(isObj(out.reasoning) ? out.reasoning : {}), effort: value };
    else if (key === "response_format") {
      if (!isObj(value) || value.type === "text") continue;
      if (value.type === "json_object") out.text = { format: { type: "json_object" } };
      else if (value.type === "json_schema" && isObj(value.json_schema)) out.text = { format: { type: "json_schema", ...value.json_schema } };
      else refuse("response_format", RESPONSES);
    } else if (key === "tools") {
      if (!Array.isArray(value)) refuse("tools", RESPONSES);
      out.tools = value.map((t: unknown) => {
        if (!isObj(t) || t.type !== "function" || !isObj(t.function)) refuse("tools (only function tools move)", RESPONSES);
        return { type: "function", ...t.function };
      });
    } else if (key === "tool_choice") {
      out.tool_choice = isObj(value) && isObj(value.function) ? { type: "function", name: value.function.name } : value;
    } else if (key === "n" && value === 1) continue;
    else refuse(key, RESPONSES);
  }
  if (out.input === undefined) throw new BatchlineError("a chat body needs body.messages");
  return out;
}

function inputPartToChat(part: unknown): Obj {
  if (isObj(part) && (part.type === "input_text" || part.type === "output_text") && typeof part.text === "string") return { type: "text", text: part.text };
  if (isObj(part) && part.type === "input_image" && typeof part.image_url === "string") return { type: "image_url", image_url: { url: part.image_url, ...(part.detail !== undefined ? { detail: part.detail } : {}) } };
  throw new BatchlineError(`a ${isObj(part) ? String(part.type) : typeof part} input part has no /v1/chat/completions equivalent`);
}

function responsesToChat(body: Body): Body {
  const out: Body = {};
  const messages: Obj[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (SHARED.includes(key)) out[key] = value;
    else if (key === "instructions") {
      if (typeof value !== "string") refuse("instructions", CHAT);
      messages.unshift({ role: "system", content: value });
    } else if (key === "input") {
      if (typeof value === "string") messages.push({ role: "user", content: value });
      else if (Array.isArray(value)) {
        value.forEach((item: unknown, i) => {
          if (!isObj(item) || typeof item.role !== "string" || (item.type !== undefined && item.type !== "message")) throw new BatchlineError(`body.input[${i}] is not a message; only messages move to /v1/chat/completions`);
          const content = typeof item.content === "string" ? item.content : Array.isArray(item.content) ? item.content.map(inputPartToChat) : "";
          // An assistant turn in chat is text, not parts.
          const text = item.role === "assistant" && Array.isArray(content) ? content.map((p) => String(p.text ?? "")).join("") : content;
          messages.push({ role: item.role, content: text });
        });
      } else refuse("input", CHAT);
    } else if (key === "max_output_tokens") out.max_completion_tokens = value;
    else if (key === "reasoning") {
      if (!isObj(value) || Object.keys(value).some((k) => k !== "effort")) refuse("reasoning (only effort moves)", CHAT);
      if (value.effort !== undefined) out.reasoning_effort = value.effort;
    } else if (key === "text") {
      if (!isObj(value) || Object.keys(value).some((k) => k !== "format")) refuse("text (only format moves)", CHAT);
      const format = value.format;
      if (!isObj(format) || format.type === "text") continue;
      if (format.type === "json_object") out.response_format = { type: "json_object" };
      else {
        const { type: _type, ...schema } = format;
        out.response_format = { type: "json_schema", json_schema: schema };
      }
    } else if (key === "tools") {
      if (!Array.isArray(value)) refuse("tools", CHAT);
      out.tools = value.map((t: unknown) => {
        if (!isObj(t) || t.type !== "function") refuse("tools (only function tools move)", CHAT);
        const { type: _type, ...fn } = t;
        return { type: "function", function: fn };
      });
    } else if (key === "tool_choice") {
      out.tool_choice = isObj(value) && value.type === "function" ? { type: "function", function: { name: value.name } } : value;
    } else refuse(key, CHAT);
  }
  if (messages.length === 0) throw new BatchlineError("a /v1/responses body needs body.input to move to /v1/chat/completions");
  return { ...out, messages };
}

/** The body for `to`, from a body written for `from` (urls as in request lines). Throws a BatchlineError naming what cannot move. */
export function moveBody(body: Body, from: string, to: string): Body {
  const a = canonicalUrl(from);
  const b = canonicalUrl(to);
  if (a === b) return body;
  if (a === CHAT && b === RESPONSES) return chatToResponses(body);
  if (a === RESPONSES && b === CHAT) return responsesToChat(body);
  throw new BatchlineError(`a ${a} body cannot become a ${b} body (they ask for different things); only /v1/chat/completions and /v1/responses convert into each other`);
}

/** The body field that caps output tokens on `url`, or undefined for endpoints without one. */
export function maxTokensField(url: string, body: Body): string | undefined {
  const u = canonicalUrl(url);
  if (u === RESPONSES) return "max_output_tokens";
  if (u === CHAT) return body.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
  if (u === "/v1/completions") return "max_tokens";
  return undefined;
}
