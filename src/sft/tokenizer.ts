/**
 * Token counts with the target model's own tokenizer: a `tokenizer.json` (the Hugging Face
 * tokenizers format) read by @huggingface/tokenizers, with `tokenizer_config.json` beside it when
 * there is one (it names the EOS token). `--tokenizer` is a file, a directory holding
 * `tokenizer.json`, or a hub model id: the model's files are fetched once into the hub cache
 * (`<cacheDir>/models--<owner>--<name>/snapshots/<commit>/`, `refs/<revision>` holding the commit,
 * the layout huggingface_hub reads) and read from there afterwards without any request.
 *
 * The count follows what TRL's SFTTrainer does with a prompt-completion row: it tokenizes
 * `prompt + completion` with the tokenizer's special tokens and appends EOS when the completion
 * does not end with it. For `messages` rows the chat template's own tokens are not counted.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { HUB_URL, HubApiError, downloadFile, getRepoFolderName, modelInfo } from "@huggingface/hub";
import { Tokenizer } from "@huggingface/tokenizers";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { BatchlineError, UsageError } from "../core/errors.ts";
import type { HubOptions } from "../datasets/hub.ts";

/** Counts the tokens of a training row. */
export interface TokenCounter {
  /** Where the tokenizer came from (a path), for messages. */
  readonly source: string;
  /** Tokens TRL would train on for this prompt and completion (special tokens and EOS included). */
  count(prompt: string, completion: string): number;
}

const MODEL_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const TOKENIZER_FILE = "tokenizer.json";
const CONFIG_FILE = "tokenizer_config.json";

/** Opens `--tokenizer`: a tokenizer.json, a directory with one, or a hub model id (through the cache). */
export async function loadTokenizer(spec: string, hub: HubOptions & { revision?: string } = {}): Promise<TokenCounter> {
  let dir: string | undefined;
  let file: string | undefined;
  const info = await stat(spec).catch(() => undefined);
  if (info?.isDirectory()) {
    dir = spec;
    file = join(spec, TOKENIZER_FILE);
  } else if (info?.isFile()) {
    file = spec;
    dir = join(spec, "..");
  } else if (MODEL_ID.test(spec) && !spec.endsWith(".json")) {
    dir = await cachedModelFiles(spec, hub);
    file = join(dir, TOKENIZER_FILE);
  } else {
    throw new UsageError(`--tokenizer ${spec}: no such file or directory, and not a hub model id (owner/name)`);
  }
  const json = await readJson(file, "tokenizer");
  const configPath = join(dir, CONFIG_FILE);
  const config = existsSync(configPath) ? await readJson(configPath, "tokenizer config") : {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (err) {
    throw new BatchlineError(`${file}: not a tokenizer @huggingface/tokenizers can read (${(err as Error).message})`);
  }
  const eos = eosToken(config);
  return {
    source: file,
    count(prompt, completion) {
      const ids = tokenizer.encode(prompt + completion).ids.length;
      return eos !== undefined && !completion.endsWith(eos) ? ids + 1 : ids;
    },
  };
}

async function readJson(path: string, what: string): Promise<object> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(`--tokenizer: cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value;
  } catch (err) {
    throw new BatchlineError(`${path}: not a ${what} file (${(err as Error).message})`);
  }
}

/** The EOS token a tokenizer_config.json names (a string or an AddedToken object). */
function eosToken(config: object): string | undefined {
  const eos = (config as { eos_token?: unknown }).eos_token;
  if (typeof eos === "string") return eos;
  if (typeof eos === "object" && eos !== null && typeof (eos as { content?: unknown }).content === "string") return (eos as { content: string }).content;
  return undefined;
}

/** The snapshot directory holding the model's tokenizer files, fetched into the cache when missing. */
async function cachedModelFiles(model: string, hub: HubOptions & { revision?: string }): Promise<string> {
  if (!hub.cacheDir) throw new UsageError(`--tokenizer ${model}: loading from the hub needs a cache directory (HF_HUB_CACHE or $HF_HOME/hub)`);
  const revision = hub.revision ?? "main";
  const storage = join(hub.cacheDir, getRepoFolderName({ type: "model", name: model }));
  const refPath = join(storage, "refs", ...revision.split("/"));
  const cachedCommit = /^[0-9a-f]{40}$/.test(revision) ? revision : (await readFile(refPath, "utf8").catch(() => "")).trim();
  if (cachedCommit && !hub.refresh && existsSync(join(storage, "snapshots", cachedCommit, TOKENIZER_FILE))) return join(storage, "snapshots", cachedCommit);
  if (hub.offline) throw new BatchlineError(`--tokenizer ${model}: its tokenizer.json is not in the Hugging Face cache at ${hub.cacheDir} (HF_HUB_OFFLINE is set); fetch it once with network access or pass a local tokenizer.json`);

  const hubUrl = (hub.hubUrl ?? HUB_URL).replace(/\/+$/, "");
  const common = { hubUrl, ...(hub.accessToken ? { accessToken: hub.accessToken } : {}), ...(hub.fetch ? { fetch: hub.fetch } : {}) };
  const repo = { type: "model" as const, name: model };
  try {
    const info = await modelInfo({ name: model, revision, additionalFields: ["sha"], ...common });
    const commit = (info as { sha?: unknown }).sha;
    if (typeof commit !== "string" || !/^[0-9a-f]{40}$/.test(commit)) throw new BatchlineError(`--tokenizer ${model}: ${hubUrl} gave no commit for revision ${revision}`);
    const snapshot = join(storage, "snapshots", commit);
    await mkdir(snapshot, { recursive: true });
    for (const path of [TOKENIZER_FILE, CONFIG_FILE]) {
      const blob = await downloadFile({ repo, path, revision: commit, ...common });
      if (!blob) {
        if (path === TOKENIZER_FILE) throw new BatchlineError(`--tokenizer ${model}: the model has no ${TOKENIZER_FILE} at ${revision} (pass a local tokenizer.json)`);
        continue;
      }
      hub.onLog?.(`downloaded ${model}/${path} (${blob.size} bytes)`);
      await writeFileAtomic(join(snapshot, path), Buffer.from(await blob.arrayBuffer()).toString("utf8"));
    }
    if (revision !== commit) await writeFileAtomic(refPath, commit);
    return snapshot;
  } catch (err) {
    if (err instanceof BatchlineError) throw err;
    if (err instanceof HubApiError) {
      const hint = err.statusCode === 401 || err.statusCode === 403 ? (hub.accessToken ? "HF_TOKEN has no access to it" : "if it is gated or private, set HF_TOKEN") : "check the name";
      throw new BatchlineError(`--tokenizer ${model}: the hub at ${hubUrl} answered ${err.statusCode} (${hint})`, { cause: err });
    }
    throw new BatchlineError(`--tokenizer ${model}: cannot reach the Hugging Face Hub at ${hubUrl} (${(err as Error).message}); pass a local tokenizer.json, or set HF_ENDPOINT`, { cause: err });
  }
}
