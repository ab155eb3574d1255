/**
 * The in-doubt resolver over real shard stores (SQLite files in a temp dir), decisions applied
 * through a real Batcher, and a small fake DecisionSource: a scripted coordinator, and peers that
 * are real ShardStores asked exactly as GetTxnState(abort_if_unknown) asks them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import type { Peer, ShardOp } from '../../common/protocol.ts';
import { Batcher } from '../../participant/batcher.ts';
import type { CoordinatorAnswer, DecisionSource, PeerAnswer } from '../../participant/decision-lookup.ts';
import {
  InDoubtResolver,
  resolveInDoubtResolverConfig,
  type InDoubtResolverConfig,
} from '../../participant/in-doubt-resolver.ts';
import { ShardStore } from '../../participant/shard-store.ts';
import { ManualClock, SCHEMA, abortMsg, commitMsg, internalRows, noOf, op, prepareMsg } from './helpers.ts';

const IN_DOUBT_AFTER_MS = 1_000;
const CONFIG: Partial<InDoubtResolverConfig> = {
  inDoubtAfterMs: IN_DOUBT_AFTER_MS,
  retryBackoff: { baseMs: 100, maxMs: 800 },
};
const SHARDS = ['shard-a', 'shard-b', 'shard-c'] as const;
type Shard = (typeof SHARDS)[number];
const peer = (shard: Shard): Peer => ({ shard, address: `${shard}.invalid:1` });

/** A DecisionSource whose coordinator is scripted and whose peers are real stores (or down). */
class FakeDecisionSource implements DecisionSource {
  coordinator: Map<string, CoordinatorAnswer> | 'unreachable' = 'unreachable';
  readonly down = new Set<Shard>();
  /** Every question asked, in order: 'coordinator txn' or 'shard-b txn'. */
  readonly asked: string[] = [];

  constructor(private readonly stores: ReadonlyMap<string, ShardStore>) {}

  askCoordinator(txnId: string): Promise<CoordinatorAnswer> {
    this.asked.push(`coordinator ${txnId}`);
    const answer = this.coordinator === 'unreachable' ? undefined : this.coordinator.get(txnId);
    if (answer === undefined) return Promise.reject(new TwopcError('UNAVAILABLE', 'coordinator down'));
    return Promise.resolve(answer);
  }

  askPeer(p: Peer, txnId: string): Promise<PeerAnswer> {
    this.asked.push(`${p.shard} ${txnId}`);
    const store = this.stores.get(p.shard);
    if (store === undefined || this.down.has(p.shard as Shard))
      return Promise.reject(new TwopcError('UNAVAILABLE', `${p.shard} down`));
    const info = store.txnState(txnId, { abortIfUnknown: true });
    return Promise.resolve({ state: info.state, decisionSeq: info.decisionSeq });
  }
}

let dir: string;
let clock: ManualClock;
let stores: Map<Shard, ShardStore>;
let a: ShardStore;
let batcher: Batcher;
let source: FakeDecisionSource;

function newResolver(
  options: { source?: DecisionSource; config?: Partial<InDoubtResolverConfig> } = {},
): InDoubtResolver {
  return new InDoubtResolver({
    store: { listInDoubt: () => a.listInDoubt(), decide: (m) => batcher.decide(m) },
    source: options.source ?? source,
    config: { ...CONFIG, ...options.config },
    clock,
    random: () => 0.999, // the top of every jitter range: delays are deterministic
  });
}

/** Two staged writes: 5 more on the seeded account 100, and a new item row. */
const deposit = (): ShardOp[] => [
  op('ADD', 'accounts', { id: 100n }, { balance: 5n }),
  op('INSERT', 'items', { id: 1n }, { qty: 1n }),
];

/** Prepares `txnId` on the given shards (each naming the others as peers); every vote must be YES. */
function prepare(txnId: string, on: readonly Shard[], ops: ShardOp[] = deposit()): void {
  for (const shard of on) {
    const store = stores.get(shard)!;
    const peers = SHARDS.filter((s) => s !== shard).map(peer);
    const [vote] = store.prepareBatch([prepareMsg(clock, txnId, ops, { peers })]);
    expect(vote?.vote, `${shard} votes on ${txnId}`).toBe('YES');
  }
}

