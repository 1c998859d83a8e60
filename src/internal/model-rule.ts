/** The lookup the dated model-rule tables share (anthropic-models.ts, gemini-request.ts). */

/**
 * The row of the longest key that `model` starts with, after a provider or resource prefix
 * (`anthropic/`, `models/`) is dropped; `fallback` when no key matches.
 */
export function longestPrefixRule<T>(rows: Record<string, T>, model: string, fallback: T): T {
  const name = model.replace(/^.*\//, "");
  let best = fallback;
  let bestLength = -1;
  for (const [key, row] of Object.entries(rows)) {
    if (name.startsWith(key) && key.length > bestLength) {
      best = row;
      bestLength = key.length;
    }
  }
  return best;
}
