/**
 * `npx twopc <command>`: dispatch. Each command is its own file exporting `summary`, `usage` and
 * `run(argv)` (the arguments after the command name), and resolves with the process's exit code.
 * Errors are printed by `cli/exit.ts`: one line, exit 2 for usage mistakes, 1 for failures.
 */
import * as bench from './bench.ts';
import * as chaos from './chaos.ts';
import * as cluster from './cluster.ts';
import * as coordinator from './coordinator.ts';
import * as dev from './dev.ts';
import * as failpoints from './failpoints.ts';
import * as participant from './participant.ts';
import * as recover from './recover.ts';
import * as shard from './shard.ts';
import { EXIT_OK, EXIT_USAGE, reportError } from './exit.ts';
import { wantsHelp } from './args.ts';
import { invalidArgument } from '../common/errors.ts';

export interface Command {
  readonly summary: string;
  readonly usage: string;
  /**
   * Subcommands (`restore`, `replica ls`) that print their own usage: for `<command> <sub> … --help`
   * main() hands the arguments to `run` instead of printing the command's usage.
   */
  readonly subcommands?: readonly string[];
  /** The usage for `<command> <argv…> --help`, when it depends on the arguments (a subcommand's). */
  helpFor?(argv: readonly string[]): string;
  run(argv: readonly string[]): Promise<number>;
}

export const COMMANDS: Readonly<Record<string, Command>> = Object.freeze({
  dev,
  coordinator,
  participant,
  failpoints,
  bench,
  recover,
  chaos,
  shard,
  cluster,
});

export function topUsage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    'Usage: npx twopc <command> [flags]',
    '',
    'twopc is a two-phase-commit transaction coordinator for SQLite shards.',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n]?.summary ?? ''}`),
    `  ${'help'.padEnd(width)}show this help, or a command's: npx twopc help <command>`,
    '',
    "Run 'npx twopc <command> --help' for a command's flags.",
    '',
  ].join('\n');
}

function lookup(name: string): Command {
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined)
    throw invalidArgument(`unknown command "${name}" (run 'npx twopc help' for the list)`);
  return command;
}

/** True if `argv` starts with one of the command's self-documenting subcommands (its words in order). */
function namesSubcommand(command: Command, argv: readonly string[]): boolean {
  return (command.subcommands ?? []).some((sub) => sub.split(' ').every((word, i) => argv[i] === word));
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined) {
      process.stderr.write(topUsage());
      return EXIT_USAGE;
    }
    if (name === 'help' || name === '--help' || name === '-h') {
      const topic = rest[0];
      process.stdout.write(topic === undefined ? topUsage() : lookup(topic).usage);
      return EXIT_OK;
    }
    const command = lookup(name);
    if (wantsHelp(rest) && !namesSubcommand(command, rest)) {
      process.stdout.write(command.helpFor?.(rest) ?? command.usage);
      return EXIT_OK;
    }
    return await command.run(rest);
  } catch (err) {
    return reportError(err);
  }
}
