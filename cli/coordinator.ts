/**
 * `npx twopc coordinator`: serves the public Transactions API and drives two-phase commit over the
 * participants named on the command line. Its decision log is `--decision-log` (default the SQLite
 * file `<data-dir>/decisions.db`), or a Redis checked for durability at start-up.
 *
 * Exit codes: 2 for a bad command line (including a malformed --decision-log URL); 1 when the flags
 * are fine but the coordinator cannot start — e.g. Redis is unreachable, or it is not durable
 * (appendonly/appendfsync, CONFIG disabled without --redis-durability) and --allow-non-durable-log
 * was not given.
 */
import { invalidArgument } from '../common/errors.ts';
import { configureFailpointsFromEnv } from '../common/failpoints.ts';
import { createLogger } from '../common/log.ts';
import { decisionRetentionMs, txnTimeoutMsDefault, txnTimeoutMsMax } from '../coordinator/config.ts';
import {
  defaultDecisionLogPath,
  parseDecisionLogSpec,
  type DecisionLogSpec,
} from '../coordinator/decision-log/spec.ts';
import { parseDurabilityAssertion } from '../coordinator/decision-log/redis-durability.ts';
import {
  checkLeaseConfig,
  leaseRenewMsDefault,
  leaseRenewMsMin,
  leaseTtlMsDefault,
  leaseTtlMsMax,
  leaseTtlMsMin,
  type LeaseConfig,
} from '../coordinator/replicas.ts';
import { EXIT_FAILURE } from './exit.ts';
import {
  formatUsage,
  parseFlags,
  parseHostPort,
  parseMetricsAddress,
  parseId,
  parseIntFlag,
  parseNamedAddress,
} from './args.ts';
import { serveUntilStopped } from './serve.ts';

export const DEFAULT_COORDINATOR_LISTEN = '127.0.0.1:7400';
/** Below 10 ms nothing can prepare; the upper bound is the coordinator's own (locks held too long). */
const txnTimeoutMsMin = 10;
/** 1 min: idempotency keys must outlive a client's retries; shorter would answer a retry as new. */
const decisionRetentionMsMin = 60_000;
/** 1 year: longer is an archive, not a decision log. */
const decisionRetentionMsMax = 365 * 24 * 3_600_000;

