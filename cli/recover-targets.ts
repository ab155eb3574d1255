/**
 * The flags every `recover` subcommand shares to say where the cluster is, and their validation:
 *
 *   offline (processes stopped):  --data-dir DIR            (DIR/coordinator/decisions.db, DIR/<shard>/<shard>.db)
 *                                 --log FILE --shard NAME=FILE …
 *   online (processes running):   --participant NAME=HOST:PORT … [--coordinator HOST:PORT[,…]] [--log FILE]
 *
 * `--log` (or `--decision-log`) is a SQLite file, `sqlite:PATH`, or a Redis log URL (redis://…), read
 * directly; `--coordinator` may list several replicas sharing a Redis log.
 *
 * plus the positional TXN some subcommands take. Every mistake is INVALID_ARGUMENT (exit 2).
 */
import { parseArgs } from 'node:util';
import { invalidArgument } from '../common/errors.ts';
import { checkTxnId } from '../participant/prepare-message.ts';
import type { ClusterTarget, RecoveryCluster } from '../coordinator/recovery/cluster.ts';
import { dataDirLayout, type NamedLocation } from '../coordinator/recovery/data-dir.ts';
import { parseDecisionLogSpec } from '../coordinator/decision-log/spec.ts';
import { parseHostPort, parseName, parseNamedAddress, type FlagSpecs } from './args.ts';

export const TARGET_FLAGS = {
  'data-dir': {
    kind: 'string',
    value: 'DIR',
    description:
      'offline: a data dir laid out like `twopc dev` (DIR/coordinator/decisions.db, DIR/<shard>/<shard>.db)',
  },
  log: {
    kind: 'string',
    value: 'FILE|URL',
    description:
      "the coordinator's decision log: a file, or a Redis log redis://HOST:PORT/DB (offline with --shard; online, to read it directly)",
  },
  'decision-log': {
    kind: 'string',
    value: 'SPEC',
    description: 'the same as --log, spelt as for the coordinator: sqlite:PATH or redis://HOST:PORT/DB',
  },
  shard: { kind: 'list', value: 'NAME=FILE', description: 'offline: a shard file' },
  participant: { kind: 'list', value: 'NAME=HOST:PORT', description: 'online: a running participant' },
  coordinator: {
    kind: 'string',
    value: 'HOST:PORT[,…]',
    description: 'online: the running coordinator, or its replicas sharing a Redis log',
  },
  json: { kind: 'boolean', description: 'print JSON instead of text' },
} as const satisfies FlagSpecs;

export interface TargetFlags {
  'data-dir': string | undefined;
  log: string | undefined;
  'decision-log'?: string | undefined;
  shard: string[];
  participant: string[];
  coordinator: string | undefined;
}

const WHERE_HINT =
  'offline: --data-dir DIR (for `npx twopc dev`: --data-dir .twopc-dev), or --log FILE --shard NAME=FILE …; ' +
  'online: --participant NAME=HOST:PORT … [--coordinator HOST:PORT] [--log FILE]';

export function parseTarget(command: string, flags: TargetFlags): ClusterTarget {
  const f = { ...flags, log: logLocation(command, flags) };
  const offline = f['data-dir'] !== undefined || f.shard.length > 0;
  const online = f.participant.length > 0;
  if (offline && online) {
    throw invalidArgument(
      `${command}: --participant (processes running) cannot be mixed with --data-dir or --shard (processes stopped)`,
      WHERE_HINT,
    );
  }
  if (!offline && !online) throw invalidArgument(`${command}: say where the cluster is`, WHERE_HINT);
  if (online) {
    return {
      mode: 'online',
      participants: unique(
        '--participant',
        f.participant.map((raw) => toNamed(parseNamedAddress('--participant', raw))),
      ),
      ...(f.coordinator === undefined ? {} : { coordinator: parseCoordinators(f.coordinator) }),
      ...(f.log === undefined ? {} : { logFile: f.log }),
    };
  }
  if (f.coordinator !== undefined) {
    throw invalidArgument(
      `${command}: --coordinator is for a running cluster, with --participant NAME=HOST:PORT …`,
      'with the processes stopped, the decision log file is read directly (--data-dir or --log)',
    );
  }
  const dir = f['data-dir'];
  if (dir !== undefined) {
    if (f.shard.length > 0 || f.log !== undefined)
      throw invalidArgument(
        `${command}: --data-dir finds the log and the shards itself; leave out --log and --shard`,
      );
    return { mode: 'offline', ...dataDirLayout(dir) };
  }
  return {
    mode: 'offline',
    shards: unique('--shard', f.shard.map(parseShardFile)),
    ...(f.log === undefined ? {} : { logFile: f.log }),
  };
}

