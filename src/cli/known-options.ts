/**
 * Unknown options are refused on every command, before anything runs: each option typed in argv
 * is checked against the names the command knows (snake_case, kebab-case and camelCase spellings
 * of one name are the same name), and the first unknown one stops the run with the closest known
 * name: `unknown option --pask (did you mean --passk?)`. Errors name options as they were typed.
 *
 * A command's known names are its cac options; a command whose options depend on its arguments
 * (a stage's own options, a pipeline definition's options) adds them with `acceptOptions`.
 */
import type { Command } from "cac";
import { UsageError } from "../core/errors.ts";
import { camelKey } from "./options.ts";

/** What a command accepts beyond its cac options, given its positional arguments and parsed options. */
export type ExtraOptions = (args: readonly string[], options: Readonly<Record<string, unknown>>) => Iterable<string> | Promise<Iterable<string>>;

const extras = new WeakMap<Command, ExtraOptions>();

/** Lets `command` accept the option names `names(args, options)` returns (any spelling), besides its cac options. */
export function acceptOptions<C extends Command>(command: C, names: ExtraOptions): C {
  extras.set(command, names);
  command.allowUnknownOptions(); // this module checks them, with the names as typed
  return command;
}

/** An option as typed in argv: `--pask`, `--skip_bad`, `-q` (a `=value` part removed). */
export interface TypedOption {
  typed: string;
  key: string;
  /** The value given with `=`, or the next word when it is not an option itself. */
  hasValue: boolean;
}

/** The options typed in argv before `--`, in order; bare `-` (stdin/stdout) and negative numbers are values. */
export function typedOptions(argv: readonly string[]): TypedOption[] {
  const out: TypedOption[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-" || /^-\d/.test(arg)) continue;
    const next = argv[i + 1];
    const nextIsValue = next !== undefined && (next === "-" || !next.startsWith("-") || /^-\d/.test(next));
    const eq = arg.indexOf("=");
    if (arg.startsWith("--")) {
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      out.push({ typed: `--${name}`, key: camelKey(name), hasValue: eq > 0 || nextIsValue });
    } else {
      // -abc is -a -b -c; only the last one can take the next word as its value
      const letters = (eq > 0 ? arg.slice(1, eq) : arg.slice(1)).split("");
      letters.forEach((c, j) => out.push({ typed: `-${c}`, key: c, hasValue: j === letters.length - 1 && (eq > 0 || nextIsValue) }));
    }
  }
  return out;
}

/** Edit distance counting a swap of two neighbouring letters as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** `startFile` -> `--start-file`, `q` -> `-q`: how help and messages spell an option. */
export function flagName(key: string): string {
  return key.length === 1 ? `-${key}` : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

const kebab = (key: string) => flagName(key).replace(/^-+/, "");

/** The known name closest to `typed` (as a flag, e.g. `--passk`), or undefined when none is close. */
export function closestOption(typed: string, known: Iterable<string>): string | undefined {
  const name = kebab(camelKey(typed.replace(/^-+/, "")));
  let best: { key: string; distance: number } | undefined;
  for (const key of new Set([...known].map(camelKey))) {
    if (key.length === 1) continue;
    const distance = editDistance(name, kebab(key));
    if (!best || distance < best.distance) best = { key, distance };
  }
  if (!best || best.distance > Math.max(2, Math.floor(name.length / 3))) return undefined;
  return flagName(best.key);
}

/** Throws a UsageError naming the first option in argv that is not in `known` (any spelling). */
export function refuseUnknownOptions(argv: readonly string[], known: Iterable<string>): void {
  const keys = new Set([...known].map(camelKey));
  for (const opt of typedOptions(argv)) {
    if (keys.has(opt.key)) continue;
    const near = closestOption(opt.typed, keys);
    throw new UsageError(`unknown option ${opt.typed}${near ? ` (did you mean ${near}?)` : ""}; see --help`);
  }
}

/** Every option name `command` knows: its cac options, the global ones, and what `acceptOptions` adds. */
export async function knownOptions(command: Command, globalCommand: Command, args: readonly string[], options: Readonly<Record<string, unknown>>): Promise<string[]> {
  // A negated option (`--no-cache`) is known under its typed name too; cac lists it as `cache`.
  const names = [...globalCommand.options, ...command.options].flatMap((o) => (o.negated ? [...o.names, ...o.names.map((n) => `no-${n}`)] : o.names));
  const extra = extras.get(command);
  if (extra) names.push(...(await extra(args, options)));
  return names;
}

/** Throws a UsageError for an option that needs a value and was given none, named as typed. */
export function refuseMissingValues(argv: readonly string[], command: Command): void {
  const needsValue = new Set(command.options.filter((o) => o.required).flatMap((o) => o.names.map(camelKey)));
  for (const opt of typedOptions(argv)) {
    if (needsValue.has(opt.key) && !opt.hasValue) throw new UsageError(`option ${opt.typed} needs a value; see --help`);
  }
}
