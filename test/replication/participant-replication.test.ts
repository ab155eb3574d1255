/**
 * WAL shipping wired into the participant server (in process, real gRPC on loopback, real SQLite
 * files, real replicas): in sync mode a vote or an ack reaches the coordinator only once the replica
 * holds it (checked by restoring the replica the moment the answer arrives), replies released by the
 * gate still travel as one Session batch, a replica that cannot be reached turns votes into
 * UNAVAILABLE within the wait bound; in async mode nothing waits, and close() ships what is left.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { silentLogger } from '../../common/log.ts';
import { type Pb } from '../../common/pb-fields.ts';
import { CHANNEL_OPTIONS, loadServices } from '../../common/proto.ts';
import { sessionRequestToPb } from '../../common/protocol-codec.ts';
import type { DecisionMessage, PrepareMessage } from '../../common/protocol.ts';
import { GrpcParticipantClient } from '../../coordinator/grpc-participant-client.ts';
import {
  startParticipantServer,
  type ParticipantServer,
  type ReplicationOptions,
} from '../../participant/participant-server.ts';
import { listGenerations, restoreFrom, tempDir, useS3rverCredentials } from '../wal/helpers.ts';

const SHARD = 'shard-a';
const SCHEMA = 'CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);';

let dir: string;
let serial = 0;
const cleanups: Array<() => unknown> = [];
beforeAll(() => {
  useS3rverCredentials();
  dir = tempDir('twopc-participant-replication-');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function participant(
  replication: Omit<ReplicationOptions, 'replicaUrl'> & { replicaUrl?: string },
): Promise<{ server: ParticipantServer; replicaUrl: string; client: GrpcParticipantClient }> {
  const n = ++serial;
  const replicaUrl = replication.replicaUrl ?? `file://${path.join(dir, `replica-${n}`)}`;
  const server = await startParticipantServer({
    shard: SHARD,
    listen: '127.0.0.1:0',
    dataDir: path.join(dir, `data-${n}`),
    schemaSql: SCHEMA,
    logger: silentLogger,
    replication: { ...replication, replicaUrl },
  });
  cleanups.push(() => server.close());
  const client = new GrpcParticipantClient({ shard: SHARD, address: server.address });
  cleanups.push(() => client.close());
  return { server, replicaUrl, client };
}

function insert(txnId: string, k: number): PrepareMessage {
  return {
    txnId,
    ops: [{ table: 't', kind: 'INSERT', key: { k: BigInt(k) }, values: { v: txnId } }],
    reads: [],
    onePhase: false,
    readOnlyOk: false,
    peers: [{ shard: 'shard-b', address: '127.0.0.1:1' }],
    coordinatorId: 'coord-test',
    epoch: 1n,
    deadlineMs: Date.now() + 30_000,
  };
}

const decision = (txnId: string, commit: boolean): DecisionMessage => ({
  txnId,
  commit,
  decisionSeq: commit ? 1n : 0n,
  epoch: 1n,
});

interface Restored {
  readonly states: Record<string, string>;
  readonly keys: number[];
}

/** Restores the replica's latest state into a fresh file and reads it. */
async function restoreLatest(replicaUrl: string): Promise<Restored> {
  const output = path.join(dir, `restored-${++serial}.db`);
  await restoreFrom(replicaUrl, output);
  const db = new Database(output, { readonly: true });
  try {
    const states = Object.fromEntries(
      (db.prepare('SELECT txn_id, state FROM _twopc_txns').all() as { txn_id: string; state: string }[]).map(
        (r) => [r.txn_id, r.state],
      ),
    );
    const keys = (db.prepare('SELECT k FROM t ORDER BY k').all() as { k: number }[]).map((r) => r.k);
    return { states, keys };
  } finally {
    db.close();
  }
}

async function rejection(p: Promise<unknown>): Promise<TwopcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TwopcError);
  return err as TwopcError;
}

