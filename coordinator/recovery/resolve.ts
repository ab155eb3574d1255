/**
 * `recover resolve`: push the decision the log (or the running coordinator) already holds to every
 * shard that holds the transaction in doubt. It never decides anything itself: COMMIT where a COMMIT
 * was logged (with its decisionSeq), abort where none was (presumed abort), nothing for a
 * transaction the coordinator is still deciding or no source can answer for.
 *
 * Planning is read-only and is what --dry-run prints. Before anything is written the preconditions
 * are checked (planResolve rejects with FAILED_PRECONDITION): there must be a decision source; read
 * from the file, the log must not be held by a running coordinator (it may be deciding right now);
 * offline, the shard files to write must not be held by running participants.
 */
import { resolvedEpoch } from '../../participant/epoch-fence.ts';
import { TwopcError, describeError, notFound } from '../../common/errors.ts';
import type { DecisionMessage } from '../../common/protocol.ts';
import type { RecoveryCluster } from './cluster.ts';
import { resolveTxnsMax } from './config.ts';
import { surveyInDoubt, type UnreachableShard } from './survey.ts';
import { lookUpTxn } from './txn-report.ts';
import { verdictFromView, type Verdict } from './verdict.ts';

export interface ResolveStep {
  readonly txnId: string;
  readonly verdict: Verdict;
  /** Shards holding it PREPARED: where the decision goes. */
  readonly shards: readonly string[];
  /** Set when nothing will be done for it, and why. */
  readonly skip?: string;
}

export interface ResolvePlan {
  readonly steps: readonly ResolveStep[];
  readonly unreachable: readonly UnreachableShard[];
  /** In-doubt transactions beyond resolveTxnsMax, left for another run. */
  readonly omitted: number;
}

export interface ShardResult {
  readonly shard: string;
  readonly ok: boolean;
  /** The shard's state after the decision, or the error. */
  readonly detail: string;
}

export interface ResolveResult {
  readonly txnId: string;
  readonly verdict: Verdict;
  readonly skip?: string;
  readonly shards: readonly ShardResult[];
}

export type Which = { readonly all: true } | { readonly txnId: string };

export async function planResolve(cluster: RecoveryCluster, which: Which): Promise<ResolvePlan> {
  await checkDecisionSource(cluster);
  const survey = await surveyInDoubt(cluster);
  let steps: ResolveStep[];
  let omitted = 0;
  if ('all' in which) {
    omitted = Math.max(0, survey.entries.length - resolveTxnsMax);
    steps = survey.entries.slice(0, resolveTxnsMax).map((e) => step(e.txnId, e.verdict, e.preparedOn));
  } else {
    const entry = survey.entries.find((e) => e.txnId === which.txnId);
    steps = [
      entry ? step(entry.txnId, entry.verdict, entry.preparedOn) : await notInDoubt(cluster, which.txnId),
    ];
  }
  if (cluster.mode === 'offline') {
    const written = new Set(steps.filter((s) => s.skip === undefined).flatMap((s) => s.shards));
    for (const shard of cluster.shards) if (written.has(shard.shard)) await shard.checkWritable();
  }
  return { steps, unreachable: survey.unreachable, omitted };
}

function step(txnId: string, verdict: Verdict, shards: readonly string[]): ResolveStep {
  if (verdict.kind === 'LIVE') return { txnId, verdict, shards, skip: `left alone: ${verdict.why}` };
  if (verdict.kind === 'UNKNOWN') return { txnId, verdict, shards, skip: `left alone: ${verdict.why}` };
  return { txnId, verdict, shards };
}

async function notInDoubt(cluster: RecoveryCluster, txnId: string): Promise<ResolveStep> {
  const found = await lookUpTxn(cluster, txnId);
  if (!found.known) {
    throw notFound(
      `transaction ${txnId} is not known to the decision log or to any shard`,
      "list the ones in doubt with 'npx twopc recover status'",
    );
  }
  const states = found.states.map((s) => `${s.shard} ${s.state}`).join(', ');
  return { txnId, verdict: found.verdict, shards: [], skip: `not in doubt on any shard (${states})` };
}

