/**
 * `npx twopc shard restore`: rebuilds a shard file from its replica, to the latest state or to a
 * point in time, with a progress bar and an integrity check.
 */
import { invalidArgument } from '../common/errors.ts';
import { progressBar, silentProgress } from '../participant/restore/progress.ts';
import { cutShortNote } from '../participant/restore/cut-short.ts';
import type { RestoreResult } from '../participant/restore/restore.ts';
import { formatUsage, parseFlags, parseName } from './args.ts';
import { EXIT_OK } from './exit.ts';
import { openShardReplica, parseDecisionSeq, parseTime } from './shard-args.ts';

const FLAGS = {
  replica: {
    kind: 'string',
    value: 'URL',
    description: 'file://DIR or s3://BUCKET/PREFIX?endpoint=…&region=…',
    required: true,
  },
  shard: { kind: 'string', value: 'NAME', description: 'the shard to restore', required: true },
  output: {
    kind: 'string',
    value: 'FILE',
    description: 'the shard file to write (refused if it exists)',
    required: true,
  },
  at: {
    kind: 'string',
    value: 'TIME',
    description: 'restore the state as of TIME (ISO 8601, e.g. 2025-01-02T03:04:05Z); default: latest',
  },
  generation: {
    kind: 'string',
    value: 'ID',
    description: 'restore from this generation only (see replica ls)',
  },
  'decision-seq': {
    kind: 'string',
    value: 'N',
    description:
      'restore to a decision-log cut: nothing COMMITTED with a greater decision_seq (not with --at)',
  },
  force: { kind: 'boolean', description: 'replace FILE if it exists' },
  json: {
    kind: 'boolean',
    description: 'print the summary as one JSON object (for scripts, e.g. the bench)',
  },
} as const;

export const summary = 'restore a shard file from its replica (latest or --at TIME)';

export const usage = formatUsage({
  synopsis:
    'npx twopc shard restore --replica URL --shard NAME --output FILE [--at TIME | --decision-seq N] [flags]',
  summary:
    'Restores a shard file from its WAL replica: the newest snapshot at or before the target, then every\n' +
    'WAL segment after it, each checked (sha256, checksum chain, no gap) before it is applied, then\n' +
    'PRAGMA integrity_check. Nothing is written unless all of it passes. Prepared transactions still\n' +
    'waiting for a decision stay prepared: the participant resolves them when it starts on the file.\n' +
    'With --decision-seq N it stops just before the first transaction committed with a seq above N;\n' +
    "to restore several shards to one consistent cut use 'npx twopc cluster restore', which also\n" +
    'settles what the cut leaves prepared and cuts the decision log to match.',
  flags: FLAGS,
  notes: [
    'Exit codes: 0 restored; 1 nothing to restore, a missing or corrupt segment, or a failed integrity check;',
    '2 bad flags. The S3 client reads credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile).',
    '',
    'Example:',
    '  npx twopc shard restore --replica file://data/replica --shard shard-a --output data/shard-a.db',
  ].join('\n'),
});

export async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('shard restore', argv, FLAGS);
  const shard = parseName('--shard', flags.shard);
  if (flags['decision-seq'] !== undefined && flags.at !== undefined)
    throw invalidArgument('shard restore: give --at TIME or --decision-seq N, not both');
  const atMs = flags.at === undefined ? undefined : parseTime('--at', flags.at);
  const seq =
    flags['decision-seq'] === undefined
      ? undefined
      : parseDecisionSeq('--decision-seq', flags['decision-seq']);
  const replica = await openShardReplica(flags.replica, shard);
  const { restoreShard } = await import('../participant/restore/restore.ts');
  try {
    const result = await restoreShard({
      replica,
      output: flags.output,
      overwrite: flags.force,
      ...(atMs === undefined ? {} : { atMs }),
      ...(seq === undefined ? {} : { decisionSeq: seq }),
      ...(flags.generation === undefined ? {} : { generation: flags.generation }),
      onPlan: (plan) => (flags.json ? silentProgress : progressBar(`restoring ${shard}`, plan.bytes)),
    });
    const seconds = Math.max(result.elapsedMs, 1) / 1000;
    const mbps = (result.dbBytes + result.walBytesApplied) / 1e6 / seconds;
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(summaryJson(shard, result, mbps))}\n`);
      return EXIT_OK;
    }
    process.stdout.write(
      `restored ${shard} to ${result.output}\n` +
        `  as of      ${new Date(result.plan.asOfMs).toISOString()} (generation ${result.plan.generation})\n` +
        `  applied    snapshot index ${result.plan.snapshot.index} + ${result.plan.segments} segments ` +
        `(${result.plan.incarnations.length} WAL indexes, ${(result.walBytesApplied / 1e6).toFixed(1)} MB of WAL)\n` +
        `  downloaded ${(result.plan.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s (${mbps.toFixed(1)} MB/s restored)\n` +
        cutLine(result) +
        `  integrity  ok; ${result.inDoubt} prepared transaction(s) in doubt, resolved when the participant starts\n` +
        result.leftOut.map((key) => `  note       ${cutShortNote(key)}\n`).join(''),
    );
    return EXIT_OK;
  } finally {
    replica.client.close();
  }
}

/** The summary as data: sizes in bytes, times in ms, the speed as in the text (MB/s of database + WAL applied). */
function summaryJson(shard: string, result: RestoreResult, mbPerSec: number): Record<string, unknown> {
  const { plan } = result;
  return {
    shard,
    output: result.output,
    asOf: new Date(plan.asOfMs).toISOString(),
    generation: plan.generation,
    snapshotIndex: plan.snapshot.index,
    segments: plan.segments,
    walIndexes: plan.incarnations.length,
    downloadedBytes: plan.bytes,
    dbBytes: result.dbBytes,
    walBytesApplied: result.walBytesApplied,
    elapsedMs: result.elapsedMs,
    mbPerSec,
    inDoubt: result.inDoubt,
    integrity: 'ok',
    leftOut: result.leftOut,
    ...(result.cut === undefined
      ? {}
      : {
          decisionSeq: String(result.cut.decisionSeq),
          cutReached: result.cut.reached,
          maxSeq: String(result.cut.maxSeq),
        }),
  };
}

function cutLine(result: RestoreResult): string {
  const { cut } = result;
  if (cut === undefined) return '';
  const where = cut.reached
    ? 'found in the replica'
    : 'not reached: the replica ends first (everything shipped is restored)';
  return `  cut        decision seq ${cut.decisionSeq}: ${where}; highest seq committed here ${cut.maxSeq}\n`;
}
