/**
 * Settling transactions the coordinator no longer holds in memory:
 *
 * - an INTENT in the log with no outcome (the coordinator stopped before deciding): with several
 *   shards and no COMMIT record it is aborted (presumed abort; Abort is sent to its shards); with one
 *   shard the one-phase commit may have happened, so Abort is sent and its ack decides;
 * - an id found neither in memory nor in the log (GetTransaction): every participant is asked. If one
 *   COMMITTED it, it committed. Otherwise Abort goes to every shard, leaving a tombstone where the
 *   transaction is unknown, so a Prepare still in flight is refused; once every shard acknowledged,
 *   the transaction is ABORTED for good. NOT_FOUND would be wrong: the id may belong to a transaction
 *   in flight that no longer can commit after this. (Ids that are not shaped like ours are NOT_FOUND,
 *   so a garbage id never writes tombstones.) This assumes one coordinator per set of participants,
 *   as the embedded log implies: a PREPARED transaction of another coordinator would be aborted here.
 *
 * With replicas sharing a log (`replicated`, replicas.ts), another live replica may own the
 * transaction, so neither case may abort what it prepared:
 *   - an INTENT owned by another epoch is not settled here: UNAVAILABLE (its owner, or the replica
 *     that takes the owner over, settles it);
 *   - an unknown id PREPARED on some shard is not aborted here: UNAVAILABLE for the same reason.
 *     Where it is unknown or aborted, Abort is sent with epoch 0, which a participant applies only
 *     as a tombstone (participant/epoch-fence.ts refuses it for a transaction prepared under a real
 *     epoch), so one racing with the owner's Prepare can never abort that Prepare.
 *
 * The result is a decided Transaction, remembered in the table so a repeated question is cheap.
 */
import type { TxnOutcome, TxnView } from '../common/api.ts';
import { TwopcError } from '../common/errors.ts';
import type { AbortReason, TxnStateInfo } from '../common/protocol.ts';
import type { DecisionRecord } from './decision-log.ts';
import type { Acks } from './decision-sender.ts';
import { answer } from './decision.ts';
import { callParticipant, settle, settlesWithin } from './participant-call.ts';
import type { ProtocolContext } from './protocol-context.ts';
import { Transaction } from './transaction.ts';
import { txnIdTimeMs } from './txn-id.ts';
import { outcomeFromRecord, viewFromRecord } from './txn-listing.ts';
import type { TxnTable } from './txn-table.ts';

/** Waits at most `waitMs` for a transaction's outcome; UNAVAILABLE if it is still undecided. */
export async function awaitOutcome(
  ctx: ProtocolContext,
  txn: Transaction,
  waitMs: number,
): Promise<TxnOutcome> {
  if (txn.outcome === undefined && !(await settlesWithin(ctx.clock, txn.settled, waitMs, ctx.stopSignal))) {
    throw new TwopcError('UNAVAILABLE', `txn ${txn.id} is not decided yet`, {
      hint: 'ask GetTransaction later',
    });
  }
  return answer(txn, txn.outcome as TxnOutcome);
}

const PRESUMED_ABORT_REASON: AbortReason = 'COORDINATOR_RESTART';
/** The epoch of an Abort that claims no ownership: participants apply it only as a tombstone. */
const tombstoneEpoch = 0n;

