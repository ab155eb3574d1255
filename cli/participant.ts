/**
 * `npx twopc participant`: the sidecar that owns one SQLite shard. It applies the schema file at
 * every start (so the file must be idempotent), stages prepared writes, votes and commits.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { invalidArgument } from '../common/errors.ts';
import { configureFailpointsFromEnv } from '../common/failpoints.ts';
import { createLogger } from '../common/log.ts';
import { coordinatorAddressesMax, splitCoordinatorAddresses } from '../participant/coordinator-addresses.ts';
import { parseReplicaUrl } from '../participant/replica/replica-url.ts';
import { REPLICATION_MODES, WAL_SHIPPER_DEFAULTS, type ReplicationMode } from '../participant/wal/config.ts';
import {
  formatUsage,
  parseFlags,
  parseHostPort,
  parseMetricsAddress,
  parseIntFlag,
  parseName,
} from './args.ts';
import { serveUntilStopped } from './serve.ts';

export const DEFAULT_PARTICIPANT_LISTEN = '127.0.0.1:7401';
export const DEFAULT_REPLICATION_MODE: ReplicationMode = 'async';
export const DEFAULT_SYNC_INTERVAL_MS = WAL_SHIPPER_DEFAULTS.syncIntervalMs;
/** --sync-interval bounds: below 10 ms a tick would run back to back; above an hour, a typo. */
const syncIntervalMsMin = 10;
const syncIntervalMsMax = 3_600_000;

const FLAGS = {
  shard: { kind: 'string', value: 'NAME', description: 'the shard this participant owns', required: true },
  listen: {
    kind: 'string',
    value: 'HOST:PORT',
    description: 'address to serve the participant protocol on',
    default: DEFAULT_PARTICIPANT_LISTEN,
  },
  metrics: {
    kind: 'string',
    value: 'HOST:PORT',
    description: 'serve Prometheus metrics on http://HOST:PORT/metrics (default: off)',
  },
  'data-dir': {
    kind: 'string',
    value: 'DIR',
    description: 'directory of the shard file NAME.db (created if missing)',
    required: true,
  },
  schema: {
    kind: 'string',
    value: 'FILE',
    description: 'SQL applied at every start (CREATE TABLE IF NOT EXISTS …)',
    required: true,
  },
  coordinator: {
    kind: 'string',
    value: 'HOST:PORT[,HOST:PORT…]',
    description:
      'the coordinator to ask about in-doubt transactions, or several replicas of it, tried in turn ' +
      '(default: ask peers only)',
  },
  replica: {
    kind: 'string',
    value: 'URL',
    description: 'ship the WAL to file://DIR or s3://BUCKET/PREFIX?endpoint=URL&region=R (default: none)',
  },
  // No `default` in the spec: given without --replica they are a mistake (nothing would be shipped).
  replication: {
    kind: 'string',
    value: 'MODE',
    description: `async or sync, with --replica (default ${DEFAULT_REPLICATION_MODE})`,
  },
  'sync-interval': {
    kind: 'string',
    value: 'MS',
    description: `how often new WAL is shipped, with --replica (default ${DEFAULT_SYNC_INTERVAL_MS})`,
  },
} as const;

export const summary = 'run a participant: the sidecar that owns one SQLite shard';

export const usage = formatUsage({
  synopsis: 'npx twopc participant --shard NAME --data-dir DIR --schema FILE [flags]',
  summary:
    'Runs a participant: it owns the SQLite shard DIR/NAME.db, stages the writes of prepared\n' +
    'transactions, holds their intent locks, votes, and commits or aborts as the coordinator decides.',
  flags: FLAGS,
  notes: [
    'The schema is plain SQL applied at every start: write it idempotently (CREATE TABLE IF NOT EXISTS,',
    'INSERT OR IGNORE). Every table needs a PRIMARY KEY; names starting with _twopc_ are reserved.',
    '',
    'Prints "twopc participant serving on HOST:PORT" on stdout once it accepts calls; logs are JSON',
    'lines on stderr (TWOPC_LOG_LEVEL). SIGINT/SIGTERM stop it gracefully. Failpoints come from',
    'TWOPC_FAILPOINTS (see `npx twopc failpoints`).',
    '',
    'WAL shipping: without --replica NOTHING is shipped, and a lost disk loses the shard. With it, the',
    "shard's WAL goes to the replica: in async mode every --sync-interval (a lost disk loses about that",
    'much), in sync mode before each vote and commit acknowledgement (nothing acknowledged is lost; if the',
    'replica does not confirm in time, the vote fails and the transaction aborts). Restore with',
    '`npx twopc shard restore`. S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a',
    'profile). `npx twopc dev` gives its participants a file:// replica. See docs/replication.md.',
    '',
    'Example:',
    '  npx twopc participant --shard shard-a --listen 127.0.0.1:7401 --data-dir data/shard-a \\',
    '      --schema examples/accounts.sql --coordinator 127.0.0.1:7400 \\',
    '      --replica file://data/replica --replication sync',
  ].join('\n'),
});