const stateOf = (shard: Shard, txnId: string) => stores.get(shard)!.txnState(txnId);
const balance = () => a.read('accounts', { id: 100n }).row.balance;
const locksOf = (txnId: string) =>
  internalRows(a.path, '_twopc_locks').filter((r) => r.txn_id === txnId).length;
const pendingOf = (txnId: string) =>
  internalRows(a.path, '_twopc_pending').filter((r) => r.txn_id === txnId).length;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twopc-resolver-'));
  clock = new ManualClock();
  stores = new Map(
    SHARDS.map((shard) => [
      shard,
      ShardStore.open({ path: path.join(dir, `${shard}.db`), shard, schemaSql: SCHEMA, clock }),
    ]),
  );
  a = stores.get('shard-a')!;
  batcher = new Batcher({ store: a });
  source = new FakeDecisionSource(stores);
});

afterEach(async () => {
  await batcher.close();
  for (const store of stores.values()) store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('asking the coordinator', () => {
  it('COMMIT: applies the writes with the decision seq, releases everything, asks no peer', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.coordinator = new Map([['t1', { kind: 'COMMIT', decisionSeq: 42n }]]);
    clock.now += IN_DOUBT_AFTER_MS;
    const results = await newResolver().scan();
    expect(results.get('t1')).toBe('COMMIT');
    expect(stateOf('shard-a', 't1')).toMatchObject({ state: 'COMMITTED', decisionSeq: 42n });
    expect(balance()).toBe(55n);
    expect([locksOf('t1'), pendingOf('t1')]).toEqual([0, 0]);
    expect(source.asked).toEqual(['coordinator t1']);
    // The peer is none of the resolver's business: it still waits for its own decision.
    expect(stateOf('shard-b', 't1').state).toBe('PREPARED');
  });

  it('ABORT: drops the staged writes and the locks', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.coordinator = new Map([['t1', { kind: 'ABORT' }]]);
    clock.now += IN_DOUBT_AFTER_MS;
    expect((await newResolver().scan()).get('t1')).toBe('ABORT');
    expect(stateOf('shard-a', 't1').state).toBe('ABORTED');
    expect(balance()).toBe(50n);
    expect([locksOf('t1'), pendingOf('t1')]).toEqual([0, 0]);
    expect(source.asked).toEqual(['coordinator t1']);
  });

  it('PENDING: believed (peers are not asked), the transaction stays prepared and is asked again later', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.coordinator = new Map([['t1', { kind: 'PENDING' }]]);
    clock.now += IN_DOUBT_AFTER_MS;
    const resolver = newResolver();
    expect((await resolver.scan()).get('t1')).toBe('UNKNOWN');
    expect(source.asked).toEqual(['coordinator t1']);
    expect(stateOf('shard-a', 't1').state).toBe('PREPARED');
    expect(resolver.nextAttemptAtMs('t1')).toBeGreaterThan(clock.now);
    source.coordinator.set('t1', { kind: 'COMMIT', decisionSeq: 3n });
    clock.now = resolver.nextAttemptAtMs('t1')!;
    expect((await resolver.scan()).get('t1')).toBe('COMMIT');
  });

  it('a transaction prepared less than inDoubtAfterMs ago is left alone', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.coordinator = new Map([['t1', { kind: 'ABORT' }]]);
    const resolver = newResolver();
    clock.now += IN_DOUBT_AFTER_MS - 1;
    expect((await resolver.scan()).size).toBe(0);
    expect(source.asked).toEqual([]);
    expect(stateOf('shard-a', 't1').state).toBe('PREPARED');
    clock.now += 1;
    expect((await resolver.scan()).get('t1')).toBe('ABORT');
  });
});

