/**
 * The participant's side of the protocol: idempotent messages, tombstones, batches, one-phase and
 * read-only votes, restarts, failpoints, and the assertions that guard impossible decisions.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../common/assert.ts';
import { TwopcError } from '../../common/errors.ts';
import { configureFailpoints } from '../../common/failpoints.ts';
import type { ShardOp } from '../../common/protocol.ts';
import {
  abortMsg,
  commitMsg,
  commitTxn,
  internalRows,
  noOf,
  op,
  openAccountsHarness,
  prepareMsg,
  prepareOne,
  type Harness,
} from './helpers.ts';

let h: Harness;
beforeEach(() => {
  h = openAccountsHarness();
});
afterEach(() => {
  configureFailpoints('');
  h.cleanup();
});

const transfer: ShardOp[] = [
  op('ADD', 'accounts', { id: 1n }, { balance: -3n }),
  op('ADD', 'accounts', { id: 2n }, { balance: 3n }),
];

describe('every message applied twice changes nothing', () => {
  it('prepare twice', () => {
    expect(prepareOne(h, 't1', transfer).vote).toBe('YES');
    const once = h.dump();
    expect(prepareOne(h, 't1', transfer)).toEqual({ txnId: 't1', vote: 'YES' });
    expect(h.dump()).toEqual(once);
  });

  it('commit twice', () => {
    prepareOne(h, 't1', transfer);
    expect(h.store.decideBatch([commitMsg('t1', 7n)])).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    const once = h.dump();
    expect(h.store.decideBatch([commitMsg('t1', 7n)])).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    expect(h.dump()).toEqual(once);
    expect(h.store.read('accounts', { id: 1n }).row.balance).toBe(7n);
    expect(h.store.txnState('t1')).toMatchObject({
      state: 'COMMITTED',
      decisionSeq: 7n,
      preparedAtMs: h.clock.now,
      decidedAtMs: h.clock.now,
    });
  });

  it('abort twice', () => {
    const before = h.dump();
    prepareOne(h, 't1', transfer);
    expect(h.store.decideBatch([abortMsg('t1')])).toEqual([{ txnId: 't1', state: 'ABORTED' }]);
    const once = h.dump();
    expect(h.store.decideBatch([abortMsg('t1')])).toEqual([{ txnId: 't1', state: 'ABORTED' }]);
    expect(h.dump()).toEqual(once);
    const userTables = (d: string) =>
      Object.entries(JSON.parse(d) as Record<string, unknown>).filter(([n]) => !n.startsWith('_twopc_txns'));
    expect(userTables(once)).toEqual(userTables(before));
  });

  it('abort after commit acknowledges COMMITTED and undoes nothing', () => {
    prepareOne(h, 't1', transfer);
    h.store.decideBatch([commitMsg('t1')]);
    const once = h.dump();
    expect(h.store.decideBatch([abortMsg('t1')])).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    expect(h.dump()).toEqual(once);
  });

  it('prepare after commit answers YES and applies nothing again', () => {
    commitTxn(h, 't1', transfer);
    const once = h.dump();
    expect(prepareOne(h, 't1', transfer).vote).toBe('YES');
    expect(h.dump()).toEqual(once);
  });

  it('prepare after a NO repeats the NO, even once the conflict is gone', () => {
    prepareOne(h, 'holder', transfer);
    const first = prepareOne(h, 't1', transfer);
    expect(noOf(first).reasonCode).toBe('CONFLICT');
    h.store.decideBatch([abortMsg('holder')]);
    expect(prepareOne(h, 't1', transfer)).toEqual(first);
  });
});

describe('tombstones', () => {
  it('an abort for an unknown transaction refuses its late prepare', () => {
    expect(h.store.decideBatch([abortMsg('late')])).toEqual([{ txnId: 'late', state: 'ABORTED' }]);
    const before = h.dump();
    const no = noOf(prepareOne(h, 'late', transfer));
    expect(no.reason).toMatch(/aborted/);
    expect(no.invalid).toBe(false);
    expect(h.dump()).toEqual(before);
  });

  it('txnState with abortIfUnknown writes a tombstone; without it, only reads', () => {
    expect(h.store.txnState('ghost')).toEqual({
      txnId: 'ghost',
      state: 'UNKNOWN',
      decisionSeq: 0n,
      preparedAtMs: 0,
      decidedAtMs: 0,
    });
    expect(h.store.txnState('ghost', { abortIfUnknown: true }).state).toBe('ABORTED');
    expect(noOf(prepareOne(h, 'ghost', transfer)).reason).toMatch(/aborted/);
    prepareOne(h, 'p', transfer);
    expect(h.store.txnState('p', { abortIfUnknown: true }).state).toBe('PREPARED');
  });

  it('a commit for a transaction that was never prepared or was aborted is an assertion', () => {
    expect(() => h.store.decideBatch([commitMsg('never')])).toThrow(AssertionError);
    h.store.decideBatch([abortMsg('gone')]);
    expect(() => h.store.decideBatch([commitMsg('gone')])).toThrow(AssertionError);
    expect(h.store.txnState('never').state).toBe('UNKNOWN');
  });
});

describe('batches', () => {
  it('one NO in a batch leaves the others YES, all durable across a restart', () => {
    const votes = h.store.prepareBatch([
      prepareMsg(h.clock, 'a', [op('ADD', 'accounts', { id: 1n }, { balance: -1n })]),
      prepareMsg(h.clock, 'b', [
        op('ADD', 'accounts', { id: 1n }, { balance: -100n }),
        op('INSERT', 'items', { id: 50n }),
      ]),
      prepareMsg(h.clock, 'c', [op('INSERT', 'items', { id: 51n })]),
      prepareMsg(h.clock, 'd', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })]),
    ]);
    expect(votes.map((v) => v.vote)).toEqual(['YES', 'NO', 'YES', 'NO']);
    expect(votes[3]).toMatchObject({
      vote: 'NO',
      reasonCode: 'CONFLICT',
      reason: expect.stringMatching(/held by prepared transaction a/) as unknown,
    });
    expect(internalRows(h.file, '_twopc_pending').map((r) => r.txn_id)).toEqual(['a', 'c']);
    h.reopen();
    expect(h.store.listInDoubt().map((t) => t.txnId)).toEqual(['a', 'c']);
    expect(h.store.decideBatch([commitMsg('a'), commitMsg('c'), abortMsg('b')]).map((a) => a.state)).toEqual([
      'COMMITTED',
      'COMMITTED',
      'ABORTED',
    ]);
    expect(h.store.read('accounts', { id: 1n }).row.balance).toBe(9n);
    expect(h.store.read('items', { id: 50n }).found).toBe(false);
    expect(h.store.read('items', { id: 51n }).found).toBe(true);
  });

  it('a batch over the limit is refused before anything is written', () => {
    const many = Array.from({ length: 1_025 }, (_, i) => prepareMsg(h.clock, `m${i}`, []));
    expect(() => h.store.prepareBatch(many)).toThrow(TwopcError);
    expect(h.store.txnState('m0').state).toBe('UNKNOWN');
  });
});

describe('one phase and read only', () => {
  it('one-phase commits at once, holds nothing, and is not applied twice by a repeated prepare', () => {
    const vote = prepareOne(h, 'op1', transfer, { onePhase: true });
    expect(vote).toEqual({ txnId: 'op1', vote: 'COMMITTED_ONE_PHASE' });
    expect(h.store.read('accounts', { id: 1n })).toMatchObject({ row: { balance: 7n }, version: 2n });
    expect(internalRows(h.file, '_twopc_locks')).toEqual([]);
    expect(internalRows(h.file, '_twopc_pending')).toEqual([]);
    expect(prepareOne(h, 'op1', transfer, { onePhase: true }).vote).toBe('COMMITTED_ONE_PHASE');
    expect(h.store.read('accounts', { id: 1n }).row.balance).toBe(7n);
    expect(
      noOf(prepareOne(h, 'op2', [op('ADD', 'accounts', { id: 1n }, { balance: -8n })], { onePhase: true }))
        .reasonCode,
    ).toBe('CONSTRAINT');
  });

  it('one-phase still respects other transactions locks', () => {
    prepareOne(h, 'holder', transfer);
    expect(noOf(prepareOne(h, 'op1', transfer, { onePhase: true })).reasonCode).toBe('CONFLICT');
  });

  it('read-only: validates, votes READ_ONLY and keeps nothing', () => {
    const before = h.dump();
    const read = (version: bigint) => [{ table: 'accounts', key: { id: 1n }, version }];
    expect(
      prepareOne(h, 'ro', [op('CHECK', 'accounts', { id: 2n }, {}, 1n)], {
        reads: read(1n),
        readOnlyOk: true,
      }).vote,
    ).toBe('READ_ONLY');
    expect(h.dump()).toEqual(before);
    expect(noOf(prepareOne(h, 'ro2', [], { reads: read(9n), readOnlyOk: true })).reasonCode).toBe('CONFLICT');
  });

  it('no writes without readOnlyOk: YES holding R locks until the decision', () => {
    const reads = [{ table: 'accounts', key: { id: 1n }, version: 1n }];
    expect(prepareOne(h, 'r1', [], { reads }).vote).toBe('YES');
    expect(noOf(prepareOne(h, 'w1', transfer)).reasonCode).toBe('CONFLICT');
    h.store.decideBatch([commitMsg('r1')]);
    expect(prepareOne(h, 'w2', transfer).vote).toBe('YES');
  });

  it('a prepare past its deadline votes NO TIMEOUT', () => {
    const vote = prepareOne(h, 'slow', transfer, { deadlineMs: h.clock.now - 1 });
    expect(noOf(vote)).toMatchObject({ reasonCode: 'TIMEOUT', invalid: false });
    expect(prepareOne(h, 'ontime', transfer, { deadlineMs: h.clock.now }).vote).toBe('YES');
  });
});

describe('restart', () => {
  it('a prepared transaction survives close and reopen with its locks, peers and writes, then commits', () => {
    h.clock.now += 5;
    prepareOne(h, 't1', [
      ...transfer,
      op('INSERT', 'accounts', { id: 3n }, { owner: 'cy', balance: 0n, email: 'cy@x' }),
    ]);
    h.reopen();
    expect(h.store.listInDoubt()).toEqual([
      {
        txnId: 't1',
        coordinatorId: 'coord-1',
        preparedAtMs: h.clock.now,
        peers: [{ shard: 'shard-b', address: '127.0.0.1:7402' }],
      },
    ]);
    expect(noOf(prepareOne(h, 't2', [op('ADD', 'accounts', { id: 2n }, { balance: 1n })])).reasonCode).toBe(
      'CONFLICT',
    );
    expect(
      noOf(
        prepareOne(h, 't3', [
          op('INSERT', 'accounts', { id: 4n }, { owner: 'd', balance: 0n, email: 'cy@x' }),
        ]),
      ).reasonCode,
    ).toBe('CONFLICT');
    expect(h.store.decideBatch([commitMsg('t1', 3n)])).toEqual([{ txnId: 't1', state: 'COMMITTED' }]);
    expect(h.store.read('accounts', { id: 3n }).row).toEqual({
      id: 3n,
      owner: 'cy',
      balance: 0n,
      email: 'cy@x',
    });
    expect(h.store.listInDoubt()).toEqual([]);
  });
});

describe('failpoints', () => {
  it('after-prepare-before-vote: the prepare is durable although no vote was returned', () => {
    configureFailpoints('participant.after-prepare-before-vote=error');
    expect(() => h.store.prepareBatch([prepareMsg(h.clock, 't1', transfer)])).toThrow(/failpoint/);
    configureFailpoints('');
    expect(h.store.txnState('t1').state).toBe('PREPARED');
    expect(prepareOne(h, 't1', transfer).vote).toBe('YES');
  });

  it('before-commit-applied: nothing is applied; after-commit-applied-before-ack: the commit is durable', () => {
    prepareOne(h, 't1', transfer);
    configureFailpoints('participant.before-commit-applied=error');
    expect(() => h.store.decideBatch([commitMsg('t1')])).toThrow(/failpoint/);
    expect(h.store.txnState('t1').state).toBe('PREPARED');
    configureFailpoints('participant.after-commit-applied-before-ack=error');
    expect(() => h.store.decideBatch([commitMsg('t1')])).toThrow(/failpoint/);
    expect(h.store.txnState('t1').state).toBe('COMMITTED');
    expect(h.store.read('accounts', { id: 1n }).row.balance).toBe(7n);
  });
});
