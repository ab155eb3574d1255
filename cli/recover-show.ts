/**
 * `npx twopc recover show TXN`: everything known about one transaction: its decision-log record and
 * heuristic rows, the coordinator's view while it holds it, every shard's state, and what `resolve`
 * would do. Read-only. An id no source has heard of is NOT_FOUND (exit 2).
 */
import { notFound } from '../common/errors.ts';
import { isTxnId, txnIdTimeMs } from '../coordinator/txn-id.ts';
import type { RecoveryCluster } from '../coordinator/recovery/cluster.ts';
import type { ShardTxn } from '../coordinator/recovery/shard-view.ts';
import type { TxnLookup } from '../coordinator/recovery/txn-report.ts';
import { formatUsage, parseFlags } from './args.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';
import {
  formatAge,
  formatTime,
  heuristicText,
  print,
  recordJson,
  recordText,
  table,
  toJson,
  verdictJson,
  warn,
} from './recover-format.ts';
import { TARGET_FLAGS, parseTarget, parseTxnArg, splitPositionals, withCluster } from './recover-targets.ts';

const FLAGS = { ...TARGET_FLAGS } as const;

export const summary = "show one transaction: its log record(s), heuristics, and every shard's state";

export const usage = formatUsage({
  synopsis: 'npx twopc recover show TXN (--data-dir DIR | --participant NAME=HOST:PORT …) [flags]',
  summary:
    "Shows what every source knows about TXN: the decision log's record and heuristic decisions, the\n" +
    "coordinator's view (while it holds the transaction), each shard's state, and what `recover resolve`\n" +
    'would do with it. Changes nothing.',
  flags: FLAGS,
  notes: 'Exit status: 0 ok; 1 a shard could not be asked; 2 usage error or TXN unknown everywhere.',
});

export async function run(argv: readonly string[]): Promise<number> {
  const { positionals, flags: rest } = splitPositionals(argv, FLAGS);
  const flags = parseFlags('recover show', rest, FLAGS);
  const txnId = parseTxnArg('recover show', positionals);
  const target = parseTarget('recover show', flags);
  return withCluster(target, async (cluster) => {
    const { lookUpTxn } = await import('../coordinator/recovery/txn-report.ts');
    const found = await lookUpTxn(cluster, txnId);
    if (!found.known && found.unreachable.length === 0) {
      throw notFound(
        `transaction ${txnId} is not known to the decision log or to any shard`,
        "list the ones in doubt with 'npx twopc recover status'",
      );
    }
    const nowMs = Date.now();
    if (flags.json) print(toJson(showJson(cluster, found)));
    else print(showText(cluster, found, nowMs));
    for (const u of found.unreachable)
      warn(`warning: shard ${u.shard} at ${u.location} could not be asked: ${u.error}`);
    return found.unreachable.length > 0 ? EXIT_FAILURE : EXIT_OK;
  });
}

function shardLine(s: ShardTxn, nowMs: number, involved: boolean): string[] {
  const d = s.detail;
  const parts: string[] = [];
  switch (s.state) {
    case 'PREPARED':
      parts.push(`in doubt since ${formatTime(s.preparedAtMs)} (${formatAge(nowMs - s.preparedAtMs)})`);
      if (d)
        parts.push(
          `${d.pendingCount} pending rows`,
          `${d.lockCount} locks`,
          `peers ${d.peers.join(',') || '-'}`,
        );
      if (d?.coordinatorId) parts.push(`coordinator ${d.coordinatorId}`);
      break;
    case 'COMMITTED':
      parts.push(`decision_seq ${s.decisionSeq}`, `at ${formatTime(s.decidedAtMs)}`);
      if (d?.onePhase) parts.push('one phase');
      break;
    case 'ABORTED':
      parts.push(`at ${formatTime(s.decidedAtMs)}`);
      if (d?.tombstone) parts.push('tombstone: never prepared here, refuses a late prepare');
      if (d?.vote) parts.push(`voted NO: ${d.vote.reasonCode}: ${d.vote.reason}`);
      break;
    case 'UNKNOWN':
      parts.push(involved ? 'never saw it' : 'not involved');
      break;
  }
  return [`  ${s.shard}`, s.state, parts.join(', ')];
}