export interface ParticipantOptions {
  readonly shard: string;
  readonly listen: string;
  readonly metrics?: string;
  readonly dataDir: string;
  readonly schemaPath: string;
  readonly coordinator?: string;
  /** Absent: no WAL shipping. */
  readonly replication?: {
    readonly replicaUrl: string;
    readonly mode: ReplicationMode;
    readonly syncIntervalMs: number;
  };
}

/** `--coordinator A[,B…]`: every entry a HOST:PORT, at most coordinatorAddressesMax. */
function parseCoordinatorList(raw: string): string {
  const addresses = splitCoordinatorAddresses(raw);
  if (addresses.length === 0)
    throw invalidArgument('--coordinator: no address given', 'e.g. --coordinator 127.0.0.1:7400');
  if (addresses.length > coordinatorAddressesMax)
    throw invalidArgument(`--coordinator: ${addresses.length} addresses; at most ${coordinatorAddressesMax}`);
  return addresses.map((a) => parseHostPort('--coordinator', a)).join(',');
}

export function parseParticipantOptions(argv: readonly string[]): ParticipantOptions {
  const flags = parseFlags('participant', argv, FLAGS);
  const coordinator = flags.coordinator;
  const mode = flags.replication ?? DEFAULT_REPLICATION_MODE;
  if (!(REPLICATION_MODES as readonly string[]).includes(mode))
    throw invalidArgument(`--replication: "${mode}" is not one of ${REPLICATION_MODES.join(', ')}`);
  const syncIntervalMs = parseIntFlag(
    '--sync-interval',
    flags['sync-interval'] ?? String(DEFAULT_SYNC_INTERVAL_MS),
    syncIntervalMsMin,
    syncIntervalMsMax,
  );
  const replica = flags.replica;
  // A mode or interval without a replica would silently ship nothing: refuse it.
  if (replica === undefined && (flags.replication !== undefined || flags['sync-interval'] !== undefined))
    throw invalidArgument(
      '--replication and --sync-interval need --replica URL',
      'e.g. --replica file://data/replica (without --replica nothing is shipped)',
    );
  if (replica !== undefined) parseReplicaUrl(replica); // a bad URL fails here, not at the first upload
  return Object.freeze({
    shard: parseName('--shard', flags.shard),
    listen: parseHostPort('--listen', flags.listen),
    ...(flags.metrics === undefined
      ? {}
      : { metrics: parseMetricsAddress(flags.metrics, parseHostPort('--listen', flags.listen)) }),
    dataDir: flags['data-dir'],
    schemaPath: flags.schema,
    ...(coordinator === undefined ? {} : { coordinator: parseCoordinatorList(coordinator) }),
    ...(replica === undefined
      ? {}
      : {
          replication: Object.freeze({ replicaUrl: replica, mode: mode as ReplicationMode, syncIntervalMs }),
        }),
  });
}

/** Reads the schema file; a missing or unreadable file is a usage error, not a crash. */
export function readSchema(schemaPath: string): string {
  try {
    return readFileSync(schemaPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : code;
    throw invalidArgument(
      `--schema: cannot read "${schemaPath}": ${why}`,
      'pass a readable SQL file, e.g. --schema examples/accounts.sql',
    );
  }
}

export async function run(argv: readonly string[]): Promise<number> {
  const options = parseParticipantOptions(argv);
  configureFailpointsFromEnv();
  const schemaSql = readSchema(options.schemaPath);
  const logger = createLogger(`participant.${options.shard}`);
  mkdirSync(options.dataDir, { recursive: true });
  // Imported here so `--help` and flag errors stay fast and never load SQLite or gRPC.
  const { routeGrpcLogs } = await import('./grpc-logs.ts');
  routeGrpcLogs(logger);
  const { startParticipantServer } = await import('../participant/participant-server.ts');
  return serveUntilStopped('participant', logger, () =>
    startParticipantServer({
      shard: options.shard,
      listen: options.listen,
      ...(options.metrics === undefined ? {} : { metricsListen: options.metrics }),
      dataDir: options.dataDir,
      schemaSql,
      ...(options.coordinator === undefined ? {} : { coordinatorAddress: options.coordinator }),
      ...(options.replication === undefined ? {} : { replication: options.replication }),
      logger,
    }),
  );
}
