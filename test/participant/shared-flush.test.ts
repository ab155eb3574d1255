/**
 * A batcher flush holding both decisions and prepares writes them in ONE local transaction
 * (shared-flush.ts): decisions first, so a prepare after a commit in the same flush sees the released
 * locks; everything is durable when the results are delivered; and a shared write that fails as a
 * whole writes nothing and is redone as two separate batches, which isolate the message at fault.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../common/assert.ts';
import type { Ack, DecisionMessage, PrepareMessage, ShardOp, Vote } from '../../common/protocol.ts';
import { Batcher } from '../../participant/batcher.ts';
import type { BatchStore } from '../../participant/flush-writer.ts';
import { abortMsg, commitMsg, noOf, op, openAccountsHarness, prepareMsg, type Harness } from './helpers.ts';

let h: Harness;
beforeEach(() => {
  h = openAccountsHarness();
});
afterEach(() => h.cleanup());

const debit = (n: bigint): ShardOp[] => [op('ADD', 'accounts', { id: 1n }, { balance: -n })];

/** The harness's store, counting the store calls the batcher makes. */
function countingStore(): BatchStore & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    prepareBatch: (ms: readonly PrepareMessage[]) => (calls.push('prepareBatch'), h.store.prepareBatch(ms)),
    decideBatch: (ms: readonly DecisionMessage[]) => (calls.push('decideBatch'), h.store.decideBatch(ms)),
    decideAndPrepare: (ds: readonly DecisionMessage[], ps: readonly PrepareMessage[]) => (
      calls.push('decideAndPrepare'),
      h.store.decideAndPrepare(ds, ps)
    ),
  };
}

describe('decideAndPrepare (the store)', () => {
  it('applies the decisions first, then votes; all of it durable across a reopen', () => {
    expect(h.store.prepareBatch([prepareMsg(h.clock, 't1', debit(3n))])[0]?.vote).toBe('YES');
    // t2 writes the row t1 holds a lock on: it can only get YES because t1's commit ran first.
    const { acks, votes } = h.store.decideAndPrepare(
      [commitMsg('t1', 2n)],
      [prepareMsg(h.clock, 't2', debit(4n))],
    );
    expect(acks).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    expect(votes).toEqual([{ txnId: 't2', vote: 'YES' }]);
    const store = h.reopen();
    expect(store.read('accounts', { id: 1n }).row).toMatchObject({ balance: 7n });
    expect(store.decideBatch([commitMsg('t2', 3n)])).toEqual([{ txnId: 't2', state: 'COMMITTED' }]);
    expect(store.read('accounts', { id: 1n }).row).toMatchObject({ balance: 3n });
  });

  it('writes nothing when one message fails the shared transaction', () => {
    const before = h.dump();
    expect(() =>
      h.store.decideAndPrepare([commitMsg('never-prepared')], [prepareMsg(h.clock, 't3', debit(1n))]),
    ).toThrow(AssertionError);
    expect(h.dump()).toEqual(before);
  });
});

describe('the batcher with a store that can share', () => {
  async function flush(
    batcher: Batcher,
    decisions: DecisionMessage[],
    prepares: PrepareMessage[],
  ): Promise<{ acks: PromiseSettledResult<Ack>[]; votes: PromiseSettledResult<Vote>[] }> {
    const acks = decisions.map((d) => batcher.decide(d));
    const votes = prepares.map((p) => batcher.prepare(p));
    return { acks: await Promise.allSettled(acks), votes: await Promise.allSettled(votes) };
  }

  it('writes a flush holding both kinds with one store call', async () => {
    h.store.prepareBatch([prepareMsg(h.clock, 't1', debit(1n))]);
    const store = countingStore();
    const batcher = new Batcher({ store });
    const r = await flush(
      batcher,
      [commitMsg('t1', 2n), abortMsg('unknown')],
      [
        prepareMsg(h.clock, 't2', debit(1n)),
        prepareMsg(h.clock, 't3', [op('INSERT', 'accounts', { id: 2n }, { owner: 'x', balance: 1n })]),
      ],
    );
    expect(store.calls).toEqual(['decideAndPrepare']);
    expect(r.acks.map((a) => a.status === 'fulfilled' && a.value.state)).toEqual(['COMMITTED', 'ABORTED']);
    const [yes, no] = r.votes.map((v) => (v.status === 'fulfilled' ? v.value : undefined));
    expect(yes?.vote).toBe('YES');
    expect(noOf(no as Vote).reasonCode).toBe('CONSTRAINT');
    expect(batcher.stats()).toMatchObject({ sharedFlushes: 1, decisions: 2, prepares: 2 });
  });

  it('redoes a failed shared write apart: only the message at fault fails', async () => {
    const store = countingStore();
    const batcher = new Batcher({ store });
    const r = await flush(
      batcher,
      [commitMsg('never-prepared'), abortMsg('t9')],
      [prepareMsg(h.clock, 't4', debit(2n))],
    );
    expect(store.calls).toEqual([
      'decideAndPrepare',
      'decideBatch',
      'decideBatch',
      'decideBatch',
      'prepareBatch',
    ]);
    expect(r.acks[0]?.status).toBe('rejected');
    expect(r.acks[1]).toEqual({ status: 'fulfilled', value: { txnId: 't9', state: 'ABORTED' } });
    expect(r.votes[0]).toEqual({ status: 'fulfilled', value: { txnId: 't4', vote: 'YES' } });
    expect(batcher.stats()).toMatchObject({ sharedFlushes: 0 });
  });
});
