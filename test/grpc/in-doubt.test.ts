/**
 * The participant server's in-doubt resolution over gRPC: cooperative termination through peers'
 * GetTxnState(abort_if_unknown), and asking the coordinator's GetTransaction.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import type { PrepareMessage } from '../../common/protocol.ts';
import { startCoordinatorServer } from '../../coordinator/coordinator-server.ts';
import { startParticipantServer, type ParticipantServer } from '../../participant/participant-server.ts';
import { freePort } from '../helpers/ports.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);';
/** Resolve quickly: these transactions are in doubt on purpose. */
const FAST = { inDoubtAfterMs: 50, scanIntervalMs: 50, retryBackoff: { baseMs: 20, maxMs: 100 } };

let dir: string;
const cleanups: Array<() => unknown> = [];
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-indoubt-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let serial = 0;
async function participant(
  shard: string,
  extra: { coordinatorAddress?: string } = {},
): Promise<ParticipantServer> {
  const server = await startParticipantServer({
    shard,
    listen: '127.0.0.1:0',
    dataDir: path.join(dir, `${shard}-${++serial}`),
    schemaSql: SCHEMA,
    logger: silentLogger,
    inDoubt: FAST,
    ...extra,
  });
  cleanups.push(() => server.close());
  return server;
}

function put(txnId: string, peers: Array<{ shard: string; address: string }>): PrepareMessage {
  return {
    txnId,
    ops: [{ table: 'kv', kind: 'UPSERT', key: { k: txnId }, values: { v: 1n } }],
    reads: [],
    onePhase: false,
    readOnlyOk: false,
    peers,
    coordinatorId: 'gone',
    epoch: 1n,
    deadlineMs: Date.now() + 60_000,
  };
}

const peerOf = (p: ParticipantServer) => ({ shard: p.store.shard, address: p.address });

describe('in-doubt resolution over gRPC', () => {
  it('a peer that never saw the transaction tombstones it; both end ABORTED', async () => {
    const a = await participant('a');
    const b = await participant('b');
    expect(await a.batcher.prepare(put('t-abort', [peerOf(b)]))).toMatchObject({ vote: 'YES' });
    await expect.poll(() => a.store.txnState('t-abort').state, { timeout: 5_000 }).toBe('ABORTED');
    expect(b.store.txnState('t-abort').state).toBe('ABORTED');
    // The tombstone refuses a late prepare at the peer.
    expect(await b.batcher.prepare(put('t-abort', [peerOf(a)]))).toMatchObject({ vote: 'NO' });
  });

  it('a peer that committed proves the commit, with its decision seq', async () => {
    const a = await participant('a');
    const b = await participant('b');
    expect(await b.batcher.prepare(put('t-commit', [peerOf(a)]))).toMatchObject({ vote: 'YES' });
    expect(
      await b.batcher.decide({ txnId: 't-commit', commit: true, decisionSeq: 41n, epoch: 1n }),
    ).toMatchObject({
      state: 'COMMITTED',
    });
    expect(await a.batcher.prepare(put('t-commit', [peerOf(b)]))).toMatchObject({ vote: 'YES' });
    await expect.poll(() => a.store.txnState('t-commit').state, { timeout: 5_000 }).toBe('COMMITTED');
    expect(a.store.txnState('t-commit').decisionSeq).toBe(41n);
    expect(a.store.read('kv', { k: 't-commit' }).found).toBe(true);
  });

  it('asks the coordinator, which presumes abort for a transaction it has no record of', async () => {
    const port = await freePort();
    const a = await participant('a', { coordinatorAddress: `127.0.0.1:${port}` });
    const coordinator = await startCoordinatorServer({
      listen: `127.0.0.1:${port}`,
      dataDir: path.join(dir, `coordinator-${++serial}`),
      participants: [peerOf(a)],
      logger: silentLogger,
    });
    cleanups.push(() => coordinator.close());
    const txnId = `tx_${Date.now().toString(16).padStart(12, '0')}${'ab'.repeat(10)}`;
    expect(await a.batcher.prepare(put(txnId, []))).toMatchObject({ vote: 'YES' });
    await expect.poll(() => a.store.txnState(txnId).state, { timeout: 10_000 }).toBe('ABORTED');
  });
});
