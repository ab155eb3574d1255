/**
 * The Participant service over a real ShardStore (SQLite file in a temp dir) and real gRPC on
 * loopback: Session and unary paths, group commit, error isolation, shard identity, graceful close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareToPb, decisionToPb, sessionRequestToPb } from '../../common/protocol-codec.ts';
import { type Pb } from '../../common/pb-fields.ts';
import { TwopcError } from '../../common/errors.ts';
import { silentLogger } from '../../common/log.ts';
import { CHANNEL_OPTIONS, loadServices } from '../../common/proto.ts';
import type { PrepareMessage } from '../../common/protocol.ts';
import { GrpcParticipantClient } from '../../coordinator/grpc-participant-client.ts';
import { Batcher } from '../../participant/batcher.ts';
import { startParticipantServer, type ParticipantServer } from '../../participant/participant-server.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL CHECK (balance >= 0));
`;

let dir: string;
const cleanups: Array<() => unknown> = [];
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-grpc-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let serial = 0;
async function participant(
  options: { shard?: string; listen?: string; dataDir?: string; queuedMessagesMax?: number } = {},
): Promise<ParticipantServer> {
  const shard = options.shard ?? `s${++serial}`;
  const server = await startParticipantServer({
    shard,
    listen: options.listen ?? '127.0.0.1:0',
    dataDir: options.dataDir ?? path.join(dir, `${shard}-${serial}`),
    schemaSql: SCHEMA,
    logger: silentLogger,
    ...(options.queuedMessagesMax === undefined
      ? {}
      : { batcher: { queuedMessagesMax: options.queuedMessagesMax } }),
  });
  cleanups.push(() => server.close());
  return server;
}

function client(server: ParticipantServer, shard = server.store.shard): GrpcParticipantClient {
  const c = new GrpcParticipantClient({ shard, address: server.address });
  cleanups.push(() => c.close());
  return c;
}

function insert(txnId: string, id: bigint, balance = 100n, onePhase = false): PrepareMessage {
  return {
    txnId,
    ops: [{ table: 'accounts', kind: 'INSERT', key: { id }, values: { owner: `o${id}`, balance } }],
    reads: [],
    onePhase,
    readOnlyOk: false,
    peers: [{ shard: 'other', address: '127.0.0.1:1' }],
    coordinatorId: 'c1',
    epoch: 1n,
    deadlineMs: Date.now() + 30_000,
  };
}

const commit = (txnId: string, decisionSeq = 1n) => ({ txnId, commit: true, decisionSeq, epoch: 1n });

/** A raw Participant client (common/proto.ts's loader), for what the typed client never sends. */
function rawParticipant(address: string, shard?: string) {
  const Ctor = loadServices().participant;
  const c = new Ctor(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as grpc.Client &
    Record<string, (...args: unknown[]) => unknown>;
  cleanups.push(() => c.close());
  const md = () => {
    const m = new grpc.Metadata();
    if (shard !== undefined) m.set('twopc-shard', shard);
    return m;
  };
  return {
    unary: (method: string, request: Pb): Promise<Pb> =>
      new Promise((resolve, reject) =>
        c[method]!(request, md(), { deadline: Date.now() + 10_000 }, (err: Error | null, r: Pb) =>
          err ? reject(err) : resolve(r),
        ),
      ),
    session: (): grpc.ClientDuplexStream<Pb, Pb> => c.Session!(md()) as grpc.ClientDuplexStream<Pb, Pb>,
  };
}

async function rejection(p: Promise<unknown>): Promise<TwopcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TwopcError);
  return err as TwopcError;
}

