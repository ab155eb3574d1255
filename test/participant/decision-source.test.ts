/**
 * GrpcDecisionSource against real servers on 127.0.0.1:0: two participant servers and a coordinator
 * server in this process, talked to over real channels.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { silentLogger } from '../../common/log.ts';
import { startCoordinatorServer, type CoordinatorServer } from '../../coordinator/coordinator-server.ts';
import { GrpcDecisionSource, decisionQueryTimeoutMs } from '../../participant/decision-source.ts';
import { startParticipantServer, type ParticipantServer } from '../../participant/participant-server.ts';
import { freePort } from '../helpers/ports.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);';

let dir: string;
let s1: ParticipantServer;
let s2: ParticipantServer;
let coordinator: CoordinatorServer;
let source: GrpcDecisionSource;

const wellFormedId = (suffix: string) =>
  `tx_${Date.now().toString(16).padStart(12, '0')}${suffix.padStart(20, '0')}`;
const peerOf = (p: ParticipantServer) => ({ shard: p.store.shard, address: p.address });

async function rejection(p: Promise<unknown>): Promise<TwopcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TwopcError);
  return err as TwopcError;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-decision-source-'));
  const start = (shard: string) =>
    startParticipantServer({
      shard,
      listen: '127.0.0.1:0',
      dataDir: path.join(dir, shard),
      schemaSql: SCHEMA,
      logger: silentLogger,
    });
  [s1, s2] = await Promise.all([start('s1'), start('s2')]);
  coordinator = await startCoordinatorServer({
    listen: '127.0.0.1:0',
    dataDir: path.join(dir, 'coordinator'),
    participants: [peerOf(s1), peerOf(s2)],
    logger: silentLogger,
  });
  source = new GrpcDecisionSource(coordinator.address);
});

afterAll(async () => {
  source?.close();
  await coordinator?.close();
  await Promise.all([s1?.close(), s2?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('asking the coordinator (GetTransaction)', () => {
  it('a logged commit is COMMIT with its decision seq', async () => {
    const outcome = await coordinator.coordinator.execute({
      ops: ['s1', 's2'].map((shard) => ({
        shard,
        table: 'kv',
        kind: 'UPSERT',
        key: { k: 'a' },
        values: { v: 1n },
      })),
      timeoutMs: 0,
      idempotencyKey: '',
    });
    expect(outcome).toMatchObject({ outcome: 'COMMITTED' });
    expect(outcome.decisionSeq).toBeGreaterThan(0n);
    expect(await source.askCoordinator!(outcome.txnId)).toEqual({
      kind: 'COMMIT',
      decisionSeq: outcome.decisionSeq,
    });
  });

  it('an id the coordinator never decided is settled there by presumed abort: ABORT', async () => {
    expect(await source.askCoordinator!(wellFormedId('ab'))).toEqual({ kind: 'ABORT' });
  });

  it("NOT_FOUND (an id not shaped like the coordinator's) is not an answer: it rejects", async () => {
    const err = await rejection(source.askCoordinator!('not-a-coordinator-id'));
    expect(err.code).toBe('NOT_FOUND');
  });

  it('an unreachable coordinator rejects UNAVAILABLE, well within the deadline', async () => {
    const down = new GrpcDecisionSource(`127.0.0.1:${await freePort()}`);
    try {
      const started = Date.now();
      expect((await rejection(down.askCoordinator!(wellFormedId('cd')))).code).toBe('UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(decisionQueryTimeoutMs);
    } finally {
      down.close();
    }
  });

  it('with several coordinator replicas, one that is down is skipped and the next one answers', async () => {
    const replicas = new GrpcDecisionSource(`127.0.0.1:${await freePort()}, ${coordinator.address}`);
    try {
      expect(await replicas.askCoordinator!(wellFormedId('f0'))).toEqual({ kind: 'ABORT' });
      // Every replica down: the last error, not an answer.
      const allDown = new GrpcDecisionSource(`127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`);
      expect((await rejection(allDown.askCoordinator!(wellFormedId('fd')))).code).toBe('UNAVAILABLE');
      allDown.close();
    } finally {
      replicas.close();
    }
  });

  it('without a coordinator address there is no coordinator to ask', () => {
    const peersOnly = new GrpcDecisionSource();
    expect(peersOnly.askCoordinator).toBeUndefined();
    peersOnly.close();
  });
});

describe('asking a peer (GetTxnState, abort_if_unknown)', () => {
  it('a peer that never saw the transaction writes a tombstone and says ABORTED', async () => {
    const txnId = wellFormedId('ef');
    expect(await source.askPeer(peerOf(s2), txnId)).toEqual({ state: 'ABORTED', decisionSeq: 0n });
    expect(s2.store.txnState(txnId).state).toBe('ABORTED');
  });

  it('a peer that committed says COMMITTED with its decision seq', async () => {
    const txnId = wellFormedId('12');
    await s1.batcher.prepare({
      txnId,
      ops: [{ table: 'kv', kind: 'UPSERT', key: { k: txnId }, values: { v: 2n } }],
      reads: [],
      onePhase: false,
      readOnlyOk: false,
      peers: [peerOf(s2)],
      coordinatorId: 'test',
      epoch: 1n,
      deadlineMs: Date.now() + 60_000,
    });
    await s1.batcher.decide({ txnId, commit: true, decisionSeq: 99n, epoch: 1n });
    expect(await source.askPeer(peerOf(s1), txnId)).toEqual({ state: 'COMMITTED', decisionSeq: 99n });
  });

  it('a peer serving another shard at that address refuses, and writes nothing', async () => {
    const txnId = wellFormedId('34');
    const err = await rejection(source.askPeer({ shard: 's9', address: s1.address }, txnId));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(s1.store.txnState(txnId).state).toBe('UNKNOWN');
  });

  it('an unreachable peer rejects UNAVAILABLE; a closed source refuses every call', async () => {
    const txnId = wellFormedId('56');
    const dead = { shard: 's3', address: `127.0.0.1:${await freePort()}` };
    expect((await rejection(source.askPeer(dead, txnId))).code).toBe('UNAVAILABLE');
    const closed = new GrpcDecisionSource(coordinator.address);
    closed.close();
    expect((await rejection(closed.askPeer(peerOf(s1), txnId))).code).toBe('UNAVAILABLE');
    expect((await rejection(closed.askCoordinator!(txnId))).code).toBe('UNAVAILABLE');
    expect(s1.store.txnState(txnId).state).toBe('UNKNOWN');
  });
});
