/**
 * src/cli/main.ts loads a command's module only when argv names that command (start-up time):
 * every command is still in the table, listed by --help with its description, and reachable by
 * its name; a run of one command loads no other command's module.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cac } from "cac";
import { CLI, FIXTURES, ROOT, runCli, tempDir } from "./helpers.ts";

const COMMANDS_DIR = join(ROOT, "src/cli/commands");

let dir = "";
let cleanup = async () => {};
before(async () => ({ dir, cleanup } = await tempDir()));
after(() => cleanup());

/** Every command as its module registers it: [rawName, description]. */
async function registeredCommands(): Promise<[string, string][]> {
  // Pipelines whose stages have a command of their own, as main.ts lists them.
  const own = JSON.parse(/const OWN_COMMAND_PIPELINES = (\[[^\]]*\]);/.exec(readFileSync(join(ROOT, "src/cli/main.ts"), "utf8"))![1]!) as string[];
  const cli = cac("batchline");
  for (const file of readdirSync(COMMANDS_DIR)) {
    const mod = (await import(join(COMMANDS_DIR, file))) as Record<string, unknown>;
    for (const [name, fn] of Object.entries(mod)) {
      if (!/^register[A-Z]/.test(name) || typeof fn !== "function") continue;
      (fn as (cli: unknown, env: unknown) => void)(cli, name === "registerStageCommands" ? own : {});
    }
  }
  return cli.commands.map((c) => [c.rawName, c.description]);
}

/** The module URLs a CLI run loads, from a module hook. */
function loadedModules(args: string[]): { code: number | null; modules: string[] } {
  const hook = join(dir, "hook.mjs");
  const log = join(dir, `loaded-${args[0]?.replace(/\W/g, "") ?? "none"}.txt`);
  writeFileSync(
    hook,
    `import { registerHooks } from "node:module";\nimport { appendFileSync } from "node:fs";\nregisterHooks({ load(url, ctx, next) { appendFileSync(${JSON.stringify(log)}, url + "\\n"); return next(url, ctx); } });\n`,
  );
  writeFileSync(log, "");
  const r = spawnSync(process.execPath, ["--import", hook, CLI, ...args], { cwd: ROOT, encoding: "utf8" });
  return { code: r.status, modules: readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

describe("lazy command modules", () => {
  it("main.ts's table reaches every command module", () => {
    const main = readFileSync(join(ROOT, "src/cli/main.ts"), "utf8");
    const withCommands = readdirSync(COMMANDS_DIR).filter((f) => /export function register[A-Z]/.test(readFileSync(join(COMMANDS_DIR, f), "utf8")));
    assert.ok(withCommands.length > 10);
    for (const file of withCommands) assert.ok(main.includes(`import("./commands/${file}")`), `${file} is not in main.ts's command table`);
  });

  it("--help lists every registered command with its description, and each name reaches its own command", async () => {
    const commands = await registeredCommands();
    const help = await runCli(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (const [rawName, description] of commands) assert.ok(help.stdout.includes(`${rawName.padEnd(10)}`) && help.stdout.includes(description), `${rawName}: ${description}`);
    for (const [rawName] of commands) {
      const name = rawName.replace(/ [<[].*$/, "");
      const r = await runCli([...name.split(" "), "--help"]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`batchline ${name}\\b`), name);
    }
  });

  it("a command loads only its own module; --version loads none (and no zod)", () => {
    const commandModules = (r: { modules: string[] }) => r.modules.filter((u) => u.includes("/src/cli/commands/")).map((u) => u.slice(u.lastIndexOf("/") + 1)).sort();
    const slice = loadedModules(["slice", join(FIXTURES, "batch/requests.jsonl"), "--shard", "0/1", "-q", "-o", join(dir, "out.jsonl")]);
    assert.equal(slice.code, 0);
    assert.deepEqual(commandModules(slice), ["common.ts", "slice.ts"]);
    assert.deepEqual(slice.modules.filter((u) => /node_modules\/zod\//.test(u)), []);
    const version = loadedModules(["--version"]);
    assert.equal(version.code, 0);
    assert.deepEqual(commandModules(version), []);
    const refused = loadedModules(["merge", join(FIXTURES, "batch/output-round1.jsonl"), "--bogus"]);
    assert.equal(refused.code, 1);
    assert.deepEqual(commandModules(refused), ["common.ts", "merge.ts"]);
  });
});