const FLAGS = {
  listen: {
    kind: 'string',
    value: 'HOST:PORT',
    description: 'address to serve the Transactions API on',
    default: DEFAULT_COORDINATOR_LISTEN,
  },
  metrics: {
    kind: 'string',
    value: 'HOST:PORT',
    description: 'serve Prometheus metrics on http://HOST:PORT/metrics (default: off)',
  },
  'data-dir': {
    kind: 'string',
    value: 'DIR',
    description: 'directory of the default decision log, DIR/decisions.db (created if missing)',
  },
  'decision-log': {
    kind: 'string',
    value: 'SPEC',
    description:
      'sqlite:PATH (default sqlite:DIR/decisions.db) or redis://HOST:PORT/DB ' +
      '(also rediss://, redis+sentinel://H:P,…/MASTER/DB, redis+cluster://H:P,…)',
  },
  'redis-durability': {
    kind: 'string',
    value: 'MODE',
    description:
      'how Redis keeps decisions: aof-always (trusted where CONFIG is disabled), wait:N (WAIT for N ' +
      'replicas after every forced write), or aof-always,wait:N',
  },
  'allow-non-durable-log': {
    kind: 'boolean',
    description: 'start on a Redis that is not durable (acknowledged commits may be lost); warns loudly',
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
  'lease-ttl-ms': {
    kind: 'string',
    value: 'N',
    description: `Redis log only: a replica whose lease is not renewed for N ms is taken over by another (default ${leaseTtlMsDefault})`,
  },
  'lease-renew-ms': {
    kind: 'string',
    value: 'N',
    description: `Redis log only: how often a replica renews its lease and looks for expired ones (default ${leaseRenewMsDefault})`,
  },
  'decision-retention-ms': {
    kind: 'string',
    value: 'N',
    description:
      `how long ended decisions and idempotency keys stay in the log (default ${decisionRetentionMs}, ` +
      '7 days); with Redis it bounds memory, about 1 KB per transaction kept',
  },
} as const;

export const summary = 'run the coordinator: the Transactions API, two-phase commit, the decision log';

export const usage = formatUsage({
  synopsis:
    'npx twopc coordinator (--data-dir DIR | --decision-log SPEC) --participant NAME=HOST:PORT ... [flags]',
  summary:
    'Runs the coordinator: it serves the public Transactions API, drives two-phase commit over the\n' +
    'participants, and keeps its decision log in --data-dir (SQLite) or where --decision-log says.',
  flags: FLAGS,
  notes: [
    'Prints "twopc coordinator serving on HOST:PORT" on stdout once it accepts calls; logs are JSON',
    'lines on stderr (TWOPC_LOG_LEVEL=debug|info|warn|error). SIGINT/SIGTERM stop it gracefully.',
    'Failpoints come from TWOPC_FAILPOINTS (see `npx twopc failpoints`).',
    '',
    'Several coordinators may share one Redis decision log (replicas): each holds a lease; when one',
    'stops renewing it for --lease-ttl-ms, another takes over its unfinished transactions and fences it.',
    'A replica that finds itself fenced exits at once (exit 1). See docs/redis.md.',
    '',
    'A Redis decision log must be durable: appendonly yes with appendfsync always (checked with CONFIG',
    'GET), or --redis-durability wait:N with N replicas. Otherwise the coordinator refuses to start',
    '(exit 1) unless --allow-non-durable-log is given. See docs/redis.md.',
    '',
    'Examples:',
    '  npx twopc coordinator --data-dir data/coordinator \\',
    '      --participant shard-a=127.0.0.1:7401 --participant shard-b=127.0.0.1:7402',
    '  npx twopc coordinator --decision-log redis://127.0.0.1:6379/0 \\',
    '      --participant shard-a=127.0.0.1:7401 --participant shard-b=127.0.0.1:7402',
  ].join('\n'),
});

export interface CoordinatorOptions {
  readonly listen: string;
  readonly metrics?: string;
  readonly decisionLog: DecisionLogSpec;
  readonly participants: ReadonlyArray<{ shard: string; address: string }>;
  readonly coordinatorId?: string;
  readonly txnTimeoutMs?: number;
  readonly decisionRetentionMs?: number;
  readonly lease?: LeaseConfig;
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
  const retentionRaw = flags['decision-retention-ms'];
  const coordinatorId = flags['coordinator-id'];
  const decisionLog = decisionLogFromFlags(flags);
  const lease = leaseFromFlags(flags, decisionLog);
  return Object.freeze({
    listen: parseHostPort('--listen', flags.listen),
    ...(flags.metrics === undefined
      ? {}
      : { metrics: parseMetricsAddress(flags.metrics, parseHostPort('--listen', flags.listen)) }),
    decisionLog,
    ...(lease === undefined ? {} : { lease }),
    participants,
    ...(coordinatorId === undefined ? {} : { coordinatorId: parseId('--coordinator-id', coordinatorId) }),
    ...(txnTimeoutRaw === undefined
      ? {}
      : { txnTimeoutMs: parseIntFlag('--txn-timeout-ms', txnTimeoutRaw, txnTimeoutMsMin, txnTimeoutMsMax) }),
    ...(retentionRaw === undefined
      ? {}
      : {
          decisionRetentionMs: parseIntFlag(
            '--decision-retention-ms',
            retentionRaw,
            decisionRetentionMsMin,
            decisionRetentionMsMax,
          ),
        }),
  });
}

function decisionLogFromFlags(flags: {
  'data-dir': string | undefined;
  'decision-log': string | undefined;
  'redis-durability': string | undefined;
  'allow-non-durable-log': boolean;
}): DecisionLogSpec {
  const raw = flags['decision-log'];
  const dataDir = flags['data-dir'];
  if (raw === undefined && dataDir === undefined) {
    throw invalidArgument(
      'coordinator: missing required flag --data-dir DIR (or --decision-log SPEC)',
      "run 'npx twopc coordinator --help' for the flags",
    );
  }
  const assertion = flags['redis-durability'];
  const spec = parseDecisionLogSpec(raw ?? `sqlite:${defaultDecisionLogPath(dataDir as string)}`, {
    allowNonDurable: flags['allow-non-durable-log'],
    ...(assertion === undefined ? {} : { asserted: parseDurabilityAssertion(assertion) }),
  });
  if (spec.kind === 'sqlite' && (assertion !== undefined || flags['allow-non-durable-log'])) {
    throw invalidArgument(
      'coordinator: --redis-durability and --allow-non-durable-log apply to a Redis decision log only',
      'give --decision-log redis://HOST:PORT/DB, or drop them',
    );
  }
  return spec;
}

function leaseFromFlags(
  flags: { 'lease-ttl-ms': string | undefined; 'lease-renew-ms': string | undefined },
  decisionLog: DecisionLogSpec,
): LeaseConfig | undefined {
  const ttlRaw = flags['lease-ttl-ms'];
  const renewRaw = flags['lease-renew-ms'];
  if (ttlRaw === undefined && renewRaw === undefined) return undefined;
  if (decisionLog.kind === 'sqlite') {
    throw invalidArgument(
      'coordinator: --lease-ttl-ms and --lease-renew-ms apply to a Redis decision log only',
      'one coordinator owns a SQLite log; give --decision-log redis://HOST:PORT/DB for replicas',
    );
  }
  const leaseTtlMs =
    ttlRaw === undefined
      ? leaseTtlMsDefault
      : parseIntFlag('--lease-ttl-ms', ttlRaw, leaseTtlMsMin, leaseTtlMsMax);
  const leaseRenewMs =
    renewRaw === undefined
      ? Math.min(leaseRenewMsDefault, Math.floor(leaseTtlMs / 2))
      : parseIntFlag('--lease-renew-ms', renewRaw, leaseRenewMsMin, leaseTtlMsMax);
  const problem = checkLeaseConfig({ leaseTtlMs, leaseRenewMs });
  if (problem !== undefined) throw invalidArgument(`coordinator: ${problem}`);
  return { leaseTtlMs, leaseRenewMs };
}

export async function run(argv: readonly string[]): Promise<number> {
  const options = parseCoordinatorOptions(argv);
  configureFailpointsFromEnv();
  const logger = createLogger('coordinator');
  // Imported here so `--help` and flag errors stay fast and never load SQLite or gRPC.
  const { routeGrpcLogs } = await import('./grpc-logs.ts');
  routeGrpcLogs(logger);
  const { startCoordinatorServer } = await import('../coordinator/coordinator-server.ts');
  return serveUntilStopped('coordinator', logger, () =>
    startCoordinatorServer({
      listen: options.listen,
      ...(options.metrics === undefined ? {} : { metricsListen: options.metrics }),
      decisionLog: options.decisionLog,
      participants: [...options.participants],
      ...(options.coordinatorId === undefined ? {} : { coordinatorId: options.coordinatorId }),
      ...(options.lease === undefined ? {} : { lease: options.lease }),
      // A fenced replica must act on nothing: no graceful drain, no Abort sent, gone at once.
      onFenced: (why) => {
        process.stderr.write(`twopc: this coordinator replica was fenced: ${why}\n`);
        process.exit(EXIT_FAILURE);
      },
      config: {
        ...(options.txnTimeoutMs === undefined ? {} : { txnTimeoutMsDefault: options.txnTimeoutMs }),
        ...(options.decisionRetentionMs === undefined
          ? {}
          : { decisionRetentionMs: options.decisionRetentionMs }),
      },
      logger,
    }),
  );
}
