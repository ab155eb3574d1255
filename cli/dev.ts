/**
 * `npx twopc dev` (what `npm start` runs): a local cluster for trying twopc out — a coordinator and
 * three participants with the demo `accounts` schema, each a child process of this one, everything
 * under one data dir. It stops the children on SIGINT/SIGTERM (coordinator first, so it is not left
 * driving a decision to a participant that is already gone) and exits 0; if a child dies on its own it
 * says which, stops the rest and exits 1.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError, invalidArgument } from '../common/errors.ts';
import { parseFailpoints } from '../common/failpoints.ts';
import { parseReplicaUrl } from '../participant/replica/replica-url.ts';
import { REPLICATION_MODES, type ReplicationMode } from '../participant/wal/config.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';
import { formatUsage, parseFlags, parseIntFlag } from './args.ts';
import { SupervisedProcess, describeExit } from './supervised-process.ts';

export const DEFAULT_DEV_DATA_DIR = './.twopc-dev';
export const DEFAULT_DEV_BASE_PORT = 7400;
export const DEV_SHARDS = ['shard-a', 'shard-b', 'shard-c'] as const;
/**
 * The dev cluster ships every shard's WAL to `DIR/replica` (one replica for all three shards: its
 * layout keeps each shard under its own name), so `npx twopc shard restore` works out of the box.
 */
export const DEV_REPLICA_SUBDIR = 'replica';
/** `--replica none`: run the participants without WAL shipping. */
const NO_REPLICA = 'none';
/** How long a child may take to print its serving line (tsx compiles on first start; busy machines). */
export const childStartTimeoutMs = 60_000;
/** How long a child may take to stop after SIGTERM before it gets SIGKILL. */
export const childStopTimeoutMs = 10_000;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCHEMA_FILE = path.join(ROOT, 'examples', 'accounts.sql');
const DEV_HOST = '127.0.0.1';
/** Every process serves metrics on a free port of its own; the banner lists them. */
const DEV_METRICS_LISTEN = `${DEV_HOST}:0`;

const FLAGS = {
  'data-dir': {
    kind: 'string',
    value: 'DIR',
    description: 'where shards, decision log and logs live',
    default: DEFAULT_DEV_DATA_DIR,
  },
  port: {
    kind: 'string',
    value: 'BASE',
    description: 'coordinator port; the shards get BASE+1…',
    default: String(DEFAULT_DEV_BASE_PORT),
  },
  replica: {
    kind: 'string',
    value: 'URL',
    description: `where the shards' WAL is shipped: file://DIR, s3://…, or ${NO_REPLICA} (default file://DIR/${DEV_REPLICA_SUBDIR})`,
  },
  replication: {
    kind: 'string',
    value: 'MODE',
    description: 'async (ship every second) or sync (a vote waits for the replica)',
    default: 'async',
  },
} as const;

export const summary = 'run a local cluster: a coordinator and three demo shards';

export const usage = formatUsage({
  synopsis: 'npx twopc dev [--data-dir DIR] [--port BASE]',
  summary:
    'Runs a local cluster as child processes: a coordinator on 127.0.0.1:BASE and participants\n' +
    `${DEV_SHARDS.join(', ')} on BASE+1 to BASE+${DEV_SHARDS.length}, each shard with the demo accounts table of\n` +
    "examples/accounts.sql. Data and each process's log (DIR/logs/NAME.log) stay in DIR, so a restart\n" +
    "continues where the last run stopped. Each shard's WAL is shipped to DIR/replica (see `npx twopc\n" +
    'shard restore`). Ctrl-C (SIGINT) or SIGTERM stops everything.',
  flags: FLAGS,
});

interface DevReplication {
  readonly replicaUrl: string;
  readonly mode: ReplicationMode;
}

type StopReason =
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'died'; readonly process: SupervisedProcess }
  | { readonly kind: 'failed'; readonly err: unknown };

