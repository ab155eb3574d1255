/**
 * `npx twopc recover status`: the in-doubt transactions across all shards, with their age, the shards
 * holding them PREPARED, what the decision log (or coordinator) says, and the coordinator id.
 * Read-only. Exit 0; 1 when a shard could not be asked (the list may be incomplete).
 */
import type { RecoveryCluster } from '../coordinator/recovery/cluster.ts';
import type { Survey } from '../coordinator/recovery/survey.ts';
import { formatUsage, parseFlags } from './args.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';
import {
  formatAge,
  print,
  table,
  toJson,
  verdictJson,
  verdictShort,
  warn,
  recordJson,
} from './recover-format.ts';
import { TARGET_FLAGS, parseTarget, withCluster } from './recover-targets.ts';

const FLAGS = { ...TARGET_FLAGS } as const;

export const summary = 'list the in-doubt transactions across all shards and what the log says';

export const usage = formatUsage({
  synopsis: 'npx twopc recover status (--data-dir DIR | --participant NAME=HOST:PORT …) [flags]',
  summary:
    'Lists every transaction some shard holds PREPARED (voted YES, no decision heard): its age, the\n' +
    "shards holding it, every shard it involves, the decision log's answer (COMMIT and its decision_seq;\n" +
    'no COMMIT = presumed abort; heuristic), and the coordinator that prepared it. Changes nothing.',
  flags: FLAGS,
  notes: 'Exit status: 0 ok; 1 a shard could not be asked (the list may be incomplete); 2 usage error.',
});

export async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('recover status', argv, FLAGS);
  const target = parseTarget('recover status', flags);
  return withCluster(target, async (cluster) => {
    const { surveyInDoubt } = await import('../coordinator/recovery/survey.ts');
    const survey = await surveyInDoubt(cluster);
    const nowMs = Date.now();
    if (flags.json) print(toJson(statusJson(cluster, survey, nowMs)));
    else print(statusText(cluster, survey, nowMs));
    for (const u of survey.unreachable)
      warn(`warning: shard ${u.shard} at ${u.location} could not be asked: ${u.error}`);
    return survey.unreachable.length > 0 ? EXIT_FAILURE : EXIT_OK;
  });
}

function sourcesLine(cluster: RecoveryCluster): string {
  const log = cluster.log;
  const logText =
    log === undefined
      ? 'decision log: not given'
      : `decision log: ${log.file}${log.exists ? '' : ' (missing)'}`;
  const coordinator = cluster.coordinator ? `; coordinator: ${cluster.coordinator.address}` : '';
  return `${cluster.mode}; ${logText}${coordinator}; shards: ${cluster.shards.map((s) => s.shard).join(', ')}`;
}

function statusText(cluster: RecoveryCluster, survey: Survey, nowMs: number): string {
  const n = survey.entries.length;
  const down = survey.unreachable.length;
  const partial = down === 0 ? '' : `; ${down} shard${down === 1 ? '' : 's'} could not be asked, see below`;
  if (n === 0) return `No transactions in doubt (${sourcesLine(cluster)}${partial}).`;
  const rows = [['TXN', 'AGE', 'PREPARED ON', 'SHARDS', 'DECISION', 'COORDINATOR']];
  for (const e of survey.entries) {
    rows.push([
      e.txnId,
      formatAge(nowMs - e.preparedAtMs),
      e.preparedOn.join(','),
      e.involved.join(','),
      verdictShort(e.verdict),
      e.coordinatorIds.join(',') || '-',
    ]);
  }
  const actionable = survey.entries.filter((e) => e.verdict.kind === 'COMMIT' || e.verdict.kind === 'ABORT');
  const heading = `${n} transaction${n === 1 ? '' : 's'} in doubt (${sourcesLine(cluster)}${partial})`;
  const lines = [heading, '', table(rows)];
  if (actionable.length > 0) {
    lines.push(
      '',
      `'npx twopc recover resolve --all' (same target flags) pushes these decisions; add --dry-run to see the plan first.`,
    );
  }
  return lines.join('\n');
}

function statusJson(cluster: RecoveryCluster, survey: Survey, nowMs: number): Record<string, unknown> {
  const down = new Map(survey.unreachable.map((u) => [u.shard, u.error]));
  return {
    mode: cluster.mode,
    atMs: nowMs,
    decisionLog: cluster.log ? { file: cluster.log.file, exists: cluster.log.exists } : null,
    coordinator: cluster.coordinator?.address ?? null,
    shards: cluster.shards.map((s) => ({
      shard: s.shard,
      location: s.location,
      reachable: !down.has(s.shard),
      ...(down.has(s.shard) ? { error: down.get(s.shard) } : {}),
    })),
    inDoubt: survey.entries.map((e) => ({
      txnId: e.txnId,
      ageMs: nowMs - e.preparedAtMs,
      preparedAtMs: e.preparedAtMs,
      preparedOn: e.preparedOn,
      involved: e.involved,
      coordinatorIds: e.coordinatorIds,
      decision: verdictJson(e.verdict),
      logRecord: e.log?.record ? recordJson(e.log.record) : null,
      heuristics: e.log?.heuristics ?? [],
    })),
  };
}
