/**
 * `npx twopc participant`: the sidecar that owns one SQLite shard. It applies the schema file at
 * every start (so the file must be idempotent), stages prepared writes, votes and commits.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { invalidArgument } from '../common/errors.ts';
import { configureFailpointsFromEnv } from '../common/failpoints.ts';
import { createLogger } from '../common/log.ts';
import { formatUsage, parseFlags, parseHostPort, parseName } from './args.ts';
import { serveUntilStopped } from './serve.ts';

export const DEFAULT_PARTICIPANT_LISTEN = '127.0.0.1:7401';

const FLAGS = {
  shard: { kind: 'string', value: 'NAME', description: 'the shard this participant owns', required: true },
  listen: {
    kind: 'string',
    value: 'HOST:PORT',
    description: 'address to serve the participant protocol on',
    default: DEFAULT_PARTICIPANT_LISTEN,
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
    value: 'HOST:PORT',
    description: 'the coordinator to ask about in-doubt transactions (default: ask peers only)',
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
    'Example:',
    '  npx twopc participant --shard shard-a --listen 127.0.0.1:7401 --data-dir data/shard-a \\',
    '      --schema examples/accounts.sql --coordinator 127.0.0.1:7400',
  ].join('\n'),
});

export interface ParticipantOptions {
  readonly shard: string;
  readonly listen: string;
  readonly dataDir: string;
  readonly schemaPath: string;
  readonly coordinator?: string;
}

export function parseParticipantOptions(argv: readonly string[]): ParticipantOptions {
  const flags = parseFlags('participant', argv, FLAGS);
  const coordinator = flags.coordinator;
  return Object.freeze({
    shard: parseName('--shard', flags.shard),
    listen: parseHostPort('--listen', flags.listen),
    dataDir: flags['data-dir'],
    schemaPath: flags.schema,
    ...(coordinator === undefined ? {} : { coordinator: parseHostPort('--coordinator', coordinator) }),
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
      dataDir: options.dataDir,
      schemaSql,
      ...(options.coordinator === undefined ? {} : { coordinatorAddress: options.coordinator }),
      logger,
    }),
  );
}