function showText(cluster: RecoveryCluster, t: TxnLookup, nowMs: number): string {
  const lines = [`Transaction ${t.txnId}`];
  if (isTxnId(t.txnId)) lines.push(`  started      ${formatTime(txnIdTimeMs(t.txnId))} (from its id)`);
  lines.push(`  shards       ${t.involved.join(', ') || '-'}`);
  if (t.coordinatorIds.length > 0) lines.push(`  prepared by  ${t.coordinatorIds.join(', ')}`);
  const log = cluster.log;
  if (log === undefined) lines.push('Decision log: not given (--log FILE or --data-dir DIR)');
  else if (!log.exists) lines.push(`Decision log ${log.file}: does not exist`);
  else {
    lines.push(`Decision log ${log.file}`);
    lines.push(`  record       ${t.log?.record ? recordText(t.log.record) : 'none'}`);
    const hs = t.log?.heuristics ?? [];
    lines.push(`  heuristics   ${hs.length === 0 ? 'none' : hs.map(heuristicText).join('; ')}`);
  }
  if (cluster.coordinator) {
    const v = t.coordinatorView;
    lines.push(
      `Coordinator ${cluster.coordinator.address}: ${v ? `${v.state}${v.decisionSeq > 0n ? `, decision_seq ${v.decisionSeq}` : ''}` : 'not in flight there'}`,
    );
  }
  lines.push('Shards');
  const rows = t.states.map((s) => shardLine(s, nowMs, t.involved.includes(s.shard)));
  for (const u of t.unreachable) rows.push([`  ${u.shard}`, 'unreachable', u.error]);
  lines.push(table(rows));
  lines.push(nextStep(t));
  return lines.join('\n');
}

function nextStep(t: TxnLookup): string {
  const v = t.verdict;
  if (t.preparedOn.length === 0) return 'Not in doubt on any shard: nothing to resolve.';
  const on = t.preparedOn.join(', ');
  switch (v.kind) {
    case 'COMMIT':
      return `Resolve: COMMIT (${v.why}); 'npx twopc recover resolve ${t.txnId}' (same target flags) commits it on ${on}.`;
    case 'ABORT':
      return `Resolve: ABORT (${v.why}); 'npx twopc recover resolve ${t.txnId}' (same target flags) aborts it on ${on}.`;
    case 'LIVE':
      return `Resolve: nothing, ${v.why}.`;
    case 'UNKNOWN':
      return `Resolve: nothing, ${v.why}.`;
  }
}

function showJson(cluster: RecoveryCluster, t: TxnLookup): Record<string, unknown> {
  return {
    txnId: t.txnId,
    startedAtMs: isTxnId(t.txnId) ? txnIdTimeMs(t.txnId) : null,
    involved: t.involved,
    preparedOn: t.preparedOn,
    coordinatorIds: t.coordinatorIds,
    decisionLog: cluster.log
      ? {
          file: cluster.log.file,
          exists: cluster.log.exists,
          record: t.log?.record ? recordJson(t.log.record) : null,
          heuristics: t.log?.heuristics ?? [],
        }
      : null,
    coordinator: cluster.coordinator
      ? { address: cluster.coordinator.address, view: t.coordinatorView ?? null }
      : null,
    shards: [
      ...t.states.map((s) => ({ ...s, location: cluster.shard(s.shard)?.location, reachable: true })),
      ...t.unreachable.map((u) => ({
        shard: u.shard,
        location: u.location,
        reachable: false,
        error: u.error,
      })),
    ],
    decision: verdictJson(t.verdict),
  };
}
