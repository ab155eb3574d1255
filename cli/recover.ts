/**
 * `npx twopc recover <subcommand>`: the operator's tools for the aftermath of a crash. Each
 * subcommand is its own file (recover-*.ts) with `summary`, `usage` and `run`; the non-CLI logic
 * lives in coordinator/recovery/. Works with the processes stopped (reading and writing the SQLite
 * files: --data-dir, --log, --shard) and with them running (over gRPC: --participant, --coordinator).
 *
 * Exit status: 0 done; 1 something failed while running (a shard unreachable, a push failed);
 * 2 nothing was done because the command cannot be carried out as given: a usage mistake, an unknown
 * transaction, or a refusal (a forced decision the log or the shards rule out, a file in use).
 */
import { TwopcError } from '../common/errors.ts';
import { formatUsage } from './args.ts';
import { EXIT_OK, EXIT_USAGE, reportError } from './exit.ts';
import { forceCommand } from './recover-force.ts';
import * as log from './recover-log.ts';
import * as resolve from './recover-resolve.ts';
import * as show from './recover-show.ts';
import * as status from './recover-status.ts';
import { TARGET_FLAGS } from './recover-targets.ts';

interface Subcommand {
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[]): Promise<number>;
}

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = Object.freeze({
  status,
  show,
  resolve,
  'force-commit': forceCommand('COMMITTED'),
  'force-abort': forceCommand('ABORTED'),
  log,
});

export const summary =
  'inspect and repair in-doubt transactions after a crash (status, resolve, force-*, log)';

const names = Object.keys(SUBCOMMANDS);
const width = Math.max(...names.map((n) => n.length)) + 2;

export const usage = formatUsage({
  synopsis: 'npx twopc recover <subcommand> [TXN] (--data-dir DIR | --participant NAME=HOST:PORT …) [flags]',
  summary: [
    'Inspects and repairs the transactions a crash left in doubt (prepared on some shard, no decision',
    'heard). Subcommands:',
    ...names.map((n) => `  ${n.padEnd(width)}${SUBCOMMANDS[n]?.summary ?? ''}`),
    '',
    'Subcommand flags: resolve [TXN | --all] [--dry-run]; force-commit|force-abort TXN --reason TEXT',
    '[--operator NAME] [--create-log] [--dry-run]; log [--state STATUS] [--since TIME] [--limit N]',
    "[--heuristics]. Run 'npx twopc recover help <subcommand>' for one subcommand's usage.",
    '',
    'Where the cluster is (every subcommand):',
  ].join('\n'),
  flags: TARGET_FLAGS,
  notes: [
    'Exit status: 0 done; 1 a failure while running (a shard unreachable, a push failed); 2 nothing was',
    'done: a usage mistake, an unknown transaction, or a refusal (see the message). See docs/recovery.md.',
  ].join('\n'),
});

/** The usage for `recover <argv…> --help`: the subcommand's when one is named, else the overview. */
export function helpFor(argv: readonly string[]): string {
  const sub = argv[0] === undefined ? undefined : lookup(argv[0]);
  return sub?.usage ?? usage;
}

function lookup(name: string): Subcommand | undefined {
  return Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
}

/** Refusals and unknown ids: nothing was done, like a usage mistake (exit 2, one line). */
const NOTHING_DONE_CODES: ReadonlySet<string> = new Set([
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'NOT_FOUND',
]);

export async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(usage);
    return EXIT_USAGE;
  }
  if (name === 'help') {
    const topic = rest[0];
    const sub = topic === undefined ? undefined : lookup(topic);
    if (topic !== undefined && sub === undefined) return unknown(topic);
    process.stdout.write(sub?.usage ?? usage);
    return EXIT_OK;
  }
  const sub = lookup(name);
  if (sub === undefined) return unknown(name);
  try {
    return await sub.run(rest);
  } catch (err) {
    const code = reportError(err);
    return err instanceof TwopcError && NOTHING_DONE_CODES.has(err.code) ? EXIT_USAGE : code;
  }
}

function unknown(name: string): number {
  return reportError(
    new TwopcError('INVALID_ARGUMENT', `recover: unknown subcommand "${name}"`, {
      hint: `one of ${names.join(', ')}; run 'npx twopc recover --help'`,
    }),
  );
}
