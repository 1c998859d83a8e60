/**
 * A commit extraction: one JSON file per commit, `<commit_hash>.json`, in the shape ISO-Bench's
 * commit_analyzer.py writes and generate_test_generators.py reads. Unknown keys pass through
 * (`affected_apis`, fields other tools add), so a file written elsewhere reads unchanged.
 */
import { z } from "zod";

/** One changed file. `old_content` is "" for added and binary files; `old_path` only on renames. */
export const ChangedFile = z.looseObject({
  file_path: z.string().min(1),
  old_content: z.string(),
  diff: z.string(),
  change_type: z.string(),
  old_path: z.string().optional(),
  binary: z.boolean().optional(),
  lines_added: z.number().int().optional(),
  lines_removed: z.number().int().optional(),
});
export type ChangedFile = z.infer<typeof ChangedFile>;

/** `{commit_hash, message, files_changed, csv_metadata, parent_hash, author, date, summary}`. */
export const CommitExtraction = z.looseObject({
  commit_hash: z.string().regex(/^[0-9a-f]{7,64}$/, { message: "commit_hash must be a hex commit id" }),
  message: z.string(),
  files_changed: z.array(ChangedFile),
  csv_metadata: z.record(z.string(), z.unknown()).optional(),
  parent_hash: z.string().nullable().optional(),
  author: z.string().optional(),
  date: z.string().optional(),
});
export type CommitExtraction = z.infer<typeof CommitExtraction>;