describe('cooperative termination while the coordinator is unreachable', () => {
  it('a peer that COMMITTED proves the commit, and its decision seq is the one recorded', async () => {
    prepare('t1', ['shard-a', 'shard-b', 'shard-c']);
    stores.get('shard-b')!.decideBatch([commitMsg('t1', 7n)]);
    clock.now += IN_DOUBT_AFTER_MS;
    expect((await newResolver().scan()).get('t1')).toBe('COMMIT');
    expect(stateOf('shard-a', 't1')).toMatchObject({ state: 'COMMITTED', decisionSeq: 7n });
    expect(balance()).toBe(55n);
    expect(source.asked).toContain('coordinator t1');
    expect(source.asked).toContain('shard-b t1');
  });

  it('a peer that ABORTED (it voted NO) proves the transaction never committed', async () => {
    prepare('t1', ['shard-a', 'shard-c']);
    // shard-b votes NO: the transaction wants more than account 100 holds there.
    const [vote] = stores
      .get('shard-b')!
      .prepareBatch([prepareMsg(clock, 't1', [op('ADD', 'accounts', { id: 100n }, { balance: -1_000n })])]);
    expect(noOf(vote!).reasonCode).toBe('CONSTRAINT');
    clock.now += IN_DOUBT_AFTER_MS;
    expect((await newResolver().scan()).get('t1')).toBe('ABORT');
    expect(stateOf('shard-a', 't1').state).toBe('ABORTED');
    expect([locksOf('t1'), pendingOf('t1')]).toEqual([0, 0]);
  });

  it('a peer that never saw the transaction is tombstoned, so it aborts, and a late Prepare there is refused', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.down.add('shard-b');
    clock.now += IN_DOUBT_AFTER_MS;
    expect((await newResolver().scan()).get('t1')).toBe('ABORT');
    expect(stateOf('shard-a', 't1').state).toBe('ABORTED');
    const c = stores.get('shard-c')!;
    expect(internalRows(c.path, '_twopc_txns')).toMatchObject([
      { txn_id: 't1', state: 'ABORTED', tombstone: 1n },
    ]);
    const [late] = c.prepareBatch([prepareMsg(clock, 't1', deposit())]);
    expect(late?.vote).toBe('NO');
    expect(c.read('accounts', { id: 100n }).row.balance).toBe(50n);
  });

  it('with no coordinator configured, the peers are asked straight away', async () => {
    prepare('t1', ['shard-a', 'shard-b', 'shard-c']);
    stores.get('shard-b')!.decideBatch([commitMsg('t1', 9n)]);
    const noCoordinator: DecisionSource = { askPeer: (p, id) => source.askPeer(p, id) };
    clock.now += IN_DOUBT_AFTER_MS;
    expect((await newResolver({ source: noCoordinator }).scan()).get('t1')).toBe('COMMIT');
    expect(source.asked.some((q) => q.startsWith('coordinator'))).toBe(false);
  });

  it('peers that are PREPARED or unreachable know nothing: it stays in doubt, locks held, asked again with growing capped backoff', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.down.add('shard-c');
    clock.now += IN_DOUBT_AFTER_MS;
    const resolver = newResolver();
    const delays: number[] = [];
    for (let round = 0; round < 6; round++) {
      const before = source.asked.length;
      expect((await resolver.scan()).get('t1')).toBe('UNKNOWN');
      expect(source.asked.slice(before)).toEqual(['coordinator t1', 'shard-b t1', 'shard-c t1']);
      const next = resolver.nextAttemptAtMs('t1')!;
      delays.push(next - clock.now);
      // Not due yet: a scan in between asks nobody.
      clock.now = next - 1;
      expect((await resolver.scan()).size).toBe(0);
      expect(source.asked.length).toBe(before + 3);
      clock.now = next;
    }
    // random = 0.999: attempt n waits just under min(800, 100 * 2^n) ms.
    expect(delays).toEqual([200, 400, 800, 800, 800, 800]);
    expect(stateOf('shard-a', 't1').state).toBe('PREPARED');
    expect(locksOf('t1')).toBeGreaterThan(0);
    expect(pendingOf('t1')).toBe(2);
    expect(balance()).toBe(50n);
    // The locks still bite: a conflicting transaction is refused.
    const [conflicting] = a.prepareBatch([
      prepareMsg(clock, 't2', [op('ADD', 'accounts', { id: 100n }, { balance: 1n })]),
    ]);
    expect(noOf(conflicting!).reasonCode).toBe('CONFLICT');
    expect(stateOf('shard-b', 't1').state).toBe('PREPARED'); // nobody tombstoned a peer that voted YES
    expect(resolver.stats()).toMatchObject({ committed: 0, aborted: 0, unresolvedRounds: 6 });
    // The coordinator comes back: resolved at the next due scan.
    source.coordinator = new Map([['t1', { kind: 'COMMIT', decisionSeq: 11n }]]);
    expect((await resolver.scan()).get('t1')).toBe('COMMIT');
    expect(resolver.nextAttemptAtMs('t1')).toBeUndefined();
    expect(balance()).toBe(55n);
  });

  it('a peer that COMMITTED wins over one that ABORTED (which broke its promise)', async () => {
    prepare('t1', ['shard-a', 'shard-b', 'shard-c']);
    stores.get('shard-b')!.decideBatch([commitMsg('t1', 4n)]);
    stores.get('shard-c')!.decideBatch([abortMsg('t1')]); // a heuristic abort after a YES
    clock.now += IN_DOUBT_AFTER_MS;
    expect((await newResolver().scan()).get('t1')).toBe('COMMIT');
    expect(stateOf('shard-a', 't1')).toMatchObject({ state: 'COMMITTED', decisionSeq: 4n });
  });
});