export class TxnResolver {
  private readonly running = new Map<string, Promise<Transaction>>();

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly table: TxnTable,
    /** Set with replicas sharing the log: the epoch this replica's records are owned under. */
    private readonly ownerEpoch?: bigint,
  ) {}

  private get replicated(): boolean {
    return this.ownerEpoch !== undefined;
  }

  /** GetTransaction: memory, else the log, else the participants (see the top of this file). */
  async view(txnId: string): Promise<TxnView> {
    const live = this.table.get(txnId);
    if (live !== undefined) return live.view();
    const record = await this.ctx.log.get(txnId);
    // Ids are only ever added to memory before their first log write, so after the await the
    // transaction can only have moved between the table and the log, never appeared from nowhere.
    const now = this.table.get(txnId);
    if (now !== undefined) return now.view();
    if (record === undefined) return (await this.resolveUnknown(txnId)).view();
    if (record.state !== 'INTENT') return viewFromRecord(record);
    return (await this.resolveIntent(record)).view();
  }

  /**
   * The client's answer for a transaction found in the log: its recorded outcome; for an INTENT, the
   * live transaction's outcome (waiting at most `waitMs`), or else it is settled as above.
   */
  async outcomeOfRecord(record: DecisionRecord, waitMs: number): Promise<TxnOutcome> {
    if (record.state !== 'INTENT') return outcomeFromRecord(record);
    const live = this.table.get(record.txnId);
    if (live !== undefined) return awaitOutcome(this.ctx, live, waitMs);
    const txn = await this.resolveIntent(record);
    return answer(txn, txn.outcome as TxnOutcome);
  }

  /** Settles a keyed transaction's INTENT that has no outcome. */
  resolveIntent(record: DecisionRecord): Promise<Transaction> {
    return this.once(record.txnId, () => this.settleIntent(record));
  }

  /** Settles a transaction known neither in memory nor in the log. */
  resolveUnknown(txnId: string): Promise<Transaction> {
    return this.once(txnId, () => this.settleUnknown(txnId));
  }

  private once(txnId: string, work: () => Promise<Transaction>): Promise<Transaction> {
    let p = this.running.get(txnId);
    if (p === undefined) {
      p = work().finally(() => this.running.delete(txnId));
      this.running.set(txnId, p);
    }
    return p;
  }

  private async settleIntent(record: DecisionRecord): Promise<Transaction> {
    const { ctx } = this;
    if (this.replicated && record.ownerEpoch !== undefined && record.ownerEpoch !== this.ownerEpoch) {
      throw new TwopcError(
        'UNAVAILABLE',
        `txn ${record.txnId} is owned by the coordinator replica with epoch ${record.ownerEpoch}, not this one`,
        { hint: 'ask again later: its owner decides it, or the replica that takes the owner over' },
      );
    }
    const txn = this.decidedShell(record.txnId, record.startedAtMs, record.idempotencyKey, record.shards);
    if (record.shards.length === 1) {
      const acks = await this.abortAndWait(record.txnId, record.shards, ctx.log.epoch);
      this.applyAcks(txn, record.shards, acks);
    } else {
      txn.tryAbort(
        PRESUMED_ABORT_REASON,
        'the coordinator stopped before deciding: presumed aborted',
        ctx.clock.nowMs(),
      );
      void ctx.sender.deliver(
        { txnId: txn.id, commit: false, decisionSeq: 0n, epoch: ctx.log.epoch },
        record.shards,
      );
    }
    const outcome = txn.outcome as TxnOutcome;
    await ctx.log.logOutcome({
      txnId: txn.id,
      outcome: outcome.outcome,
      shards: record.shards,
      idempotencyKey: record.idempotencyKey,
      ...(outcome.abortReason === undefined ? {} : { abortReason: outcome.abortReason }),
      reason: outcome.reason,
      invalid: false,
      startedAtMs: record.startedAtMs,
      atMs: txn.decidedAtMs,
    });
    this.table.remember(txn);
    return txn;
  }

  private async settleUnknown(txnId: string): Promise<Transaction> {
    const { ctx } = this;
    const all = [...ctx.participants.keys()].sort();
    const states = await Promise.all(all.map((shard) => this.askState(shard, txnId)));
    const known = all.filter((_, i) => states[i] !== undefined && states[i]?.state !== 'UNKNOWN');
    const txn = this.decidedShell(txnId, txnIdTimeMs(txnId), '', known);
    const committed = states.find((s) => s?.state === 'COMMITTED');
    if (committed !== undefined) {
      txn.commitWithoutLog(committed.decidedAtMs || ctx.clock.nowMs());
    } else if (this.replicated) {
      const prepared = all.filter((_, i) => states[i]?.state === 'PREPARED');
      if (prepared.length > 0) {
        throw new TwopcError(
          'UNAVAILABLE',
          `txn ${txnId} is prepared at ${prepared.join(', ')} and not in the log: another coordinator replica may still decide it`,
          { hint: 'ask again later: its owner decides it, or the replica that takes the owner over' },
        );
      }
      this.applyAcks(txn, all, await this.abortAndWait(txnId, all, tombstoneEpoch));
    } else {
      this.applyAcks(txn, all, await this.abortAndWait(txnId, all, ctx.log.epoch));
    }
    this.table.remember(txn);
    return txn;
  }

  private async askState(shard: string, txnId: string): Promise<TxnStateInfo | undefined> {
    const { ctx } = this;
    const client = ctx.participants.get(shard);
    if (client === undefined) return undefined;
    const what = `txnState ${txnId} at ${shard}`;
    const r = await settle(
      callParticipant(ctx.clock, what, ctx.config.rpcTimeoutMs, ctx.stopSignal, (t) =>
        client.txnState(txnId, t),
      ),
      what,
    );
    return r.ok ? r.value : undefined;
  }

  /** Sends Abort until acknowledged; waits at most outcomeProbeWaitMs for every ack. */
  private async abortAndWait(txnId: string, shards: readonly string[], epoch: bigint): Promise<Acks> {
    const { ctx } = this;
    // A tombstone-only Abort is refused by a shard that prepared meanwhile: bounded attempts, then
    // that shard counts as unreached.
    const acks = ctx.sender.deliver(
      { txnId, commit: false, decisionSeq: 0n, epoch },
      shards,
      epoch !== tombstoneEpoch,
    );
    if (!(await settlesWithin(ctx.clock, acks, ctx.config.outcomeProbeWaitMs, ctx.stopSignal)))
      return new Map();
    return acks;
  }

  /** A COMMITTED ack anywhere means it committed; ABORTED from every shard means aborted; else unknown. */
  private applyAcks(txn: Transaction, shards: readonly string[], acks: Acks): void {
    const now = this.ctx.clock.nowMs();
    const states = shards.map((s) => acks.get(s)?.state);
    if (states.includes('COMMITTED')) {
      txn.commitWithoutLog(now);
    } else if (states.every((s) => s === 'ABORTED')) {
      txn.tryAbort(PRESUMED_ABORT_REASON, 'the coordinator has no decision for it: presumed aborted', now);
    } else {
      throw new TwopcError('UNAVAILABLE', `txn ${txn.id}: not every shard could be reached to settle it`, {
        hint: 'retry when the participants are reachable',
      });
    }
  }

  private decidedShell(
    txnId: string,
    startedAtMs: number,
    key: string,
    shards: readonly string[],
  ): Transaction {
    const txn = new Transaction({
      id: txnId,
      startedAtMs,
      deadlineMs: startedAtMs,
      idempotencyKey: key,
      interactive: false,
    });
    txn.shards = shards;
    return txn;
  }
}