export async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('dev', argv, FLAGS);
  const basePort = parseIntFlag('--port', flags.port, 1, 65_535 - DEV_SHARDS.length);
  // The children read TWOPC_FAILPOINTS too: refuse a bad spec here, once, rather than four times.
  parseFailpoints(process.env.TWOPC_FAILPOINTS ?? '');
  const dataDir = path.resolve(flags['data-dir']);
  const replication = parseDevReplication(flags.replica, flags.replication, dataDir);
  mkdirSync(path.join(dataDir, 'logs'), { recursive: true });

  const children: SupervisedProcess[] = [];
  /** Once set, nothing new is launched (a signal during start-up must not race a late launch). */
  let closing = false;
  let resolveStop!: (reason: StopReason) => void;
  const stopRequested = new Promise<StopReason>((resolve) => (resolveStop = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C while stopping means "now": no more waiting for graceful exits.
    if (closing) for (const child of children) child.kill();
    resolveStop({ kind: 'signal', signal });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const launch = (name: string, args: string[]) => {
    if (closing) throw new Error(`not starting ${name}: shutting down`);
    const child = new SupervisedProcess({ name, args, logFile: path.join(dataDir, 'logs', `${name}.log`) });
    children.push(child);
    void child.exited.then(() => {
      if (!child.stopping) resolveStop({ kind: 'died', process: child });
    });
    return child;
  };

  try {
    const up = startCluster(dataDir, basePort, replication, launch).then(
      () => ({ kind: 'up' }) as const,
      (err: unknown) => ({ kind: 'failed', err }) as const,
    );
    const first = await Promise.race([up, stopRequested]);
    if (first.kind === 'up') process.stdout.write(banner(dataDir, children, replication));
    const reason = first.kind === 'up' ? await stopRequested : first;
    if (reason.kind === 'failed') reportStartFailure(reason.err, children);
    if (reason.kind === 'died') reportDeath(reason.process);
    closing = true;
    const clean = await stopAll(children);
    if (reason.kind !== 'signal') return EXIT_FAILURE;
    process.stdout.write(`twopc dev stopped${clean ? '' : ' (some processes had to be killed)'}\n`);
    return EXIT_OK;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The replica flags, checked here once (a bad URL is one line, not three children dying). */
function parseDevReplication(
  replica: string | undefined,
  mode: string,
  dataDir: string,
): DevReplication | undefined {
  if (!(REPLICATION_MODES as readonly string[]).includes(mode))
    throw invalidArgument(`--replication: "${mode}" is not one of ${REPLICATION_MODES.join(', ')}`);
  if (replica === NO_REPLICA) return undefined;
  const replicaUrl = replica ?? `file://${path.join(dataDir, DEV_REPLICA_SUBDIR)}`;
  parseReplicaUrl(replicaUrl);
  return Object.freeze({ replicaUrl, mode: mode as ReplicationMode });
}

/** Participants first (the coordinator needs their addresses), then the coordinator. */
async function startCluster(
  dataDir: string,
  basePort: number,
  replication: DevReplication | undefined,
  launch: (name: string, args: string[]) => SupervisedProcess,
): Promise<void> {
  const replicaArgs =
    replication === undefined ? [] : ['--replica', replication.replicaUrl, '--replication', replication.mode];
  const coordinatorAddress = `${DEV_HOST}:${basePort}`;
  const shards = DEV_SHARDS.map((shard, i) =>
    launch(shard, [
      ...['participant', '--shard', shard, '--listen', `${DEV_HOST}:${basePort + 1 + i}`],
      ...['--metrics', DEV_METRICS_LISTEN],
      ...[
        '--data-dir',
        path.join(dataDir, shard),
        '--schema',
        SCHEMA_FILE,
        '--coordinator',
        coordinatorAddress,
      ],
      ...replicaArgs,
    ]),
  );
  const addresses = await Promise.all(shards.map((s) => s.waitUntilServing(childStartTimeoutMs)));
  const coordinator = launch('coordinator', [
    ...['coordinator', '--listen', coordinatorAddress, '--data-dir', path.join(dataDir, 'coordinator')],
    ...['--metrics', DEV_METRICS_LISTEN],
    ...shards.flatMap((s, i) => ['--participant', `${s.name}=${addresses[i]}`]),
  ]);
  await coordinator.waitUntilServing(childStartTimeoutMs);
}

/** Coordinator first, then the participants together. True if every process stopped on SIGTERM. */
async function stopAll(children: readonly SupervisedProcess[]): Promise<boolean> {
  const coordinator = children.filter((c) => c.name === 'coordinator');
  const participants = children.filter((c) => c.name !== 'coordinator');
  let clean = true;
  for (const group of [coordinator, participants]) {
    const results = await Promise.all(group.map(async (c) => ({ c, r: await c.stop(childStopTimeoutMs) })));
    for (const { c, r } of results) {
      if (r.killed) {
        clean = false;
        process.stderr.write(
          `twopc dev: ${c.name} did not stop within ${childStopTimeoutMs} ms after SIGTERM; killed it\n`,
        );
      }
    }
  }
  return clean;
}

function reportDeath(child: SupervisedProcess): void {
  process.stderr.write(
    `twopc dev: ${child.name} (pid ${child.pid}) exited unexpectedly (${child.exitStatus ? describeExit(child.exitStatus) : 'unknown status'}); ` +
      'stopping the others. ' +
      `Its last output (full log: ${child.logFile}):\n${indent(child.tail())}\n`,
  );
}

function reportStartFailure(err: unknown, children: readonly SupervisedProcess[]): void {
  process.stderr.write(`twopc dev: ${describeError(err)}; stopping the others\n`);
  for (const child of children) {
    if (child.address !== undefined) continue;
    process.stderr.write(
      `twopc dev: ${child.name} did not come up. Its last output (full log: ${child.logFile}):\n${indent(child.tail())}\n`,
    );
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

function replicaLines(dataDir: string, replication: DevReplication | undefined): string[] {
  if (replication === undefined)
    return ['WAL shipping: off (--replica none): a lost shard file is lost.', ''];
  const url = replication.replicaUrl.startsWith('file://')
    ? `file://${pastable(replication.replicaUrl.slice('file://'.length))}`
    : replication.replicaUrl;
  const shard = DEV_SHARDS[0];
  return [
    `Every shard's WAL is shipped to ${url} (${replication.mode}). If ${shard}'s files are lost, stop`,
    'twopc dev and restore them, then start it again:',
    '',
    `  npx twopc shard restore --replica '${url}' --shard ${shard} --output ${pastable(path.join(dataDir, shard, `${shard}.db`))}`,
    '',
    'To take the whole cluster back to the decision with seq N (each transaction on all its shards or none):',
    '',
    `  npx twopc cluster restore --replica '${url}' ${DEV_SHARDS.map((s) => `--shard ${s}`).join(' ')} \\`,
    `      --decision-log ${pastable(path.join(dataDir, 'coordinator', 'decisions.db'))} --output-dir DIR --decision-seq N`,
    '',
  ];
}

/** A path the user can paste: relative if it is under the current directory. */
function pastable(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

function banner(
  dataDir: string,
  children: readonly SupervisedProcess[],
  replication: DevReplication | undefined,
): string {
  const coordinator = children.find((c) => c.name === 'coordinator');
  const rows = [...children]
    .sort((a, b) =>
      a.name === 'coordinator' ? -1 : b.name === 'coordinator' ? 1 : a.name.localeCompare(b.name),
    )
    .map(
      (c) =>
        `  ${c.name.padEnd(13)}${(c.address ?? '').padEnd(18)}pid ${String(c.pid).padEnd(8)}` +
        `metrics ${c.metricsUrl ?? '-'}`,
    );
  const addr = coordinator?.address ?? '';
  return [
    `twopc dev: a coordinator and ${DEV_SHARDS.length} participants are up (data and logs in ${pastable(dataDir)})`,
    '',
    ...rows,
    '',
    ...replicaLines(dataDir, replication),
    'Move 10 from account 1 on shard-a to account 1 on shard-b, from another terminal:',
    '',
    `  TWOPC_ADDR=${addr} node ${pastable(path.join(ROOT, 'examples', 'transfer.mjs'))}`,
    '',
    'or the same with the TypeScript SDK:',
    '',
    `  TWOPC_ADDR=${addr} npx tsx ${pastable(path.join(ROOT, 'examples', 'sdk-transfer.ts'))}`,
    '',
    'Press Ctrl-C to stop.',
    `twopc dev serving on ${addr}`,
    '',
  ].join('\n');
}
