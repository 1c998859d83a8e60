/**
 * Request lines for commit-testgen: one chat-completion request per commit (custom_id = the full
 * commit hash), and the follow-ups of repair rounds (same custom_id, so every round's output joins
 * by commit). A commit too big for `maxContextTokens` is trimmed in a fixed order:
 *   1. `old_content` of the changed files, largest first;
 *   2. then whole `diff`s, largest first;
 * until the input tokens (counted as `batchline plan` counts them) plus `max_tokens` fit. Each cut
 * value becomes a marker and the commit JSON sent gains `batchline_trimmed` listing what was cut,
 * so the request itself records it.
 */
import type { BatchRequest } from "../../schemas/batch-request.ts";
import type { CommitExtraction } from "../../schemas/commit-extraction.ts";
import { countInputTokens } from "../submitters/plan.ts";
import { commitMessage, fillTemplate, placesCommitJson, repairMessage } from "./prompts.ts";

/** What every commit-testgen request is built from. */
export interface RequestSettings {
  model: string;
  temperature: number;
  maxTokens: number;
  /** The system prompt template (see prompts.ts). */
  template: string;
  /** The model's context window in tokens; unset: never trim. */
  maxContextTokens?: number;
}

/** One value cut to fit the context. */
export interface TrimCut {
  file_path: string;
  field: "old_content" | "diff";
  chars: number;
}

/** What trimming did to one commit: recorded as `batchline_trimmed` in the commit JSON sent. */
export interface TrimRecord {
  max_context_tokens: number;
  input_tokens_before: number;
  input_tokens_after: number;
  cut: TrimCut[];
}

export type GenResult =
  | { kind: "request"; request: BatchRequest; trimmed?: TrimRecord }
  | { kind: "failure"; failure: { custom_id: string; commit_hash: string; stage: "gen"; reason: "context_exceeded"; detail: string } };

/** OpenAI reasoning families take `max_completion_tokens` and refuse a temperature other than the default. */
export function isReasoningModel(model: string): boolean {
  const name = model.includes("/") ? model.slice(model.lastIndexOf("/") + 1) : model;
  return /^(gpt-5|o1|o3|o4)/.test(name);
}

function chatBody(settings: RequestSettings, messages: { role: string; content: string }[]): BatchRequest["body"] {
  if (isReasoningModel(settings.model)) return { model: settings.model, messages, max_completion_tokens: settings.maxTokens };
  return { model: settings.model, messages, temperature: settings.temperature, max_tokens: settings.maxTokens };
}

function messagesFor(extraction: CommitExtraction, commitJson: string, template: string): { role: string; content: string }[] {
  if (placesCommitJson(template)) return [{ role: "user", content: fillTemplate(template, extraction, commitJson) }];
  return [
    { role: "system", content: fillTemplate(template, extraction, commitJson) },
    { role: "user", content: commitMessage(extraction.commit_hash, commitJson) },
  ];
}

function requestFor(extraction: CommitExtraction, commitJson: string, settings: RequestSettings): BatchRequest {
  return { custom_id: extraction.commit_hash, method: "POST", url: "/v1/chat/completions", body: chatBody(settings, messagesFor(extraction, commitJson, settings.template)) };
}

const cutMarker = (chars: number) => `[cut by batchline to fit the model's context: ${chars} characters; see batchline_trimmed]`;

/**
 * The generation request of one commit, trimmed to the context when it must be (see the header).
 * `json` is the extraction file's text, sent as it is when nothing is cut (default: the extraction
 * re-serialized with a 2-space indent).
 */
export function buildGenRequest(extraction: CommitExtraction, settings: RequestSettings, json = JSON.stringify(extraction, null, 2)): GenResult {
  const full = requestFor(extraction, json, settings);
  if (settings.maxContextTokens === undefined) return { kind: "request", request: full };
  const budget = settings.maxContextTokens - settings.maxTokens;
  const before = countInputTokens(full.body).tokens;
  if (before <= budget) return { kind: "request", request: full };

  // Cut from the file's own object, so the JSON sent keeps the file's key order.
  const raw = JSON.parse(json) as CommitExtraction & { batchline_trimmed?: TrimRecord };
  const files = raw.files_changed;
  const record: TrimRecord = { max_context_tokens: settings.maxContextTokens, input_tokens_before: before, input_tokens_after: before, cut: [] };
  const candidates = [
    ...files.map((f, i) => ({ i, field: "old_content" as const, size: f.old_content.length })).sort((a, b) => b.size - a.size || a.i - b.i),
    ...files.map((f, i) => ({ i, field: "diff" as const, size: f.diff.length })).sort((a, b) => b.size - a.size || a.i - b.i),
  ].filter((c) => c.size > 0);
  let request = full;
  let tokens = before;
  for (const c of candidates) {
    if (tokens <= budget) break;
    const file = files[c.i]!;
    file[c.field] = cutMarker(c.size);
    record.cut.push({ file_path: file.file_path, field: c.field, chars: c.size });
    record.input_tokens_after = tokens; // provisional: the count below includes this record
    raw.batchline_trimmed = record;
    request = requestFor(extraction, JSON.stringify(raw, null, 2), settings);
    tokens = countInputTokens(request.body).tokens;
  }
  record.input_tokens_after = tokens;
  raw.batchline_trimmed = record;
  request = requestFor(extraction, JSON.stringify(raw, null, 2), settings);
  if (tokens > budget) {
    return {
      kind: "failure",
      failure: {
        custom_id: extraction.commit_hash,
        commit_hash: extraction.commit_hash,
        stage: "gen",
        reason: "context_exceeded",
        detail: `${tokens} input tokens after cutting every old_content and diff; the budget is ${budget} (--max-context-tokens ${settings.maxContextTokens} minus --max-tokens ${settings.maxTokens})`,
      },
    };
  }
  return { kind: "request", request, trimmed: record };
}

/** A repair request: the generation prompt's system text, then the script and what went wrong. */
export function buildRepairRequest(extraction: CommitExtraction, settings: RequestSettings, kind: "syntax" | "runtime", code: string, error: string): BatchRequest {
  const system = placesCommitJson(settings.template) ? undefined : fillTemplate(settings.template, extraction, "");
  const messages = [...(system === undefined ? [] : [{ role: "system", content: system }]), { role: "user", content: repairMessage(kind, extraction.commit_hash, code, error) }];
  return { custom_id: extraction.commit_hash, method: "POST", url: "/v1/chat/completions", body: chatBody(settings, messages) };
}
