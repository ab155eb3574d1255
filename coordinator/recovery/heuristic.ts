/**
 * `recover force-commit` / `force-abort`: an operator's decision for a transaction the decision log
 * cannot answer for (the log was lost). Dangerous by nature, so everything that can be checked is,
 * and the plan is refused (FAILED_PRECONDITION, nothing written) when:
 *
 * - the coordinator is given: while it runs it decides (presumed abort) every transaction it has no
 *   COMMIT for, so a heuristic decision would race with it;
 * - the log already holds a decision for the transaction: a COMMIT, an outcome, or an earlier
 *   heuristic. Then its outcome is known; `resolve` pushes it;
 * - the transaction is in doubt nowhere (nothing to decide), or a shard of it cannot be asked;
 * - commit: a shard has it ABORTED (a tombstone, a NO vote, or an abort already applied) or never
 *   prepared it (UNKNOWN): its writes are not staged there, so a commit would apply the transaction
 *   on some shards only;
 * - abort: a shard already COMMITTED it: a commit cannot be undone;
 * - the log or (offline) a shard file is held by a running process.
 *
 * Then the decision is recorded in the log, forced, BEFORE any shard hears of it (audit row and the
 * decision itself as an ordinary record, decision-log.ts), so a restarted coordinator, the
 * participants' own resolvers and a later `resolve` all follow it. Only then is it pushed.
 */
import { TwopcError, notFound } from '../../common/errors.ts';
import type { RecoveryCluster } from './cluster.ts';
import type { ResolveResult } from './resolve.ts';
import { executeResolve } from './resolve.ts';
import type { ShardTxn } from './shard-view.ts';
import { lookUpTxn, type TxnLookup } from './txn-report.ts';
import { verdictFromLog } from './verdict.ts';

export type HeuristicOutcome = 'COMMITTED' | 'ABORTED';

export interface HeuristicPlan {
  readonly txnId: string;
  readonly outcome: HeuristicOutcome;
  readonly lookup: TxnLookup;
  /** Where the decision is pushed: PREPARED shards; for an abort also UNKNOWN ones (a tombstone). */
  readonly pushTo: readonly string[];
  /** The log file does not exist and will be created (--create-log). */
  readonly createsLog: boolean;
}

const IN_USE_HINT =
  'stop the coordinator before forcing a decision: while it runs it presumes abort for every transaction it has no COMMIT for';

function refuse(message: string, hint?: string): TwopcError {
  return new TwopcError('FAILED_PRECONDITION', message, hint === undefined ? {} : { hint });
}

export async function planHeuristic(
  cluster: RecoveryCluster,
  txnId: string,
  outcome: HeuristicOutcome,
  options: { createLog: boolean },
): Promise<HeuristicPlan> {
  const verb = outcome === 'COMMITTED' ? 'force-commit' : 'force-abort';
  if (cluster.coordinator !== undefined) throw refuse(`${verb}: ${IN_USE_HINT}`);
  const log = cluster.log;
  if (log === undefined)
    throw refuse(
      `${verb} records the decision in the decision log: name it with --log FILE or --data-dir DIR`,
    );
  if (!log.exists && !options.createLog) {
    throw refuse(
      `decision log ${log.file} does not exist`,
      'check the path; if the log is really lost, add --create-log',
    );
  }
  const lookup = await lookUpTxn(cluster, txnId);
  refuseDecided(lookup, txnId);
  if (!lookup.known) throw notFound(`transaction ${txnId} is not known to the decision log or to any shard`);
  if (lookup.preparedOn.length === 0) {
    const states = lookup.states.map((s) => `${s.shard} ${s.state}`).join(', ');
    throw refuse(`${txnId} is not in doubt on any shard (${states}): there is nothing to decide`);
  }
  for (const shard of lookup.involved) {
    if (cluster.shard(shard) === undefined) {
      throw refuse(
        `${txnId} also involves shard ${shard}, which is not among the targets: its state must be checked first`,
        `add it (${cluster.mode === 'offline' ? '--shard NAME=FILE' : '--participant NAME=HOST:PORT'})`,
      );
    }
  }
  const down = lookup.unreachable.find((u) => lookup.involved.includes(u.shard));
  if (down !== undefined)
    throw new TwopcError('UNAVAILABLE', `cannot ask shard ${down.shard} at ${down.location}: ${down.error}`);
  const involved = lookup.states.filter((s) => lookup.involved.includes(s.shard));
  if (outcome === 'COMMITTED') refuseCommit(txnId, involved);
  else refuseAbort(txnId, involved);
  const pushTo = involved
    .filter((s) => s.state === 'PREPARED' || (outcome === 'ABORTED' && s.state === 'UNKNOWN'))
    .map((s) => s.shard);
  await log.checkNotInUse(IN_USE_HINT);
  if (cluster.mode === 'offline') for (const shard of pushTo) await cluster.shard(shard)?.checkWritable();
  return { txnId, outcome, lookup, pushTo, createsLog: !log.exists };
}

