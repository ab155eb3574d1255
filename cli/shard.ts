/**
 * `npx twopc shard <subcommand>`: operations on one shard's replica, run without a participant.
 * Each subcommand is its own file: shard-restore.ts, shard-replica-ls.ts, shard-replica-verify.ts.
 */
import { invalidArgument } from '../common/errors.ts';
import { wantsHelp } from './args.ts';
import { EXIT_OK } from './exit.ts';
import * as replicaLs from './shard-replica-ls.ts';
import * as replicaVerify from './shard-replica-verify.ts';
import * as restore from './shard-restore.ts';

interface Subcommand {
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[]): Promise<number>;
}

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = Object.freeze({
  restore,
  'replica ls': replicaLs,
  'replica verify': replicaVerify,
});

export const summary = 'restore a shard from its replica, list or verify a replica';

/** Subcommands print their own `--help` (cli/main.ts must not answer it with this page). */
export const subcommands: readonly string[] = Object.keys(SUBCOMMANDS);

export const usage = [
  'Usage: npx twopc shard <subcommand> [flags]',
  '',
  "Operations on a shard's WAL replica (file:// or s3://), run without a participant.",
  '',
  'Subcommands:',
  ...Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(16)}${c.summary}`),
  '',
  "Run 'npx twopc shard <subcommand> --help' for its flags.",
  '',
].join('\n');

export async function run(argv: readonly string[]): Promise<number> {
  const [first, second, ...rest] = argv;
  if (first === 'replica' && second !== undefined && Object.hasOwn(SUBCOMMANDS, `replica ${second}`))
    return dispatch(SUBCOMMANDS[`replica ${second}`] as Subcommand, rest);
  if (first !== undefined && first !== 'replica' && Object.hasOwn(SUBCOMMANDS, first))
    return dispatch(SUBCOMMANDS[first] as Subcommand, second === undefined ? rest : [second, ...rest]);
  if (first === undefined || wantsHelp([first])) {
    process.stdout.write(usage);
    return EXIT_OK;
  }
  throw invalidArgument(
    `shard: unknown subcommand "${[first, second].filter((s) => s !== undefined).join(' ')}"`,
    "run 'npx twopc shard --help' for the list",
  );
}

function dispatch(sub: Subcommand, argv: readonly string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(sub.usage);
    return Promise.resolve(EXIT_OK);
  }
  return sub.run(argv);
}