/** Without a source of decisions, resolving would presume everything aborted: refused. */
async function checkDecisionSource(cluster: RecoveryCluster): Promise<void> {
  if (cluster.coordinator !== undefined) return;
  const log = cluster.log;
  if (log === undefined) {
    throw new TwopcError('FAILED_PRECONDITION', 'resolve needs the decision log or the coordinator', {
      hint: 'name the log with --log FILE (or --data-dir DIR), or the running coordinator with --coordinator HOST:PORT',
    });
  }
  if (!log.exists) {
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `decision log ${log.file} does not exist: without it every transaction would be presumed aborted, committed ones included`,
      {
        hint: 'check the path; if the log is really lost, decide each transaction with force-commit or force-abort',
      },
    );
  }
  const hint =
    cluster.mode === 'offline'
      ? 'it may be deciding transactions right now: stop it, or resolve online with --coordinator HOST:PORT --participant NAME=HOST:PORT …'
      : 'pass --coordinator HOST:PORT, so that transactions it is still deciding are left alone';
  await log.checkNotInUse(hint);
  await log.checkNoLiveReplica(
    cluster.mode === 'offline'
      ? 'stop the replicas (or wait until their leases expire), or resolve online with --coordinator A,B… --participant NAME=HOST:PORT …'
      : "pass --coordinator with every replica's address (A,B,…), so that transactions they are still deciding are left alone",
  );
}

export async function executeResolve(cluster: RecoveryCluster, plan: ResolvePlan): Promise<ResolveResult[]> {
  const results = new Map<string, { verdict: Verdict; skip?: string; shards: ShardResult[] }>();
  const perShard = new Map<string, Array<{ txnId: string; message: DecisionMessage }>>();
  for (const s of plan.steps) {
    const verdict = s.skip === undefined ? await confirm(cluster, s) : s.verdict;
    const skip = s.skip ?? skipFor(verdict);
    results.set(s.txnId, { verdict, ...(skip === undefined ? {} : { skip }), shards: [] });
    if (skip !== undefined || (verdict.kind !== 'COMMIT' && verdict.kind !== 'ABORT')) continue;
    const message: DecisionMessage = {
      txnId: s.txnId,
      commit: verdict.kind === 'COMMIT',
      decisionSeq: verdict.kind === 'COMMIT' ? verdict.decisionSeq : 0n,
      // Looked up in the log or at the peers: final, so never refused as stale by a shard.
      epoch: resolvedEpoch,
    };
    for (const shard of s.shards) {
      const list = perShard.get(shard) ?? [];
      list.push({ txnId: s.txnId, message });
      perShard.set(shard, list);
    }
  }
  await Promise.all(
    [...perShard].map(async ([shard, items]) => {
      const view = cluster.shard(shard);
      let answers: Array<{ ok: boolean; detail: string }>;
      try {
        if (view === undefined) throw new TwopcError('INTERNAL', `no shard ${shard} in the cluster`);
        const acks = await view.decide(items.map((i) => i.message));
        answers = items.map((item, i) => {
          const want = item.message.commit ? 'COMMITTED' : 'ABORTED';
          const got = acks[i]?.state ?? 'no answer';
          return { ok: got === want, detail: got === want ? got : `answered ${got}, expected ${want}` };
        });
      } catch (err) {
        answers = items.map(() => ({ ok: false, detail: describeError(err) }));
      }
      items.forEach((item, i) => results.get(item.txnId)?.shards.push({ shard, ...answers[i]! }));
    }),
  );
  return plan.steps.map((s) => {
    const r = results.get(s.txnId)!;
    return { txnId: s.txnId, ...r, shards: r.shards.sort((a, b) => a.shard.localeCompare(b.shard)) };
  });
}

function skipFor(verdict: Verdict): string | undefined {
  return verdict.kind === 'LIVE' || verdict.kind === 'UNKNOWN' ? `left alone: ${verdict.why}` : undefined;
}

/**
 * With a running coordinator, its GetTransaction just before pushing is the final word: it may
 * have started deciding since the plan was made. (It settles a transaction it does not hold by
 * presumed abort itself, which is what would be pushed anyway.) Without one, the plan stands: the
 * log file is not held by a running process, so nothing can have decided since.
 */
async function confirm(cluster: RecoveryCluster, s: ResolveStep): Promise<Verdict> {
  if (cluster.coordinator === undefined) return s.verdict;
  try {
    return verdictFromView(await cluster.coordinator.getTransaction(s.txnId));
  } catch (err) {
    return { kind: 'UNKNOWN', why: `the coordinator could not confirm it: ${describeError(err)}` };
  }
}