function refuseDecided(lookup: TxnLookup, txnId: string): void {
  const answer = lookup.log;
  if (answer === undefined) return;
  const decided =
    answer.heuristics.length > 0 || (answer.record !== undefined && answer.record.state !== 'INTENT');
  if (!decided) return;
  const verdict = verdictFromLog(answer);
  throw refuse(
    `the decision log already holds a decision for ${txnId}: ${verdict.why}`,
    `a heuristic decision is only for a transaction the log cannot answer for; push the logged one with 'npx twopc recover resolve ${txnId}'`,
  );
}

function refuseCommit(txnId: string, states: readonly ShardTxn[]): void {
  for (const s of states) {
    if (s.state === 'ABORTED') {
      const why = s.detail?.tombstone
        ? 'a tombstone: it never prepared it and refuses it for good'
        : s.detail?.vote
          ? `it voted NO (${s.detail.vote.reasonCode}: ${s.detail.vote.reason})`
          : 'it was aborted there';
      throw refuse(
        `cannot force-commit ${txnId}: shard ${s.shard} has it ABORTED (${why}), so a commit there is impossible and committing would apply the transaction on some shards only`,
        `the outcome can only be abort: 'npx twopc recover force-abort ${txnId} --reason …'`,
      );
    }
    if (s.state === 'UNKNOWN') {
      throw refuse(
        `cannot force-commit ${txnId}: shard ${s.shard} never prepared it, so its part of the transaction is staged nowhere and a commit would apply the rest only`,
        `the outcome can only be abort: 'npx twopc recover force-abort ${txnId} --reason …'`,
      );
    }
  }
}

function refuseAbort(txnId: string, states: readonly ShardTxn[]): void {
  const committed = states.find((s) => s.state === 'COMMITTED');
  if (committed !== undefined) {
    throw refuse(
      `cannot force-abort ${txnId}: shard ${committed.shard} already COMMITTED it (decision_seq ${committed.decisionSeq}); a commit cannot be undone`,
      `the outcome was commit: 'npx twopc recover force-commit ${txnId} --reason …' finishes it`,
    );
  }
}

export interface HeuristicResult {
  readonly decisionSeq: bigint;
  readonly pushed: ResolveResult;
}

/** Records the decision (forced), then pushes it. The plan must come from planHeuristic. */
export async function executeHeuristic(
  cluster: RecoveryCluster,
  plan: HeuristicPlan,
  audit: { operator: string; reason: string; nowMs: number; startedAtMs: number },
): Promise<HeuristicResult> {
  const log = cluster.log;
  if (log === undefined) throw refuse('no decision log');
  const recorded = await log.recordHeuristic(
    {
      txnId: plan.txnId,
      outcome: plan.outcome,
      shards: plan.lookup.involved,
      operator: audit.operator,
      note: audit.reason,
      startedAtMs: audit.startedAtMs,
      atMs: audit.nowMs,
    },
    { create: plan.createsLog, inUseHint: IN_USE_HINT },
  );
  if (!recorded.recorded) {
    throw refuse(`the decision log gained a decision for ${plan.txnId} meanwhile; nothing was forced`);
  }
  const verdict =
    plan.outcome === 'COMMITTED'
      ? {
          kind: 'COMMIT' as const,
          decisionSeq: recorded.decisionSeq,
          source: 'heuristic' as const,
          why: 'forced commit',
        }
      : { kind: 'ABORT' as const, source: 'heuristic' as const, why: 'forced abort' };
  const [pushed] = await executeResolve(cluster, {
    steps: [{ txnId: plan.txnId, verdict, shards: plan.pushTo }],
    unreachable: [],
    omitted: 0,
  });
  return { decisionSeq: recorded.decisionSeq, pushed: pushed! };
}