describe('participant service', () => {
  it('prepares and commits through the Session stream', async () => {
    const server = await participant();
    const c = client(server);
    expect(await c.prepare(insert('tx-a', 1n), 5_000)).toEqual({ txnId: 'tx-a', vote: 'YES' });
    expect((await c.listInDoubt(5_000)).map((t) => t.txnId)).toEqual(['tx-a']);
    expect((await c.read('accounts', { id: 1n }, 5_000)).found).toBe(false);
    expect(await c.decide(commit('tx-a', 7n), 5_000)).toEqual({ txnId: 'tx-a', state: 'COMMITTED' });
    const read = await c.read('accounts', { id: 1n }, 5_000);
    expect(read).toEqual({ found: true, row: { id: 1n, owner: 'o1', balance: 100n }, version: read.version });
    expect(read.version).toBeGreaterThan(0n);
    expect((await c.txnState('tx-a', 5_000)).state).toBe('COMMITTED');
    expect((await c.txnState('tx-a', 5_000)).decisionSeq).toBe(7n);
    expect(await c.query('SELECT owner FROM accounts WHERE id = ?', [1n], 5_000)).toEqual({
      columns: ['owner'],
      rows: [{ owner: 'o1' }],
    });
    const tables = await c.describe(5_000);
    expect(tables.map((t) => t.name)).toEqual(['accounts']);
    // Idempotent: the same messages again give the same answers.
    expect(await c.decide(commit('tx-a', 7n), 5_000)).toEqual({ txnId: 'tx-a', state: 'COMMITTED' });
  });

  it('prepares and commits through unary Prepare/Decide', async () => {
    const server = await participant();
    const raw = rawParticipant(server.address);
    expect(await raw.unary('Prepare', prepareToPb(insert('tx-u', 2n)))).toMatchObject({
      txn_id: 'tx-u',
      vote: 'YES',
    });
    expect(await raw.unary('Prepare', prepareToPb(insert('tx-u', 2n)))).toMatchObject({
      txn_id: 'tx-u',
      vote: 'YES',
    });
    expect(await raw.unary('Decide', decisionToPb(commit('tx-u')))).toMatchObject({
      txn_id: 'tx-u',
      state: 'COMMITTED',
    });
    expect(server.store.read('accounts', { id: 2n }).found).toBe(true);
    // Cooperative termination: asking with abort_if_unknown tombstones a transaction never seen.
    expect(await raw.unary('GetTxnState', { txn_id: 'tx-never', abort_if_unknown: true })).toMatchObject({
      state: 'ABORTED',
    });
    expect(await raw.unary('Prepare', prepareToPb(insert('tx-never', 3n)))).toMatchObject({ vote: 'NO' });
  });

  it('group-commits: many concurrent prepares (Session and unary) share few store calls', async () => {
    const server = await participant();
    const calls: number[] = [];
    const original = server.store.prepareBatch.bind(server.store);
    server.store.prepareBatch = (messages) => {
      calls.push(messages.length);
      return original(messages);
    };
    const c = client(server);
    const raw = rawParticipant(server.address);
    const n = 400;
    const votes = await Promise.all([
      ...Array.from({ length: n }, (_, i) => c.prepare(insert(`tx-b${i}`, BigInt(1000 + i)), 10_000)),
      ...Array.from({ length: 20 }, (_, i) =>
        raw
          .unary('Prepare', prepareToPb(insert(`tx-r${i}`, BigInt(5000 + i))))
          .then((v) => ({ vote: v.vote })),
      ),
    ]);
    expect(votes.every((v) => v.vote === 'YES')).toBe(true);
    const total = calls.reduce((a, b) => a + b, 0);
    expect(total).toBe(n + 20);
    expect(calls.length).toBeLessThan(total / 10);
    expect(Math.max(...calls)).toBeLessThanOrEqual(256);
    const stats = server.batcher.stats();
    expect(stats.prepares).toBe(n + 20);
    console.log(`group commit: ${total} prepares in ${calls.length} store calls (${calls.join(', ')})`);
  });

  it('answers a message that fails with `error` and keeps the stream and the rest of the batch', async () => {
    const server = await participant();
    const original = server.store.prepareBatch.bind(server.store);
    server.store.prepareBatch = (messages) => {
      if (messages.some((m) => m.txnId === 'tx-poison')) throw new Error('disk on fire');
      return original(messages);
    };
    const session = rawParticipant(server.address).session();
    const replies: Pb[] = [];
    session.on('data', (b: Pb) => replies.push(...(b.messages as Pb[])));
    session.write({
      messages: [
        sessionRequestToPb('1', { prepare: insert('tx-ok1', 10n), shard: '' }),
        {
          seq: '2',
          prepare: {
            ...prepareToPb(insert('tx-bad', 11n)),
            ops: [{ table: 'accounts', kind: 'OP_KIND_UNSPECIFIED', key: { id: { int_value: '1' } } }],
          },
        },
        sessionRequestToPb('3', { prepare: insert('tx-poison', 12n), shard: '' }),
        sessionRequestToPb('4', { prepare: insert('tx-ok2', 13n), shard: '' }),
        { seq: '5' },
      ],
    });
    await expect.poll(() => replies.length).toBe(5);
    const bySeq = new Map(replies.map((r) => [r.seq as string, r]));
    expect(bySeq.get('1')?.vote).toMatchObject({ vote: 'YES' });
    expect(bySeq.get('2')?.error).toMatch(/^INVALID_ARGUMENT: .*kind/);
    expect(bySeq.get('3')?.error).toMatch(/^INTERNAL: .*disk on fire/);
    expect(bySeq.get('4')?.vote).toMatchObject({ vote: 'YES' });
    expect(bySeq.get('5')?.error).toMatch(/^INVALID_ARGUMENT: .*no body/);
    session.write({ messages: [sessionRequestToPb('6', { decision: commit('tx-ok1') })] });
    await expect.poll(() => replies.length).toBe(6);
    expect(replies[5]).toMatchObject({ seq: '6', ack: { state: 'COMMITTED' } });
    session.end();
  });

  it('coalesces the replies of one flush into one ParticipantBatch', async () => {
    const server = await participant();
    const session = rawParticipant(server.address).session();
    const batches: number[] = [];
    session.on('data', (b: Pb) => batches.push((b.messages as Pb[]).length));
    session.write({
      messages: Array.from({ length: 50 }, (_, i) =>
        sessionRequestToPb(String(i + 1), { prepare: insert(`tx-c${i}`, BigInt(100 + i)), shard: '' }),
      ),
    });
    await expect.poll(() => batches.reduce((a, b) => a + b, 0)).toBe(50);
    expect(batches).toEqual([50]);
    session.end();
  });

  it('refuses calls meant for another shard (FAILED_PRECONDITION)', async () => {
    const server = await participant({ shard: 'right' });
    const wrong = client(server, 'wrong');
    const err = await rejection(wrong.read('accounts', { id: 1n }, 5_000));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toMatch(/serves shard "right", not "wrong"/);
    const prep = await rejection(wrong.prepare(insert('tx-w', 1n), 2_000));
    expect(prep.code).toBe('UNAVAILABLE');
    expect(prep.message).toMatch(/FAILED_PRECONDITION/);
    expect(server.store.txnState('tx-w').state).toBe('UNKNOWN');
  });

  it('maps store errors to statuses: unknown table, bad column, non-SELECT query', async () => {
    const server = await participant();
    const c = client(server);
    expect((await rejection(c.read('nope', { id: 1n }, 5_000))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(c.read('accounts', { nope: 1n }, 5_000))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(c.query('DELETE FROM accounts', [], 5_000))).code).toBe('INVALID_ARGUMENT');
    const vote = await c.prepare(
      {
        ...insert('tx-v', 1n),
        ops: [{ table: 'accounts', kind: 'INSERT', key: { id: 1n }, values: { nope: 1n } }],
      },
      5_000,
    );
    expect(vote).toMatchObject({ vote: 'NO', invalid: true });
  });

  it('bounds the queue: past queuedMessagesMax a message is refused RESOURCE_EXHAUSTED', async () => {
    const server = await participant();
    const batcher = new Batcher({
      store: server.store,
      config: { batchMessagesMax: 64, queuedMessagesMax: 100 },
    });
    const results = await Promise.allSettled(
      Array.from({ length: 130 }, (_, i) => batcher.prepare(insert(`tx-q${i}`, BigInt(i + 1)))),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBe(30);
    for (const r of refused) expect((r.reason as TwopcError).code).toBe('RESOURCE_EXHAUSTED');
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(100);
    expect(batcher.stats()).toMatchObject({ prepares: 100, prepareBatches: 2, batchMessagesPeak: 64 });
    await batcher.close();
    expect((await rejection(batcher.decide(commit('tx-q0')))).code).toBe('UNAVAILABLE');
  });

  it('close() answers what was queued, ends sessions, closes the store; a restarted participant is reconnected to', async () => {
    const dataDir = path.join(dir, 'restart');
    const first = await participant({ shard: 'r', dataDir });
    const c = client(first);
    expect(await c.prepare(insert('tx-warm', 500n), 5_000)).toMatchObject({ vote: 'YES' });
    const prepares = Array.from({ length: 20 }, (_, i) =>
      c.prepare(insert(`tx-x${i}`, BigInt(i + 1)), 10_000),
    );
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const started = Date.now();
    const closing = first.close();
    const outcomes = await Promise.allSettled(prepares);
    await closing;
    expect(Date.now() - started).toBeLessThan(2_000);
    // Each prepare was either written and answered YES, or refused before it was queued: never lost silently.
    for (const o of outcomes) {
      if (o.status === 'fulfilled') expect(o.value.vote).toBe('YES');
      else expect((o.reason as TwopcError).code).toBe('UNAVAILABLE');
    }
    const yes = outcomes.filter((o) => o.status === 'fulfilled').length;
    expect((await rejection(c.read('accounts', { id: 1n }, 300))).code).toMatch(
      /UNAVAILABLE|DEADLINE_EXCEEDED/,
    );
    const port = first.address.split(':')[1];
    const second = await participant({ shard: 'r', dataDir, listen: `127.0.0.1:${port}` });
    expect((await c.listInDoubt(5_000)).length).toBe(yes + 1);
    expect(await c.prepare(insert('tx-after', 999n), 5_000)).toMatchObject({ vote: 'YES' });
    expect(second.store.listInDoubt().length).toBe(yes + 2);
    expect(c.stats().sessionsOpened).toBe(2);
  });
});
