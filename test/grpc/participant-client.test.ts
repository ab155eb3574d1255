/**
 * GrpcParticipantClient's Session framing and failure semantics, against a stub participant that
 * answers when the test says so (see stub-participant.ts), over real gRPC on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcParticipantClient } from '../../coordinator/grpc-participant-client.ts';
import { TwopcError } from '../../common/errors.ts';
import type { PrepareMessage } from '../../common/protocol.ts';
import { freePort } from '../helpers/ports.ts';
import {
  answerAll,
  startStubParticipant,
  type HeldMessage,
  type StubParticipant,
} from './stub-participant.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function prepare(txnId: string): PrepareMessage {
  return {
    txnId,
    ops: [{ table: 't', kind: 'UPSERT', key: { id: 1n }, values: { v: 'x' } }],
    reads: [],
    onePhase: false,
    readOnlyOk: false,
    peers: [],
    coordinatorId: 'c',
    epoch: 1n,
    deadlineMs: Date.now() + 10_000,
  };
}

function client(
  address: string,
  config: ConstructorParameters<typeof GrpcParticipantClient>[0]['config'] = {},
) {
  const c = new GrpcParticipantClient({ shard: 's1', address, config, random: () => 0.5 });
  cleanups.push(() => c.close());
  return c;
}

async function stub(onMessage: (m: HeldMessage) => void, port = 0): Promise<StubParticipant> {
  const s = await startStubParticipant(onMessage, port);
  cleanups.push(() => s.kill());
  return s;
}

async function rejection(p: Promise<unknown>): Promise<TwopcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TwopcError);
  return err as TwopcError;
}

describe('GrpcParticipantClient session', () => {
  it('sends the messages of one event-loop turn as one batch, bounded, and matches replies by seq', async () => {
    const s = await stub(answerAll);
    const c = client(s.address, { sessionBatchMessagesMax: 32 });
    const votes = await Promise.all(
      Array.from({ length: 100 }, (_, i) => c.prepare(prepare(`tx${i}`), 5_000)),
    );
    expect(votes.map((v) => v.txnId)).toEqual(Array.from({ length: 100 }, (_, i) => `tx${i}`));
    expect(votes.every((v) => v.vote === 'YES')).toBe(true);
    expect(s.batchSizes).toEqual([32, 32, 32, 4]);
    const acks = await Promise.all([
      c.decide({ txnId: 'tx1', commit: true, decisionSeq: 1n, epoch: 1n }, 5_000),
      c.decide({ txnId: 'tx2', commit: true, decisionSeq: 2n, epoch: 1n }, 5_000),
    ]);
    expect(acks).toEqual([
      { txnId: 'tx1', state: 'COMMITTED' },
      { txnId: 'tx2', state: 'COMMITTED' },
    ]);
    expect(s.batchSizes.at(-1)).toBe(2);
    expect(s.sessions).toBe(1);
    expect(c.stats().sessionsOpened).toBe(1);
  });

  it('answers out of order and interleaved are matched to the right calls', async () => {
    const held: HeldMessage[] = [];
    const s = await stub((m) => held.push(m));
    const c = client(s.address);
    const calls = ['a', 'b', 'c'].map((id) => c.prepare(prepare(id), 5_000));
    await expect.poll(() => held.length).toBe(3);
    for (const m of [...held].reverse())
      m.reply({ vote: { txn_id: m.txnId, vote: m.txnId === 'b' ? 'NO' : 'YES', reason_code: 'CONFLICT' } });
    const votes = await Promise.all(calls);
    expect(votes.map((v) => `${v.txnId}:${v.vote}`)).toEqual(['a:YES', 'b:NO', 'c:YES']);
  });

  it('a message without a reply rejects DEADLINE_EXCEEDED at its own timeout; a late reply is ignored', async () => {
    const held: HeldMessage[] = [];
    const s = await stub((m) => held.push(m));
    const c = client(s.address);
    const started = Date.now();
    const slow = c.prepare(prepare('slow'), 200);
    const fast = c.prepare(prepare('fast'), 5_000);
    await expect.poll(() => held.length).toBe(2);
    held.find((m) => m.txnId === 'fast')?.reply({ vote: { txn_id: 'fast', vote: 'YES' } });
    expect((await fast).vote).toBe('YES');
    const err = await rejection(slow);
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    held.find((m) => m.txnId === 'slow')?.reply({ vote: { txn_id: 'slow', vote: 'YES' } });
    // The session is still good after the stray reply.
    const next = c.decide({ txnId: 'n', commit: false, decisionSeq: 0n, epoch: 1n }, 2_000);
    await expect.poll(() => held.length).toBe(3);
    held[2]?.reply({ ack: { txn_id: 'n', state: 'ABORTED' } });
    expect(await next).toEqual({ txnId: 'n', state: 'ABORTED' });
  });

  it('an error reply rejects with its code and leaves the stream up', async () => {
    const s = await stub((m) =>
      m.txnId === 'bad' ? m.reply({ error: 'RESOURCE_EXHAUSTED: queue full' }) : answerAll(m),
    );
    const c = client(s.address);
    const err = await rejection(c.prepare(prepare('bad'), 2_000));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toMatch(/queue full/);
    expect((await c.prepare(prepare('good'), 2_000)).vote).toBe('YES');
    expect(s.sessions).toBe(1);
  });

  it('a broken stream rejects every pending call UNAVAILABLE at once, and the next call reconnects', async () => {
    const held: HeldMessage[] = [];
    const first = await stub((m) => held.push(m));
    const c = client(first.address);
    const pending = [
      c.prepare(prepare('p1'), 10_000),
      c.decide({ txnId: 'd1', commit: true, decisionSeq: 1n, epoch: 1n }, 10_000),
    ];
    await expect.poll(() => held.length).toBe(2);
    const broke = Date.now();
    first.kill();
    for (const p of pending) {
      const err = await rejection(p);
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.message).toMatch(/session broke/);
    }
    expect(Date.now() - broke).toBeLessThan(2_000);
    const second = await stub(answerAll, first.port);
    expect((await c.prepare(prepare('p2'), 5_000)).vote).toBe('YES');
    expect(second.sessions).toBe(1);
    expect(c.stats().sessionsOpened).toBe(2);
  });

  it('an unreachable participant rejects UNAVAILABLE within the timeout, not later', async () => {
    const port = await freePort();
    const c = client(`127.0.0.1:${port}`);
    const started = Date.now();
    const err = await rejection(c.prepare(prepare('x'), 300));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/not reachable within 300 ms/);
    expect(Date.now() - started).toBeLessThan(1_500);
    const unary = await rejection(c.read('t', { id: 1n }, 300));
    expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(unary.code);
  });

  it('waits for a participant that comes up within the timeout (wait-for-ready)', async () => {
    const port = await freePort();
    const c = client(`127.0.0.1:${port}`);
    const vote = c.prepare(prepare('w'), 5_000);
    await new Promise((r) => setTimeout(r, 300));
    await stub(answerAll, port);
    expect((await vote).vote).toBe('YES');
  });

  it('a wrong reply (another txn, or an ack for a prepare) rejects INTERNAL instead of resolving', async () => {
    const s = await stub((m) => m.reply({ ack: { txn_id: m.txnId, state: 'COMMITTED' } }));
    const c = client(s.address);
    const err = await rejection(c.prepare(prepare('mixed'), 2_000));
    expect(err.code).toBe('INTERNAL');
  });

  it('bounds the messages in flight', async () => {
    const s = await stub(() => undefined);
    const c = client(s.address, { inflightMessagesMax: 2 });
    const held = [c.prepare(prepare('1'), 200), c.prepare(prepare('2'), 200)];
    const err = await rejection(c.prepare(prepare('3'), 200));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    for (const p of held) await rejection(p);
  });

  it('close() rejects pending calls and refuses new ones', async () => {
    const s = await stub(() => undefined);
    const c = client(s.address);
    const p = c.prepare(prepare('1'), 5_000);
    await expect.poll(() => s.batchSizes.length).toBe(1);
    c.close();
    expect((await rejection(p)).code).toBe('UNAVAILABLE');
    expect((await rejection(c.prepare(prepare('2'), 5_000))).code).toBe('UNAVAILABLE');
  });
});
