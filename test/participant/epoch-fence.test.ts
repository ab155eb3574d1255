/**
 * The participant's epoch fence (participant/epoch-fence.ts), message by message on a real shard file:
 * a decision with an epoch below the one recorded for the transaction changes nothing and is answered
 * with the current state; a higher one is applied and raises the record; an epoch-0 Abort only ever
 * tombstones; a looked-up decision (resolvedEpoch) is never refused; one coordinator restarting (its
 * epoch only grows) is never refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DecisionMessage, ShardOp } from '../../common/protocol.ts';
import { resolvedEpoch } from '../../participant/epoch-fence.ts';
import { internalRows, op, openAccountsHarness, prepareOne, type Harness } from './helpers.ts';

let h: Harness;
beforeEach(() => {
  h = openAccountsHarness();
});
afterEach(() => h.cleanup());

const transfer: ShardOp[] = [
  op('ADD', 'accounts', { id: 1n }, { balance: -3n }),
  op('ADD', 'accounts', { id: 2n }, { balance: 3n }),
];

function decide(txnId: string, commit: boolean, epoch: bigint): DecisionMessage {
  return { txnId, commit, decisionSeq: commit ? 9n : 0n, epoch };
}

function recordedEpoch(txnId: string): unknown {
  return internalRows(h.file, '_twopc_txns').find((r) => r.txn_id === txnId)?.epoch;
}

describe('the participant epoch fence', () => {
  it('refuses an Abort from an epoch below the prepare: the transaction stays PREPARED, nothing changes', () => {
    expect(prepareOne(h, 't1', transfer, { epoch: 5n }).vote).toBe('YES');
    const before = h.dump();
    expect(h.store.decideBatch([decide('t1', false, 4n)])).toEqual([{ txnId: 't1', state: 'PREPARED' }]);
    expect(h.store.decideBatch([decide('t1', false, 0n)])).toEqual([{ txnId: 't1', state: 'PREPARED' }]);
    expect(h.dump()).toEqual(before);
  });

  it('a higher epoch (a takeover) decides and raises the record; the old owner is then refused', () => {
    prepareOne(h, 't1', transfer, { epoch: 5n });
    expect(h.store.decideBatch([decide('t1', false, 7n)])).toEqual([{ txnId: 't1', state: 'ABORTED' }]);
    expect(recordedEpoch('t1')).toBe(7n);
    // The paused old owner's Commit: without the fence this is the "commit after abort" assertion.
    expect(h.store.decideBatch([decide('t1', true, 5n)])).toEqual([{ txnId: 't1', state: 'ABORTED' }]);
  });

  it('a late Abort of the old owner cannot undo the new owner`s Commit, nor log it as a bug', () => {
    prepareOne(h, 't1', transfer, { epoch: 5n });
    expect(h.store.decideBatch([decide('t1', true, 8n)])).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    expect(h.store.decideBatch([decide('t1', false, 5n)])).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    expect(recordedEpoch('t1')).toBe(8n);
  });

  it('an epoch-0 Abort tombstones an unknown transaction, and the owner`s late Prepare is then refused', () => {
    expect(h.store.decideBatch([decide('t2', false, 0n)])).toEqual([{ txnId: 't2', state: 'ABORTED' }]);
    expect(prepareOne(h, 't2', transfer, { epoch: 3n }).vote).toBe('NO');
  });

  it('a looked-up decision (the in-doubt resolver, the recovery CLI) is never refused', () => {
    prepareOne(h, 't1', transfer, { epoch: 12n });
    expect(h.store.decideBatch([decide('t1', true, resolvedEpoch)])).toEqual([
      { txnId: 't1', state: 'COMMITTED' },
    ]);
  });

  it('one coordinator across restarts: the same or a higher epoch is always applied', () => {
    prepareOne(h, 't1', transfer, { epoch: 2n });
    prepareOne(h, 't3', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })], { epoch: 2n });
    expect(h.store.decideBatch([decide('t1', true, 2n)])).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    expect(h.store.decideBatch([decide('t3', false, 3n)])).toEqual([{ txnId: 't3', state: 'ABORTED' }]);
  });
});