describe('participant with sync WAL shipping', () => {
  it('answers a vote and an ack only once the replica holds them', async () => {
    const { server, replicaUrl, client } = await participant({ mode: 'sync', syncIntervalMs: 60_000 });
    expect(server.shipping?.mode).toBe('sync');
    expect(await client.prepare(insert('tx-1', 1), 10_000)).toMatchObject({ vote: 'YES' });
    // The background interval is a minute: only the gate can have shipped it.
    expect((await restoreLatest(replicaUrl)).states).toEqual({ 'tx-1': 'PREPARED' });
    expect(await client.decide(decision('tx-1', true), 10_000)).toMatchObject({ state: 'COMMITTED' });
    expect(await restoreLatest(replicaUrl)).toEqual({ states: { 'tx-1': 'COMMITTED' }, keys: [1] });
    expect(server.batcher.stats()).toMatchObject({ heldFlushes: 2, heldFailures: 0 });
  });

  it('sends the replies the gate releases together as one Session batch', async () => {
    const { server } = await participant({ mode: 'sync', syncIntervalMs: 60_000 });
    const Ctor = loadServices().participant;
    const raw = new Ctor(server.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as grpc.Client &
      Record<string, (...args: unknown[]) => unknown>;
    cleanups.push(() => raw.close());
    const session = raw.Session!(new grpc.Metadata()) as grpc.ClientDuplexStream<Pb, Pb>;
    const batches: number[] = [];
    session.on('data', (b: Pb) => batches.push((b.messages as Pb[]).length));
    session.write({
      messages: Array.from({ length: 50 }, (_, i) =>
        sessionRequestToPb(String(i + 1), { prepare: insert(`tx-c${i}`, 100 + i), shard: '' }),
      ),
    });
    await expect.poll(() => batches.reduce((a, b) => a + b, 0), { timeout: 10_000 }).toBe(50);
    expect(batches).toEqual([50]);
    expect(server.batcher.stats()).toMatchObject({ prepareBatches: 1, heldFlushes: 1 });
    session.end();
  });

  it('fails votes and acks as UNAVAILABLE within the wait bound while the replica is unreachable', async () => {
    const durableWaitMs = 300;
    const { server, client } = await participant({
      mode: 'sync',
      syncIntervalMs: 1_000,
      durableWaitMs,
      // Nothing listens on port 1; close() gives up on the upload quickly.
      replicaUrl: 's3://twopc-test/down?endpoint=http://127.0.0.1:1&region=us-east-1',
      shipper: { retryBackoffMsMax: 200, closeFlushTimeoutMs: 200 },
    });
    const started = Date.now();
    const err = await rejection(client.prepare(insert('tx-d', 1), 10_000));
    expect(Date.now() - started).toBeLessThan(durableWaitMs + 3_000);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/did not confirm the upload within 300 ms/);
    // Prepared locally all the same; the coordinator's abort applies (its ack is held and fails too).
    expect(server.store.txnState('tx-d').state).toBe('PREPARED');
    expect((await rejection(client.decide(decision('tx-d', false), 10_000))).code).toBe('UNAVAILABLE');
    expect(server.store.txnState('tx-d').state).toBe('ABORTED');
    expect(server.batcher.stats()).toMatchObject({ heldFailures: 2 });
  });
});

describe('participant with async WAL shipping', () => {
  it('answers without waiting for the replica, and close() ships what is committed', async () => {
    const { server, replicaUrl, client } = await participant({ mode: 'async', syncIntervalMs: 60_000 });
    expect(server.shipping?.mode).toBe('async');
    // The generation's first snapshot goes up at start, in the background.
    await expect
      .poll(async () => (await listGenerations(replicaUrl))[0]?.snapshots.length ?? 0, { timeout: 10_000 })
      .toBe(1);
    expect(await client.prepare(insert('tx-1', 1), 10_000)).toMatchObject({ vote: 'YES' });
    expect(await client.decide(decision('tx-1', true), 10_000)).toMatchObject({ state: 'COMMITTED' });
    expect(server.batcher.stats()).toMatchObject({ heldFlushes: 0 });
    // The next interval is a minute away: the replica has the generation's snapshot, not tx-1.
    expect((await restoreLatest(replicaUrl)).states).toEqual({});
    client.close();
    await server.close();
    expect(await restoreLatest(replicaUrl)).toEqual({ states: { 'tx-1': 'COMMITTED' }, keys: [1] });
  });

  it('without replication nothing is shipped', async () => {
    const dataDir = path.join(dir, 'no-replica');
    const server = await startParticipantServer({
      shard: SHARD,
      listen: '127.0.0.1:0',
      dataDir,
      schemaSql: SCHEMA,
      logger: silentLogger,
    });
    cleanups.push(() => server.close());
    expect(server.shipping).toBeUndefined();
    expect(fs.readdirSync(dataDir).sort()).toEqual([`${SHARD}.db`, `${SHARD}.db-shm`, `${SHARD}.db-wal`]);
  });
});

describe('start-up failures', () => {
  async function failedStart(dataDir: string, listen: string, replicaUrl: string): Promise<unknown> {
    return startParticipantServer({
      shard: SHARD,
      listen,
      dataDir,
      schemaSql: SCHEMA,
      logger: silentLogger,
      replication: { replicaUrl, mode: 'sync', syncIntervalMs: 1_000 },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
  }

  // SQLite deletes the -wal file when the last connection to the file closes: no -wal left means
  // the store and the shipper's connection were both closed.
  it('a bad replica URL fails the start and closes the store', async () => {
    const dataDir = path.join(dir, 'bad-replica');
    expect(await failedStart(dataDir, '127.0.0.1:0', 'ftp://nowhere')).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(fs.existsSync(path.join(dataDir, `${SHARD}.db`))).toBe(true);
    expect(fs.existsSync(path.join(dataDir, `${SHARD}.db-wal`))).toBe(false);
  });

  it('a failure after shipping started (the port is taken) closes shipping and the store', async () => {
    const { server: other } = await participant({ mode: 'async', syncIntervalMs: 60_000 });
    const dataDir = path.join(dir, 'port-taken');
    const replicaUrl = `file://${path.join(dir, 'port-taken-replica')}`;
    expect(await failedStart(dataDir, other.address, replicaUrl)).toMatchObject({
      code: 'FAILED_PRECONDITION',
    });
    expect(fs.existsSync(path.join(dataDir, `${SHARD}.db-wal`))).toBe(false);
  });
});
