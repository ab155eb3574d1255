/**
 * `npx twopc cluster <subcommand>`: operations on a whole cluster's shard replicas and decision log.
 * Each subcommand is its own file: cluster-restore.ts.
 */
import { invalidArgument } from '../common/errors.ts';
import { wantsHelp } from './args.ts';
import * as restore from './cluster-restore.ts';
import { EXIT_OK } from './exit.ts';

interface Subcommand {
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[]): Promise<number>;
}

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = Object.freeze({ restore });

export const summary = 'restore every shard and the decision log to one consistent cut';

/** Subcommands print their own `--help` (cli/main.ts must not answer it with this page). */
export const subcommands: readonly string[] = Object.keys(SUBCOMMANDS);

export const usage = [
  'Usage: npx twopc cluster <subcommand> [flags]',
  '',
  "Operations on a whole cluster's shard replicas and decision log (read only; output goes elsewhere).",
  '',
  'Subcommands:',
  ...Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`),
  '',
  "Run 'npx twopc cluster <subcommand> --help' for its flags.",
  '',
].join('\n');

export async function run(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first !== undefined && Object.hasOwn(SUBCOMMANDS, first)) {
    const sub = SUBCOMMANDS[first] as Subcommand;
    if (wantsHelp(rest)) {
      process.stdout.write(sub.usage);
      return EXIT_OK;
    }
    return sub.run(rest);
  }
  if (first === undefined || wantsHelp([first])) {
    process.stdout.write(usage);
    return EXIT_OK;
  }
  throw invalidArgument(
    `cluster: unknown subcommand "${first}"`,
    "run 'npx twopc cluster --help' for the list",
  );
}
