/**
 * cac matches a command by the first argv word only, so two- and three-word commands (`agentless structure`,
 * `sft eval run`) are registered under their words as one name, and argv is routed here
 * first: a leading pair of words that names one of them is joined into that one word.
 */

/** argv with its leading words (three, else two) joined into one when they name one of `commands`; any other argv unchanged. */
export function routeSubcommands(argv: readonly string[], commands: readonly string[]): string[] {
  for (const n of [3, 2]) {
    const words = argv.slice(0, n).join(" ");
    if (argv.length >= n && commands.includes(words)) return [words, ...argv.slice(n)];
  }
  return [...argv];
}
