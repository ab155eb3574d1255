/**
 * `npx twopc shard replica verify`: downloads and checks every object of a shard's replica, then
 * restores the latest point into a temporary file and checks its integrity. Exit 1 on any problem.
 */
import { formatUsage, parseFlags, parseName } from './args.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';
import { openShardReplica } from './shard-args.ts';

const FLAGS = {
  replica: {
    kind: 'string',
    value: 'URL',
    description: 'file://DIR or s3://BUCKET/PREFIX?endpoint=…&region=…',
    required: true,
  },
  shard: { kind: 'string', value: 'NAME', description: 'the shard to verify', required: true },
  generation: { kind: 'string', value: 'ID', description: 'verify this generation only (default: all)' },
  'no-restore': { kind: 'boolean', description: 'skip the trial restore' },
} as const;

export const summary = 'check every snapshot and segment, then try a restore';

export const usage = formatUsage({
  synopsis: 'npx twopc shard replica verify --replica URL --shard NAME [--generation ID] [--no-restore]',
  summary:
    "Checks a shard's replica the way a restore would: every object's sha256 and identity, every WAL\n" +
    'index gapless with an unbroken checksum chain, then restores the latest point into a temporary\n' +
    'file and runs PRAGMA integrity_check. Prints each problem; exits 1 if there is any.',
  flags: FLAGS,
});

export async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('shard replica verify', argv, FLAGS);
  const replica = await openShardReplica(flags.replica, parseName('--shard', flags.shard));
  const { verifyReplica } = await import('../participant/restore/verify.ts');
  try {
    const report = await verifyReplica(replica, {
      ...(flags.generation === undefined ? {} : { generation: flags.generation }),
      trialRestore: !flags['no-restore'],
    });
    const lines: string[] = [];
    for (const g of report.generations) {
      const note =
        g.unreachableSegments > 0 ? `, ${g.unreachableSegments} before the oldest snapshot (unused)` : '';
      lines.push(
        `generation ${g.id}: ${g.snapshots} snapshots, ${g.segments} segments${note}: ${g.problems.length === 0 ? 'ok' : 'PROBLEMS'}`,
      );
      for (const p of g.problems) lines.push(`  - ${p}`);
      for (const n of g.notes) lines.push(`  note: ${n}`);
    }
    if (report.generations.length === 0)
      lines.push(`no generation for shard ${replica.shard} in ${replica.client.url}`);
    const trial = report.trialRestore;
    if (trial !== undefined)
      lines.push(
        'error' in trial
          ? `trial restore: FAILED: ${trial.error}`
          : `trial restore: ok (as of ${new Date(trial.plan.asOfMs).toISOString()}, integrity_check ok)`,
      );
    lines.push(report.problems === 0 ? 'replica ok' : `${report.problems} problem(s) found`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return report.problems === 0 && report.generations.length > 0 ? EXIT_OK : EXIT_FAILURE;
  } finally {
    replica.client.close();
  }
}
