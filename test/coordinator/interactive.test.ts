/**
 * Interactive transactions: Begin / Read / Write / Commit / Abort, the read set as ReadChecks,
 * optimistic validation, expiry and the errors for misuse.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TwopcError } from '../../common/errors.ts';
import { FaultyLog } from './faulty-log.ts';
import {
  add,
  balance,
  eventually,
  seedAccounts,
  sleep,
  startCluster,
  upsert,
  type TestCluster,
} from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

const code = async (p: Promise<unknown> | (() => unknown)) => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return (e as TwopcError).code;
  }
  return 'OK';
};

describe('interactive transactions', () => {
  it('reads, buffers writes and commits with the read set sent as ReadChecks (a read-only shard is a participant)', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const c = cluster.coordinator;
    const { txnId } = c.begin({ timeoutMs: 0, idempotencyKey: '' });
    const read = await c.read(txnId, 's1', 'accounts', { id: 1n });
    expect(read).toMatchObject({ found: true, version: 1n, row: { id: 1n, balance: 100n } });
    expect(c.write(txnId, [upsert('s2', 9, { balance: read.row.balance as bigint })])).toEqual({
      bufferedOps: 1,
    });
    expect(c.write(txnId, [add('s2', 1, 1n)])).toEqual({ bufferedOps: 2 });
    expect((await c.getTransaction(txnId)).state).toBe('ACTIVE');
    const result = await c.commit(txnId);
    expect(result).toMatchObject({ txnId, outcome: 'COMMITTED' });
    expect(result.decisionSeq).toBeGreaterThan(0n);
    expect(cluster.shard('s1').prepares[0]).toMatchObject({
      ops: [],
      reads: [{ table: 'accounts', key: { id: 1n }, version: 1n }],
      readOnlyOk: false,
    });
    expect(cluster.shard('s2').prepares[0]?.ops).toHaveLength(2);
    await eventually(() => cluster.shard('s2').state(txnId) === 'COMMITTED', 3_000, 'commit at s2');
    expect(balance(cluster, 's2', 9)).toBe(100n);
    expect(await c.commit(txnId)).toEqual(result);
    expect(await code(() => c.write(txnId, [add('s2', 1, 1n)]))).toBe('FAILED_PRECONDITION');
  });

  it('aborts with CONFLICT when a row read has changed before commit', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const c = cluster.coordinator;
    const { txnId } = c.begin({ timeoutMs: 0, idempotencyKey: '' });
    await c.read(txnId, 's1', 'accounts', { id: 1n });
    c.write(txnId, [add('s2', 1, 1n)]);
    expect((await c.execute({ ops: [add('s1', 1, 5n)], timeoutMs: 0, idempotencyKey: '' })).outcome).toBe(
      'COMMITTED',
    );
    const result = await c.commit(txnId);
    expect(result).toMatchObject({ outcome: 'ABORTED', abortReason: 'CONFLICT' });
    await eventually(() => cluster.shard('s2').state(txnId) === 'ABORTED', 3_000, 'abort at s2');
    expect(balance(cluster, 's2', 1)).toBe(100n);
  });

  it('commits a single-shard read-only transaction in one phase, validating its reads', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const c = cluster.coordinator;
    const { txnId } = c.begin({ timeoutMs: 0, idempotencyKey: '' });
    await c.read(txnId, 's3', 'accounts', { id: 2n });
    expect(await c.commit(txnId)).toMatchObject({ outcome: 'COMMITTED', decisionSeq: 0n });
    expect(cluster.shard('s3').prepares[0]).toMatchObject({
      onePhase: true,
      readOnlyOk: true,
      reads: [{ version: 1n }],
    });
  });

  it('abort ends the transaction: commit answers ABORTED, writes are refused', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const c = cluster.coordinator;
    const { txnId } = c.begin({ timeoutMs: 0, idempotencyKey: '' });
    c.write(txnId, [add('s1', 1, 1n), add('s2', 1, 1n)]);
    expect(await c.abort(txnId)).toBe('ABORTED');
    expect(await c.abort(txnId)).toBe('ABORTED');
    expect(await c.commit(txnId)).toMatchObject({ outcome: 'ABORTED', abortReason: 'CLIENT_ABORT' });
    expect(await code(() => c.write(txnId, [add('s1', 1, 1n)]))).toBe('FAILED_PRECONDITION');
    expect(await code(c.read(txnId, 's1', 'accounts', { id: 1n }))).toBe('FAILED_PRECONDITION');
    expect(cluster.shard('s1').calls.prepare).toBe(0);
  });

  it('answers NOT_FOUND for a transaction it never began', async () => {
    cluster = await startCluster();
    const c = cluster.coordinator;
    const unknown = 'tx_00000000000100000000000000000042';
    expect(await code(() => c.write(unknown, [add('s1', 1, 1n)]))).toBe('NOT_FOUND');
    expect(await code(c.read(unknown, 's1', 'accounts', { id: 1n }))).toBe('NOT_FOUND');
    expect(await code(c.commit(unknown))).toBe('NOT_FOUND');
    expect(await code(c.abort(unknown))).toBe('NOT_FOUND');
  });

  it('expires an open transaction at its timeout', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const c = cluster.coordinator;
    const { txnId } = c.begin({ timeoutMs: 80, idempotencyKey: '' });
    c.write(txnId, [add('s1', 1, 1n), add('s2', 1, 1n)]);
    await sleep(150);
    expect(await code(() => c.write(txnId, [add('s1', 1, 1n)]))).toBe('FAILED_PRECONDITION');
    expect(await c.commit(txnId)).toMatchObject({ outcome: 'ABORTED', abortReason: 'TIMEOUT' });
    expect(cluster.shard('s1').calls.prepare).toBe(0);
    expect(c.metrics().interactiveOpen).toBe(0);
  });

  it('bounds open transactions and validates writes and reads statically', async () => {
    cluster = await startCluster({ config: { interactiveTxnsMax: 2 } });
    const c = cluster.coordinator;
    const { txnId } = c.begin({ timeoutMs: 0, idempotencyKey: '' });
    c.begin({ timeoutMs: 0, idempotencyKey: '' });
    expect(await code(() => c.begin({ timeoutMs: 0, idempotencyKey: '' }))).toBe('RESOURCE_EXHAUSTED');
    expect(await code(() => c.write(txnId, [add('nope', 1, 1n)]))).toBe('INVALID_ARGUMENT');
    expect(await code(c.read(txnId, 's1', '', { id: 1n }))).toBe('INVALID_ARGUMENT');
    expect(await code(c.read(txnId, 's1', 'accounts', {}))).toBe('INVALID_ARGUMENT');
    expect(await code(c.read(txnId, 'nope', 'accounts', { id: 1n }))).toBe('INVALID_ARGUMENT');
    expect(c.write(txnId, [])).toEqual({ bufferedOps: 0 });
  });

  it('an Abort while a keyed commit forces its INTENT stops it before any Prepare', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    (cluster.log as FaultyLog).intentDelayMs = 100;
    const c = cluster.coordinator;
    const { txnId } = c.begin({ timeoutMs: 0, idempotencyKey: 'k-abort-intent' });
    c.write(txnId, [add('s1', 1, 1n), add('s2', 1, 1n)]);
    const committing = c.commit(txnId);
    await eventually(() => (cluster.log as FaultyLog).intentCalls === 1, 1_000, 'intent write started');
    expect(await c.abort(txnId)).toBe('ABORTED');
    expect(await committing).toMatchObject({ outcome: 'ABORTED', abortReason: 'CLIENT_ABORT' });
    expect(cluster.shard('s1').calls.prepare + cluster.shard('s2').calls.prepare).toBe(0);
  });

  it('a keyed interactive transaction retried after a restart answers with the first outcome', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const run = async () => {
      const c = cluster.coordinator;
      const { txnId } = c.begin({ timeoutMs: 0, idempotencyKey: 'k-int' });
      expect(c.begin({ timeoutMs: 0, idempotencyKey: 'k-int' }).txnId).toBe(txnId);
      c.write(txnId, [add('s1', 1, -1n), add('s2', 1, 1n)]);
      return c.commit(txnId);
    };
    const first = await run();
    expect(first.outcome).toBe('COMMITTED');
    await cluster.restart();
    expect(await run()).toEqual(first);
    expect(balance(cluster, 's2', 1)).toBe(101n);
  });
});
