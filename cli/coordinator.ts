/**
 * `npx twopc coordinator`: serves the public Transactions API and drives two-phase commit over the
 * participants named on the command line. Its decision log lives in --data-dir.
 */
import { mkdirSync } from 'node:fs';
import { invalidArgument } from '../common/errors.ts';
import { configureFailpointsFromEnv } from '../common/failpoints.ts';
import { createLogger } from '../common/log.ts';
import { txnTimeoutMsDefault, txnTimeoutMsMax } from '../coordinator/config.ts';
import { formatUsage, parseFlags, parseHostPort, parseId, parseIntFlag, parseNamedAddress } from './args.ts';
import { serveUntilStopped } from './serve.ts';

export const DEFAULT_COORDINATOR_LISTEN = '127.0.0.1:7400';
/** Below 10 ms nothing can prepare; the upper bound is the coordinator's own (locks held too long). */
const txnTimeoutMsMin = 10;

const FLAGS = {
  listen: {
    kind: 'string',
    value: 'HOST:PORT',
    description: 'address to serve the Transactions API on',
    default: DEFAULT_COORDINATOR_LISTEN,
  },
  'data-dir': {
    kind: 'string',
    value: 'DIR',
    description: 'directory of the decision log (created if missing)',
    required: true,
  },
  participant: {
    kind: 'list',
    value: 'NAME=HOST:PORT',
    description: 'a shard and the address of its participant',
  },
  'coordinator-id': {
    kind: 'string',
    value: 'ID',
    description: "this coordinator's id in its log and in prepares (default coordinator@HOSTNAME)",
  },
  'txn-timeout-ms': {
    kind: 'string',
    value: 'N',
    description: `timeout of transactions that ask for none (default ${txnTimeoutMsDefault})`,
  },
} as const;

export const summary = 'run the coordinator: the Transactions API, two-phase commit, the decision log';

export const usage = formatUsage({
  synopsis: 'npx twopc coordinator --data-dir DIR --participant NAME=HOST:PORT ... [flags]',
  summary:
    'Runs the coordinator: it serves the public Transactions API, drives two-phase commit over the\n' +
    'participants, and keeps its decision log in --data-dir.',
  flags: FLAGS,
  notes: [
    'Prints "twopc coordinator serving on HOST:PORT" on stdout once it accepts calls; logs are JSON',
    'lines on stderr (TWOPC_LOG_LEVEL=debug|info|warn|error). SIGINT/SIGTERM stop it gracefully.',
    'Failpoints come from TWOPC_FAILPOINTS (see `npx twopc failpoints`).',
    '',
    'Example:',
    '  npx twopc coordinator --data-dir data/coordinator \\',
    '      --participant shard-a=127.0.0.1:7401 --participant shard-b=127.0.0.1:7402',
  ].join('\n'),
});

export interface CoordinatorOptions {
  readonly listen: string;
  readonly dataDir: string;
  readonly participants: ReadonlyArray<{ shard: string; address: string }>;
  readonly coordinatorId?: string;
  readonly txnTimeoutMs?: number;
}

/** Validates the flags into options; every mistake is an INVALID_ARGUMENT. */
export function parseCoordinatorOptions(argv: readonly string[]): CoordinatorOptions {
  const flags = parseFlags('coordinator', argv, FLAGS);
  const participants = flags.participant.map((raw) => {
    const { name, address } = parseNamedAddress('--participant', raw);
    return { shard: name, address };
  });
  if (participants.length === 0) {
    throw invalidArgument(
      'coordinator: at least one --participant NAME=HOST:PORT is required',
      "run 'npx twopc coordinator --help' for the flags",
    );
  }
  const seen = new Set<string>();
  for (const p of participants) {
    if (seen.has(p.shard)) throw invalidArgument(`--participant: shard "${p.shard}" given more than once`);
    seen.add(p.shard);
  }
  const txnTimeoutRaw = flags['txn-timeout-ms'];
  const coordinatorId = flags['coordinator-id'];
  return Object.freeze({
    listen: parseHostPort('--listen', flags.listen),
    dataDir: flags['data-dir'],
    participants,
    ...(coordinatorId === undefined ? {} : { coordinatorId: parseId('--coordinator-id', coordinatorId) }),
    ...(txnTimeoutRaw === undefined
      ? {}
      : { txnTimeoutMs: parseIntFlag('--txn-timeout-ms', txnTimeoutRaw, txnTimeoutMsMin, txnTimeoutMsMax) }),
  });
}

export async function run(argv: readonly string[]): Promise<number> {
  const options = parseCoordinatorOptions(argv);
  configureFailpointsFromEnv();
  const logger = createLogger('coordinator');
  mkdirSync(options.dataDir, { recursive: true });
  // Imported here so `--help` and flag errors stay fast and never load SQLite or gRPC.
  const { routeGrpcLogs } = await import('./grpc-logs.ts');
  routeGrpcLogs(logger);
  const { startCoordinatorServer } = await import('../coordinator/coordinator-server.ts');
  return serveUntilStopped('coordinator', logger, () =>
    startCoordinatorServer({
      listen: options.listen,
      dataDir: options.dataDir,
      participants: [...options.participants],
      ...(options.coordinatorId === undefined ? {} : { coordinatorId: options.coordinatorId }),
      ...(options.txnTimeoutMs === undefined
        ? {}
        : { config: { txnTimeoutMsDefault: options.txnTimeoutMs } }),
      logger,
    }),
  );
}
