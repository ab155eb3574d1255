/**
 * The in-doubt transactions across every shard, each with what the decision sources say about it.
 * Read-only: it asks the shards (ListInDoubt), the coordinator (ListTransactions, which has no side
 * effects) and the log file, and changes nothing anywhere.
 *
 * The shards are asked before the coordinator: a transaction a shard holds PREPARED was in the
 * coordinator's memory from before that prepare until it was decided, so a coordinator list taken
 * afterwards either still shows it (live, or committing) or it was decided without a COMMIT.
 */
import { TwopcError, describeError } from '../../common/errors.ts';
import type { TxnView } from '../../common/api.ts';
import type { InDoubtTxn } from '../../common/protocol.ts';
import type { RecoveryCluster } from './cluster.ts';
import { verdictFor, type LogAnswer, type Verdict } from './verdict.ts';

export interface InDoubtEntry {
  readonly txnId: string;
  /** Shards holding it PREPARED, in name order. */
  readonly preparedOn: readonly string[];
  /** Every shard of the transaction as far as the prepares tell: preparedOn and their peers. */
  readonly involved: readonly string[];
  /** The earliest prepare among the shards holding it. */
  readonly preparedAtMs: number;
  /** The coordinator id(s) named in its prepares. */
  readonly coordinatorIds: readonly string[];
  /** The log file's answer; undefined when no log file was given or it does not exist. */
  readonly log: LogAnswer | undefined;
  readonly verdict: Verdict;
}

export interface UnreachableShard {
  readonly shard: string;
  readonly location: string;
  readonly error: string;
}

export interface Survey {
  /** Oldest prepare first. */
  readonly entries: readonly InDoubtEntry[];
  /** Shards that could not be asked: the list may be incomplete. */
  readonly unreachable: readonly UnreachableShard[];
}

export async function surveyInDoubt(cluster: RecoveryCluster): Promise<Survey> {
  const unreachable: UnreachableShard[] = [];
  const byTxn = new Map<string, Array<{ shard: string; txn: InDoubtTxn }>>();
  const lists = await Promise.all(
    cluster.shards.map((s) =>
      s.listInDoubt().then(
        (txns) => ({ shard: s, txns }),
        (err: unknown) => ({ shard: s, error: describeError(err) }),
      ),
    ),
  );
  for (const l of lists) {
    if ('error' in l) {
      unreachable.push({ shard: l.shard.shard, location: l.shard.location, error: l.error });
      continue;
    }
    for (const txn of l.txns) {
      const holders = byTxn.get(txn.txnId) ?? [];
      holders.push({ shard: l.shard.shard, txn });
      byTxn.set(txn.txnId, holders);
    }
  }
  const inFlight = await coordinatorInFlight(cluster);
  const entries: InDoubtEntry[] = [];
  for (const [txnId, holders] of byTxn) {
    const log = await logAnswer(cluster, txnId);
    const preparedOn = holders.map((h) => h.shard).sort();
    const peers = holders.flatMap((h) => h.txn.peers.map((p) => p.shard));
    entries.push({
      txnId,
      preparedOn,
      involved: [...new Set([...preparedOn, ...peers])].sort(),
      preparedAtMs: Math.min(...holders.map((h) => h.txn.preparedAtMs)),
      coordinatorIds: [...new Set(holders.map((h) => h.txn.coordinatorId))].sort(),
      log,
      verdict: verdictFor(txnId, { ...(inFlight ? { inFlight } : {}), ...(log ? { log } : {}) }),
    });
  }
  entries.sort((a, b) => a.preparedAtMs - b.preparedAtMs || (a.txnId < b.txnId ? -1 : 1));
  return { entries, unreachable };
}

/** The log file's answer for one transaction; undefined when there is no log file to ask. */
export async function logAnswer(cluster: RecoveryCluster, txnId: string): Promise<LogAnswer | undefined> {
  if (cluster.log === undefined || !cluster.log.exists) return undefined;
  return { record: await cluster.log.get(txnId), heuristics: await cluster.log.heuristics(txnId) };
}

/** The coordinator's in-flight list, or undefined without a coordinator. Unreachable = an error. */
export async function coordinatorInFlight(
  cluster: RecoveryCluster,
): Promise<ReadonlyMap<string, TxnView> | undefined> {
  const coordinator = cluster.coordinator;
  if (coordinator === undefined) return undefined;
  try {
    return await coordinator.inFlight();
  } catch (err) {
    throw new TwopcError('UNAVAILABLE', `coordinator at ${coordinator.address}: ${describeError(err)}`, {
      hint: 'if the coordinator is down, leave out --coordinator and name its log with --log FILE',
      cause: err,
    });
  }
}