describe('bookkeeping', () => {
  it('a decision that cannot be applied is retried, and one applied by someone else drops the retry state', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    prepare('t2', ['shard-a', 'shard-b'], [op('INSERT', 'items', { id: 77n }, { qty: 1n })]);
    source.coordinator = new Map([['t1', { kind: 'ABORT' }]]);
    clock.now += IN_DOUBT_AFTER_MS;
    let failDecide = true;
    const resolver = new InDoubtResolver({
      store: {
        listInDoubt: () => a.listInDoubt(),
        decide: (m) =>
          failDecide ? Promise.reject(new TwopcError('UNAVAILABLE', 'disk trouble')) : batcher.decide(m),
      },
      source,
      config: CONFIG,
      clock,
      random: () => 0.999,
    });
    const first = await resolver.scan();
    expect([first.get('t1'), first.get('t2')]).toEqual(['UNKNOWN', 'UNKNOWN']);
    expect(resolver.nextAttemptAtMs('t2')).toBeDefined();
    // t2 is decided by the coordinator's normal path meanwhile.
    a.decideBatch([abortMsg('t2')]);
    failDecide = false;
    clock.now = resolver.nextAttemptAtMs('t1')!;
    expect(await resolver.scan()).toEqual(new Map([['t1', 'ABORT']]));
    expect(resolver.nextAttemptAtMs('t2')).toBeUndefined();
    expect(stateOf('shard-a', 't1').state).toBe('ABORTED');
  });

  it('decides through the batcher: a resolver decision and a duplicate from the coordinator agree', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.coordinator = new Map([['t1', { kind: 'COMMIT', decisionSeq: 5n }]]);
    clock.now += IN_DOUBT_AFTER_MS;
    const [resolved, ack] = await Promise.all([newResolver().scan(), batcher.decide(commitMsg('t1', 5n))]);
    expect(resolved.get('t1')).toBe('COMMIT');
    expect(ack.state).toBe('COMMITTED');
    expect(balance()).toBe(55n);
    expect(batcher.stats().decisions).toBe(2);
  });

  it('refuses a config that could never work', () => {
    expect(() => resolveInDoubtResolverConfig({ scanIntervalMs: 0 })).toThrow(/scanIntervalMs/);
    expect(() => resolveInDoubtResolverConfig({ retryBackoff: { baseMs: 10, maxMs: 5 } })).toThrow(
      /retryBackoff/,
    );
    expect(() => resolveInDoubtResolverConfig({ inDoubtAfterMs: -1 })).toThrow(/inDoubtAfterMs/);
    expect(Object.isFrozen(resolveInDoubtResolverConfig())).toBe(true);
  });

  it('start() resolves on its own and stop() ends the loop', async () => {
    prepare('t1', ['shard-a', 'shard-b']);
    source.coordinator = new Map([['t1', { kind: 'ABORT' }]]);
    clock.now += IN_DOUBT_AFTER_MS;
    const resolver = new InDoubtResolver({
      store: { listInDoubt: () => a.listInDoubt(), decide: (m) => batcher.decide(m) },
      source,
      config: { ...CONFIG, scanIntervalMs: 10 },
      // The real clock for sleeping between scans; preparedAtMs comes from the manual one.
      clock: { nowMs: () => clock.now, sleep: (ms, signal) => realSleep(ms, signal) },
    });
    resolver.start();
    await expect.poll(() => stateOf('shard-a', 't1').state, { timeout: 2_000 }).toBe('ABORTED');
    await resolver.stop();
    const scans = resolver.stats().scans;
    await realSleep(50);
    expect(resolver.stats().scans).toBe(scans);
  });
});

function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