/** `--log` or `--decision-log` (not both); `sqlite:PATH` and Redis URLs are checked here. */
function logLocation(command: string, f: TargetFlags): string | undefined {
  const spec = f['decision-log'];
  if (spec !== undefined && f.log !== undefined)
    throw invalidArgument(`${command}: give --log or --decision-log, not both`);
  const raw = spec ?? f.log;
  if (raw === undefined) return undefined;
  if (raw.startsWith('sqlite:') || /^[a-z+]+:\/\//.test(raw)) {
    const parsed = parseDecisionLogSpec(raw);
    return parsed.kind === 'sqlite' ? parsed.path : raw;
  }
  return raw;
}

/** One coordinator, or several replicas' addresses, comma-separated. */
function parseCoordinators(raw: string): string {
  const list = raw
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (list.length === 0) throw invalidArgument('--coordinator: no address given');
  return list.map((a) => parseHostPort('--coordinator', a)).join(',');
}

function parseShardFile(raw: string): NamedLocation {
  const eq = raw.indexOf('=');
  if (eq <= 0 || eq === raw.length - 1)
    throw invalidArgument(
      `--shard: "${raw}" is not NAME=FILE`,
      'for example shard-a=data/shard-a/shard-a.db',
    );
  return { name: parseName('--shard', raw.slice(0, eq)), location: raw.slice(eq + 1) };
}

function toNamed(a: { name: string; address: string }): NamedLocation {
  return { name: a.name, location: a.address };
}

function unique(flag: string, items: NamedLocation[]): NamedLocation[] {
  const seen = new Set<string>();
  for (const i of items) {
    if (seen.has(i.name)) throw invalidArgument(`${flag}: shard "${i.name}" given more than once`);
    seen.add(i.name);
  }
  return items;
}

/**
 * Opens the cluster, runs `fn`, and closes everything whatever happens. The storage and gRPC code is
 * imported here, not at the top, so `--help` and flag mistakes never load SQLite or gRPC.
 */
export async function withCluster<T>(
  target: ClusterTarget,
  fn: (c: RecoveryCluster) => Promise<T>,
): Promise<T> {
  const { openCluster } = await import('../coordinator/recovery/cluster.ts');
  const cluster = await openCluster(target);
  try {
    return await fn(cluster);
  } finally {
    await cluster.close();
  }
}

/**
 * Splits the positional arguments (a TXN) from the flags, reading flags as `specs` says (so the
 * value of `--log FILE` is not mistaken for a positional). The rest goes to parseFlags.
 */
export function splitPositionals(
  argv: readonly string[],
  specs: FlagSpecs,
): { positionals: string[]; flags: string[] } {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(specs))
    options[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const positionalAt = new Set<number>();
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind !== 'positional') continue;
    positionalAt.add(t.index);
    positionals.push(t.value);
  }
  return { positionals, flags: argv.filter((_, i) => !positionalAt.has(i)) };
}

/** Exactly one TXN positional, shaped like a transaction id. */
export function parseTxnArg(command: string, positionals: readonly string[]): string {
  if (positionals.length === 0)
    throw invalidArgument(`${command}: missing TXN`, `run 'npx twopc ${command} --help' for the usage`);
  if (positionals.length > 1)
    throw invalidArgument(`${command}: one TXN at a time, got ${positionals.length} arguments`);
  const txnId = positionals[0] as string;
  const bad = checkTxnId(txnId);
  if (bad !== undefined) throw invalidArgument(`${command}: ${bad}`);
  return txnId;
}
