/**
 * `npx twopc cluster restore`: restores every shard of a cluster and its decision log to one
 * consistent cut — each transaction on all its shards or on none — so the restored cluster starts
 * with nothing in doubt. The logic is in participant/restore/decision-cut.ts (one shard's cut),
 * coordinator/recovery/cluster-cut.ts (settling and checking the cut) and cut-log.ts (the log).
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { invalidArgument, TwopcError } from '../common/errors.ts';
import { DEV_COORDINATOR_DIR, LOG_FILE_NAME } from '../coordinator/recovery/data-dir.ts';
import { parseReplicaUrl } from '../participant/replica/replica-url.ts';
import { progressBar, silentProgress } from '../participant/restore/progress.ts';
import type { RestoreResult } from '../participant/restore/restore.ts';
import { formatUsage, parseFlags, parseName } from './args.ts';
import { EXIT_OK } from './exit.ts';
import { openShardReplica, parseDecisionSeq, parseTime } from './shard-args.ts';

const FLAGS = {
  replica: {
    kind: 'string',
    value: 'URL',
    description: 'the replica every shard ships to (file://DIR or s3://…; objects under <shard>/)',
  },
  shard: {
    kind: 'list',
    value: 'NAME[=URL]',
    description: 'a shard to restore, with its own replica if it has one (name every shard)',
    required: true,
  },
  'decision-log': {
    kind: 'string',
    value: 'FILE',
    description: "the coordinator's SQLite decision log (sqlite:PATH or PATH), read only",
    required: true,
  },
  'output-dir': {
    kind: 'string',
    value: 'DIR',
    description: 'where to write DIR/<shard>/<shard>.db and DIR/coordinator/decisions.db',
    required: true,
  },
  'decision-seq': {
    kind: 'string',
    value: 'N',
    description: 'the cut: every transaction decided at or before seq N, nothing decided after',
  },
  at: { kind: 'string', value: 'TIME', description: 'the cut at the last decision made at or before TIME' },
  force: {
    kind: 'boolean',
    description: 'replace files that exist in DIR (stop a cluster running on DIR first)',
  },
  json: { kind: 'boolean', description: 'print the summary as one JSON object' },
} as const;

export const summary = 'restore every shard and the decision log to one consistent cut';

export const usage = formatUsage({
  synopsis:
    'npx twopc cluster restore --shard NAME … --replica URL --decision-log FILE --output-dir DIR (--decision-seq N | --at TIME)',
  summary:
    'Restores each shard from its WAL replica to the cut at decision seq N (just before its first\n' +
    'transaction committed with a higher seq), commits the prepared transactions the log decided at\n' +
    'or below N and aborts the rest, checks that every transaction is on all its shards or on none,\n' +
    'and writes the decision log cut to match (no COMMIT above N, nothing left to re-drive). Start the\n' +
    'coordinator and participants on DIR as laid out by `twopc dev`. Nothing is left in DIR on failure.',
  flags: FLAGS,
  notes: [
    'Exit codes: 0 restored; 1 a replica or the log cannot cover the cut, a corrupt segment, an inconsistent',
    'result; 2 bad flags. One-phase (single-shard) transactions have no seq: each shard keeps those it',
    'committed before its cut point. Only SQLite decision logs can be cut (not Redis).',
    '',
    'Example:',
    '  npx twopc cluster restore --replica file://data/replica --shard shard-a --shard shard-b \\',
    '      --decision-log data/coordinator/decisions.db --output-dir restored --decision-seq 1200',
  ].join('\n'),
});

interface ShardTarget {
  readonly shard: string;
  readonly replicaUrl: string;
  readonly output: string;
}

export async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('cluster restore', argv, FLAGS);
  const logFile = parseLogFile(flags['decision-log']);
  const outputDir = path.resolve(flags['output-dir']);
  const targets = parseShards(flags.shard, flags.replica, outputDir);
  if ((flags['decision-seq'] === undefined) === (flags.at === undefined))
    throw invalidArgument('cluster restore: give exactly one of --decision-seq N and --at TIME');
  const givenSeq =
    flags['decision-seq'] === undefined
      ? undefined
      : parseDecisionSeq('--decision-seq', flags['decision-seq']);
  const atMs = flags.at === undefined ? undefined : parseTime('--at', flags.at);
  const logOutput = path.join(outputDir, DEV_COORDINATOR_DIR, LOG_FILE_NAME);
  // Before any long download: and so a failure below removes only files this run wrote.
  const taken = [...targets.map((t) => t.output), logOutput].find((f) => existsSync(f));
  if (taken !== undefined && !flags.force)
    throw new TwopcError('ALREADY_EXISTS', `${taken} exists`, {
      hint: 'choose another --output-dir, or pass --force to replace it (stop that cluster first)',
    });

  const { CutLog } = await import('../coordinator/recovery/cut-log.ts');
  const { settleCut } = await import('../coordinator/recovery/cluster-cut.ts');
  const { restoreShard } = await import('../participant/restore/restore.ts');
  const log = CutLog.open(logFile);
  const written: string[] = [];
  try {
    const seq = givenSeq ?? log.seqAt(atMs as number);
    const lastSeq = log.lastSeq();
    if (seq > lastSeq)
      throw new TwopcError(
        'FAILED_PRECONDITION',
        `decision seq ${seq} was never handed out (the log is at ${lastSeq})`,
        {
          hint: `restore to --decision-seq ${lastSeq} or earlier`,
        },
      );
    if (flags.force)
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${logOutput}${suffix}`, { force: true });
    const restored: RestoreResult[] = [];
    for (const t of targets) {
      const replica = await openShardReplica(t.replicaUrl, t.shard);
      try {
        restored.push(
          await restoreShard({
            replica,
            output: t.output,
            overwrite: flags.force,
            decisionSeq: seq,
            onPlan: (plan) => (flags.json ? silentProgress : progressBar(`restoring ${t.shard}`, plan.bytes)),
          }),
        );
        written.push(t.output);
      } finally {
        replica.client.close();
      }
    }
    written.push(logOutput);
    const cut = await settleCut({
      log,
      decisionSeq: seq,
      logOutput,
      nowMs: Date.now(),
      shards: targets.map((t, i) => {
        const r = restored[i] as RestoreResult;
        return { shard: t.shard, file: t.output, reached: r.cut?.reached ?? false, asOfMs: r.plan.asOfMs };
      }),
    });
    written.length = 0; // all of it is good now
    const shards = targets.map((t, i) => {
      const r = restored[i] as RestoreResult;
      const s = cut.settlements[i];
      return {
        shard: t.shard,
        output: t.output,
        generation: r.plan.generation,
        cutReached: r.cut?.reached ?? false,
        maxSeq: String(r.cut?.maxSeq ?? 0n),
        committedAtRestore: s?.committed ?? 0,
        abortedAtRestore: s?.aborted ?? 0,
        dbBytes: r.dbBytes,
        walBytesApplied: r.walBytesApplied,
        elapsedMs: r.elapsedMs,
      };
    });
    if (flags.json) {
      const out = { decisionSeq: String(seq), shards, decisionLog: cut.log, inDoubt: 0, integrity: 'ok' };
      process.stdout.write(`${JSON.stringify(out)}\n`);
      return EXIT_OK;
    }
    process.stdout.write(
      `restored ${shards.length} shard(s) to the cut at decision seq ${seq} in ${outputDir}\n` +
        shards
          .map(
            (s) =>
              `  ${s.shard.padEnd(12)} highest seq ${s.maxSeq}; at restore committed ${s.committedAtRestore}, ` +
              `aborted ${s.abortedAtRestore}; ${s.cutReached ? 'cut found in the replica' : 'replica ends before the cut, covered'}\n`,
          )
          .join('') +
        `  log          ${cut.log.output}: ${cut.log.removedCommits} commit(s) past the cut removed, ` +
        `${cut.log.ended} ended, ${cut.log.removedOnePhase} one-phase outcome(s) not in the cut removed\n` +
        '  integrity    ok; every transaction on all its shards or none; nothing in doubt\n',
    );
    return EXIT_OK;
  } finally {
    log.close();
    for (const file of written)
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  }
}

function parseLogFile(raw: string): string {
  if (/^[a-z+]+:\/\//.test(raw))
    throw invalidArgument(
      `--decision-log: "${raw}" is not a file: cluster restore cuts a SQLite decision log only`,
      'a Redis log is shared by live coordinators; restore it with Redis tools',
    );
  const file = raw.startsWith('sqlite:') ? raw.slice('sqlite:'.length) : raw;
  if (file === '') throw invalidArgument('--decision-log: needs a path, e.g. data/coordinator/decisions.db');
  return file;
}

function parseShards(raw: readonly string[], replica: string | undefined, outputDir: string): ShardTarget[] {
  if (replica !== undefined) parseReplicaUrl(replica);
  const targets: ShardTarget[] = [];
  for (const spec of raw) {
    const eq = spec.indexOf('=');
    const shard = parseName('--shard', eq < 0 ? spec : spec.slice(0, eq));
    const url = eq < 0 ? replica : spec.slice(eq + 1);
    if (url === undefined)
      throw invalidArgument(`--shard ${shard}: no replica`, 'give --replica URL, or --shard NAME=URL');
    parseReplicaUrl(url, `--shard ${shard}`);
    if (targets.some((t) => t.shard === shard)) throw invalidArgument(`--shard ${shard}: given twice`);
    targets.push({ shard, replicaUrl: url, output: path.join(outputDir, shard, `${shard}.db`) });
  }
  return targets;
}
