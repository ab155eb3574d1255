/**
 * Everything known about one transaction, from every source, read-only: its decision-log record and
 * heuristic rows, the coordinator's view if it holds it (from ListTransactions, no side effects),
 * and every shard's state. `recover show` prints it; resolve and force-* check against it.
 */
import { describeError } from '../../common/errors.ts';
import type { TxnView } from '../../common/api.ts';
import type { RecoveryCluster } from './cluster.ts';
import type { ShardTxn } from './shard-view.ts';
import { coordinatorInFlight, logAnswer, type UnreachableShard } from './survey.ts';
import { verdictFor, type LogAnswer, type Verdict } from './verdict.ts';

export interface TxnLookup {
  readonly txnId: string;
  /** Some source has heard of it: a log record or heuristic, or a shard not UNKNOWN. */
  readonly known: boolean;
  /** The shards that answered, in name order. */
  readonly states: readonly ShardTxn[];
  readonly unreachable: readonly UnreachableShard[];
  /** Shards holding it PREPARED. */
  readonly preparedOn: readonly string[];
  /** Every shard the transaction touches as far as anyone tells: prepares' peers, the log, states. */
  readonly involved: readonly string[];
  readonly coordinatorIds: readonly string[];
  readonly log: LogAnswer | undefined;
  /** The coordinator's view while it is in flight there; undefined otherwise (or no coordinator). */
  readonly coordinatorView: TxnView | undefined;
  readonly verdict: Verdict;
}

export async function lookUpTxn(cluster: RecoveryCluster, txnId: string): Promise<TxnLookup> {
  const unreachable: UnreachableShard[] = [];
  const answers = await Promise.all(
    cluster.shards.map((s) =>
      s.txnState(txnId).then(
        (state) => state,
        (err: unknown) => {
          unreachable.push({ shard: s.shard, location: s.location, error: describeError(err) });
          return undefined;
        },
      ),
    ),
  );
  const states = answers.flatMap((a) => (a === undefined ? [] : [a]));
  const preparedOn = states.filter((s) => s.state === 'PREPARED').map((s) => s.shard);
  const fromPrepares = await Promise.all(preparedOn.map((shard) => inDoubtEntry(cluster, shard, txnId)));
  const log = await logAnswer(cluster, txnId);
  const inFlight = await coordinatorInFlight(cluster);
  const involved = new Set<string>([
    ...preparedOn,
    ...fromPrepares.flatMap((p) => p?.peers ?? []),
    ...(log?.record?.shards ?? []),
    ...(log?.record?.readOnlyShards ?? []),
    ...states.filter((s) => s.state !== 'UNKNOWN').map((s) => s.shard),
  ]);
  const known = involved.size > 0 || (log?.heuristics.length ?? 0) > 0 || inFlight?.has(txnId) === true;
  return {
    txnId,
    known,
    states,
    unreachable: unreachable.sort((a, b) => a.shard.localeCompare(b.shard)),
    preparedOn,
    involved: [...involved].sort(),
    coordinatorIds: [...new Set(fromPrepares.flatMap((p) => (p ? [p.coordinatorId] : [])))].sort(),
    log,
    coordinatorView: inFlight?.get(txnId),
    verdict: verdictFor(txnId, { ...(inFlight ? { inFlight } : {}), ...(log ? { log } : {}) }),
  };
}

/** Peers and coordinator id of a PREPARED transaction, from the shard's in-doubt list. */
async function inDoubtEntry(
  cluster: RecoveryCluster,
  shard: string,
  txnId: string,
): Promise<{ peers: string[]; coordinatorId: string } | undefined> {
  const view = cluster.shard(shard);
  if (view === undefined) return undefined;
  try {
    const entry = (await view.listInDoubt()).find((t) => t.txnId === txnId);
    return entry && { peers: entry.peers.map((p) => p.shard), coordinatorId: entry.coordinatorId };
  } catch {
    return undefined;
  }
}
