/**
 * Majority voting over the bugfixer's passes, Agentless-style: every `output_<pass>_processed.jsonl`
 * in a save dir gives each instance one vote per pass that produced a patch (a `model_patch` that
 * is empty or whitespace only does not vote). Patches with the same normal form
 * (./patch-normal-form.ts) are one group; the biggest group wins, a tie goes to the group whose
 * earliest pass is lowest, and the prediction is the original patch of the winning group's earliest
 * pass. Only (key, pass, offset) is kept per line: the winning lines are read back by offset when
 * the predictions are written, sorted by instance_id in byte order, atomically.
 */
import { createReadStream } from "node:fs";
import { type FileHandle, open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { compareBytes } from "../core/custom-id.ts";
import { BatchlineError, RecordError, RecordValidationError } from "../core/errors.ts";
import { joinLines, readJsonl } from "../core/jsonl.ts";
import { flattenIssues } from "../core/stage.ts";
import { normalFormKey } from "./patch-normal-form.ts";

/** The fields of a bugfixer `output_<pass>_processed.jsonl` line that voting reads; others pass by. */
const ProcessedLine = z.looseObject({
  instance_id: z.string().min(1),
  model_name_or_path: z.string(),
  model_patch: z.string(),
});
type ProcessedLine = z.infer<typeof ProcessedLine>;

const PROCESSED_FILE = /^output_(\d+)_processed\.jsonl$/;

/** What to vote on and where the results go. */
export interface VoteOptions {
  saveDir: string;
  /** all_preds.jsonl to write. */
  output: string;
  /** Replaces model_name_or_path in the predictions (default: the winning line's). */
  modelName?: string;
  /** Writes the predictions to `output` (default: atomically with writeFileAtomic). */
  write?: (output: string, chunks: AsyncIterable<string>) => Promise<void>;
  /** A line that is not a bugfixer output line (or repeats an instance in its pass file) is reported here and left out of the vote; without it, it throws. */
  onBadLine?: (error: BatchlineError) => void;
}

/** How an instance's vote came out: one group, a strict winner, a tie broken by pass, or no patch at all. */
export type VoteOutcome = "unanimous" | "majority" | "tie" | "no_patch";

/** Passes whose patches share a normal form; `form` is the first 12 hex digits of its key. */
export interface VoteGroup {
  form: string;
  passes: number[];
  size: number;
}

/** The vote of one instance; groups are sorted by size (descending), then earliest pass. */
export interface InstanceVote {
  instance_id: string;
  outcome: VoteOutcome;
  winner_pass: number | null;
  groups: VoteGroup[];
  /** Passes whose line had no patch. */
  empty_passes: number[];
}

/** Counts over the whole save dir. */
export interface VoteSummary {
  passes: number[];
  instances: number;
  unanimous: number;
  majority: number;
  tie: number;
  no_patch: number;
  /** Lines written to the output: instances with a winner. */
  predictions: number;
}

interface Ballot {
  pass: number;
  line: number;
  /** Normal-form key; null for an empty patch. */
  key: string | null;
  offset: number;
  bytes: number;
}

/** The bugfixer output files of `saveDir`, by ascending pass; throws when there are none. */
export async function processedFiles(saveDir: string): Promise<{ pass: number; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(saveDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new BatchlineError(`agentless vote: save dir ${saveDir} does not exist`);
    if (code === "ENOTDIR") throw new BatchlineError(`agentless vote: save dir ${saveDir} is not a directory`);
    throw err;
  }
  const files = names.flatMap((name) => {
    const m = PROCESSED_FILE.exec(name);
    return m ? [{ pass: Number(m[1]), path: join(saveDir, name) }] : [];
  });
  if (files.length === 0) throw new BatchlineError(`agentless vote: no output_<pass>_processed.jsonl in ${saveDir} (run agentless bugfixer proc_step2 --save_dir ${saveDir} first)`);
  const seen = new Map<number, string>();
  for (const f of files) {
    const other = seen.get(f.pass);
    if (other !== undefined) throw new BatchlineError(`agentless vote: ${other} and ${f.path} are both pass ${f.pass}`);
    seen.set(f.pass, f.path);
  }
  return files.sort((a, b) => a.pass - b.pass);
}

/** Reads one pass file into `ballots` (instance_id -> ballots in pass order). */
async function readPass(path: string, pass: number, ballots: Map<string, Ballot[]>, onBadLine?: (error: BatchlineError) => void): Promise<void> {
  const bad = (err: BatchlineError) => {
    if (!onBadLine) throw err;
    onBadLine(err);
  };
  for await (const rec of readJsonl(createReadStream(path, { highWaterMark: 1 << 20 }), { file: path, ...(onBadLine ? { onBadLine } : {}) })) {
    const parsed = ProcessedLine.safeParse(rec.value);
    if (!parsed.success) {
      bad(new RecordValidationError({ file: path, line: rec.line }, "bugfixer output line (output_<pass>_processed.jsonl)", flattenIssues(parsed.error)));
      continue;
    }
    const v: ProcessedLine = parsed.data;
    const twice = ballots.get(v.instance_id)?.find((b) => b.pass === pass);
    if (twice) {
      bad(new RecordError({ file: path, line: rec.line }, `instance_id ${v.instance_id} is in this file twice (also line ${twice.line})`));
      continue;
    }
    let list = ballots.get(v.instance_id);
    if (!list) ballots.set(v.instance_id, (list = []));
    const key = v.model_patch.trim() === "" ? null : normalFormKey(v.model_patch);
    list.push({ pass, line: rec.line, key, offset: rec.offset, bytes: Buffer.byteLength(rec.text) });
  }
}

/** Groups one instance's ballots and picks the winner; `winner` is the ballot whose patch is written. */
function decide(instanceId: string, ballots: readonly Ballot[]): { vote: InstanceVote; winner: Ballot | null } {
  const groups = new Map<string, Ballot[]>();
  for (const b of [...ballots].sort((x, y) => x.pass - y.pass)) {
    if (b.key === null) continue;
    const g = groups.get(b.key);
    if (g) g.push(b);
    else groups.set(b.key, [b]);
  }
  // Map order is first-pass order, so sorting stably by size leaves ties with the earliest pass first.
  const ranked = [...groups].sort(([, a], [, b]) => b.length - a.length);
  const [first, second] = ranked;
  const outcome: VoteOutcome = !first ? "no_patch" : !second ? "unanimous" : first[1].length > second[1].length ? "majority" : "tie";
  const winner = first?.[1][0] ?? null;
  return {
    vote: {
      instance_id: instanceId,
      outcome,
      winner_pass: winner?.pass ?? null,
      groups: ranked.map(([key, g]) => ({ form: key.slice(0, 12), passes: g.map((b) => b.pass), size: g.length })),
      empty_passes: ballots.filter((b) => b.key === null).map((b) => b.pass).sort((a, b) => a - b),
    },
    winner,
  };
}

/** Votes over every pass in `saveDir` and writes the predictions; returns the counts and each instance's vote. */
export async function voteSaveDir(options: VoteOptions): Promise<{ summary: VoteSummary; votes: InstanceVote[] }> {
  const files = await processedFiles(options.saveDir);
  const ballots = new Map<string, Ballot[]>();
  for (const f of files) await readPass(f.path, f.pass, ballots, options.onBadLine);

  const summary: VoteSummary = { passes: files.map((f) => f.pass), instances: ballots.size, unanimous: 0, majority: 0, tie: 0, no_patch: 0, predictions: 0 };
  const votes: InstanceVote[] = [];
  const winners: { instanceId: string; ballot: Ballot }[] = [];
  for (const instanceId of [...ballots.keys()].sort(compareBytes)) {
    const { vote, winner } = decide(instanceId, ballots.get(instanceId)!);
    votes.push(vote);
    summary[vote.outcome]++;
    if (winner) winners.push({ instanceId, ballot: winner });
  }
  summary.predictions = winners.length;

  const pathOf = new Map(files.map((f) => [f.pass, f.path]));
  const handles = new Map<number, FileHandle>();
  try {
    for (const f of files) handles.set(f.pass, await open(f.path, "r"));
    async function* predictions(): AsyncGenerator<string> {
      for (const { instanceId, ballot } of winners) {
        const buf = Buffer.allocUnsafe(ballot.bytes);
        await handles.get(ballot.pass)!.read(buf, 0, ballot.bytes, ballot.offset);
        let v: ProcessedLine;
        try {
          v = ProcessedLine.parse(JSON.parse(buf.toString("utf8")));
        } catch (cause) {
          throw new RecordError({ file: pathOf.get(ballot.pass)!, line: ballot.line }, `the line changed while voting (instance_id ${instanceId})`, { cause });
        }
        yield JSON.stringify({ instance_id: v.instance_id, model_name_or_path: options.modelName ?? v.model_name_or_path, model_patch: v.model_patch });
      }
    }
    await (options.write ?? writeFileAtomic)(options.output, joinLines(predictions()));
  } finally {
    await Promise.all([...handles.values()].map((h) => h.close()));
  }
  return { summary, votes };
}
