/**
 * The batcher's sync-replication path over a real ShardStore (SQLite file in a temp dir): a flush's
 * votes and acks are written at once but delivered only when the durability gate releases them, all
 * from one callback (so a Session coalesces them); a gate failure fails each of them as the gate's
 * error without undoing the local commit; and without a gate nothing changes — results are
 * delivered synchronously from the flush that wrote them.
 *
 * The gate is a small class implementing the batcher's `Durability` interface, released by hand;
 * the real DurabilityGate over a real shipper is tested in test/wal/durability-gate.test.ts and,
 * wired into the participant, in participant-replication.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import type { Ack, DecisionMessage, PrepareMessage, Vote } from '../../common/protocol.ts';
import { Batcher } from '../../participant/batcher.ts';
import type { Durability, Settled } from '../../participant/flush-writer.ts';
import { ShardStore } from '../../participant/shard-store.ts';
import { tempDir } from '../wal/helpers.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);';

/** Holds every release until the test calls `release()`. */
class ManualGate implements Durability {
  readonly pending: Array<(error?: unknown) => void> = [];
  private idleWaiters: Array<() => void> = [];

  hold(release: (error?: unknown) => void): void {
    this.pending.push(release);
  }

  /** Releases the oldest held flush (with `error`, if given). */
  release(error?: unknown): void {
    const next = this.pending.shift();
    if (next === undefined) throw new Error('nothing is held');
    next(error);
    if (this.pending.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  idle(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

let dir: string;
let serial = 0;
const stores: ShardStore[] = [];
beforeAll(() => {
  dir = tempDir('twopc-batcher-durability-');
});
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function openStore(): ShardStore {
  const store = ShardStore.open({
    path: path.join(dir, `s${++serial}.db`),
    shard: 'shard-a',
    schemaSql: SCHEMA,
  });
  stores.push(store);
  return store;
}

function prepare(txnId: string, k: number): PrepareMessage {
  return {
    txnId,
    ops: [{ table: 't', kind: 'INSERT', key: { k: BigInt(k) }, values: { v: txnId } }],
    reads: [],
    onePhase: false,
    readOnlyOk: false,
    peers: [{ shard: 'shard-b', address: '127.0.0.1:1' }],
    coordinatorId: 'coord-test',
    epoch: 1n,
    deadlineMs: Date.now() + 60_000,
  };
}

const commit = (txnId: string): DecisionMessage => ({ txnId, commit: true, decisionSeq: 1n, epoch: 1n });

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Batcher with a durability gate (sync replication)', () => {
  it('writes at once but delivers a flush only when the gate releases it, all from one callback', async () => {
    const store = openStore();
    const gate = new ManualGate();
    const batcher = new Batcher({ store, durability: gate });
    const settled: string[] = [];
    let inRelease = false;
    const onSettle = (id: string) => (r: Settled<Vote | Ack>) => {
      expect(inRelease, `${id} settled outside the gate's callback`).toBe(true);
      settled.push(
        `${id}:${r.ok ? JSON.stringify((r.value as Vote).vote ?? (r.value as Ack).state) : 'error'}`,
      );
    };
    batcher.submitPrepare(prepare('tx-1', 1), onSettle('tx-1'));
    batcher.submitPrepare(prepare('tx-2', 2), onSettle('tx-2'));
    await nextTurn();
    await nextTurn();
    // Written and fsynced (PREPARED on disk), but no vote given yet.
    expect(store.txnState('tx-1').state).toBe('PREPARED');
    expect(settled).toEqual([]);
    expect(gate.pending).toHaveLength(1); // one hold for the whole flush

    inRelease = true;
    gate.release();
    inRelease = false;
    expect(settled).toEqual(['tx-1:"YES"', 'tx-2:"YES"']);
    expect(batcher.stats()).toMatchObject({ heldFlushes: 1, heldFailures: 0 });

    // Decisions and prepares of one flush share one hold.
    settled.length = 0;
    batcher.submitDecision(commit('tx-1'), onSettle('c-1'));
    batcher.submitPrepare(prepare('tx-3', 3), onSettle('tx-3'));
    await nextTurn();
    await nextTurn();
    expect(store.txnState('tx-1').state).toBe('COMMITTED');
    expect(gate.pending).toHaveLength(1);
    inRelease = true;
    gate.release();
    inRelease = false;
    expect(settled).toEqual(['c-1:"COMMITTED"', 'tx-3:"YES"']);
  });

  it('a gate failure fails every held vote and ack with its error; the local commit stands', async () => {
    const store = openStore();
    const gate = new ManualGate();
    const batcher = new Batcher({ store, durability: gate });
    const yes = batcher.prepare(prepare('tx-a', 1));
    await nextTurn();
    gate.release();
    expect((await yes).vote).toBe('YES');

    const vote = batcher.prepare(prepare('tx-b', 2));
    const ack = batcher.decide(commit('tx-a'));
    await nextTurn();
    const unavailable = new TwopcError('UNAVAILABLE', 'the replica did not confirm the upload within 10 ms');
    gate.release(unavailable);
    await expect(vote).rejects.toBe(unavailable);
    await expect(ack).rejects.toBe(unavailable);
    expect(batcher.stats()).toMatchObject({ heldFlushes: 2, heldFailures: 1 });
    // Nothing is undone: tx-b stays prepared (the coordinator will abort it), tx-a is committed (the
    // coordinator re-sends the decision; the repeat is acknowledged once the gate lets it through).
    expect(store.txnState('tx-b').state).toBe('PREPARED');
    expect(store.txnState('tx-a').state).toBe('COMMITTED');
    const again = batcher.decide(commit('tx-a'));
    await nextTurn();
    gate.release();
    expect(await again).toMatchObject({ txnId: 'tx-a', state: 'COMMITTED' });
  });

  it('a message the store fails is answered at once: it wrote nothing to wait for', async () => {
    const store = openStore();
    const original = store.prepareBatch.bind(store);
    store.prepareBatch = (messages) => {
      if (messages.some((m) => m.txnId === 'tx-poison')) throw new Error('disk on fire');
      return original(messages);
    };
    const gate = new ManualGate();
    const batcher = new Batcher({ store, durability: gate });
    const outcomes: string[] = [];
    batcher.submitPrepare(prepare('tx-ok', 1), (r) => outcomes.push(`ok:${r.ok}`));
    batcher.submitPrepare(prepare('tx-poison', 2), (r) => outcomes.push(`poison:${r.ok}`));
    await nextTurn();
    expect(outcomes).toEqual(['poison:false']);
    gate.release();
    expect(outcomes).toEqual(['poison:false', 'ok:true']);
  });

  it('idle() and close() wait for held deliveries', async () => {
    const store = openStore();
    const gate = new ManualGate();
    const batcher = new Batcher({ store, durability: gate });
    const vote = batcher.prepare(prepare('tx-1', 1));
    await nextTurn();
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    await nextTurn();
    await nextTurn();
    expect(closed).toBe(false);
    gate.release();
    await closing;
    expect((await vote).vote).toBe('YES');
  });
});

describe('Batcher without a gate (no replication, or async)', () => {
  it('delivers every result synchronously from the flush that wrote it: no added latency', async () => {
    const store = openStore();
    const batcher = new Batcher({ store });
    const settled: string[] = [];
    batcher.submitPrepare(prepare('tx-1', 1), (r) => settled.push(`tx-1:${r.ok}`));
    batcher.submitPrepare(prepare('tx-2', 2), (r) => settled.push(`tx-2:${r.ok}`));
    batcher.submitDecision({ txnId: 'tx-0', commit: false, decisionSeq: 0n, epoch: 1n }, (r) =>
      settled.push(`a-0:${r.ok}`),
    );
    // The flush is the first setImmediate queued after the submits; this one runs right after it.
    const afterFlush = await new Promise<string[]>((resolve) => setImmediate(() => resolve([...settled])));
    expect(afterFlush).toEqual(['a-0:true', 'tx-1:true', 'tx-2:true']);
    expect(batcher.stats()).toMatchObject({ heldFlushes: 0, heldFailures: 0 });
  });
});
