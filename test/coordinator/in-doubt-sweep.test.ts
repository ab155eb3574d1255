/**
 * The in-doubt sweep over fake participants and a real decision log: prepares that an earlier
 * incarnation of this coordinator left behind (the fakes hold them PREPARED, as after a crash
 * before the decision) are aborted when the log has no COMMIT, re-driven when it has one, settled
 * like a keyed retry when it has an INTENT; live transactions, young prepares and other
 * coordinators' prepares are left alone; an unreachable participant is skipped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Peer, PrepareMessage } from '../../common/protocol.ts';
import type { CoordinatorConfig } from '../../coordinator/config.ts';
import { TxnIdGenerator } from '../../coordinator/txn-id.ts';
import { add, eventually, seedAccounts, sleep, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.close();
});

const ids = new TxnIdGenerator();
/** Long enough that only the rounds a test asks for (sweepInDoubt) run, after the one at start. */
const graceMsInTests = 2;
const manualSweep: Partial<CoordinatorConfig> = {
  inDoubtSweepIntervalMs: 60_000,
  inDoubtSweepGraceMs: graceMsInTests,
};

/**
 * PREPARED on `shards` by `coordinatorId`, as a coordinator that then died would leave it; `peers`
 * defaults to the other shards (the prepare names every shard of the transaction).
 */
async function orphan(
  shards: readonly string[],
  options: { coordinatorId?: string; peers?: readonly string[]; id?: number } = {},
): Promise<string> {
  const txnId = ids.next(Date.now());
  const peerNames = options.peers ?? shards;
  for (const shard of shards) {
    const peers: Peer[] = peerNames
      .filter((p) => p !== shard)
      .map((p) => ({ shard: p, address: `fake://${p}` }));
    const message: PrepareMessage = {
      txnId,
      ops: [add(shard, options.id ?? 1, 1n)].map(({ table, kind, key, values }) => ({
        table,
        kind,
        key,
        values,
      })),
      reads: [],
      onePhase: false,
      readOnlyOk: false,
      peers,
      coordinatorId: options.coordinatorId ?? 'c1',
      epoch: 1n,
      deadlineMs: Date.now() + 60_000,
    };
    expect((await cluster.shard(shard).prepare(message, 1_000)).vote).toBe('YES');
  }
  await sleep(graceMsInTests + 1); // past the grace of `manualSweep`, whatever the clock's resolution
  return txnId;
}

const states = (txnId: string, shards: readonly string[]) => shards.map((s) => cluster.shard(s).state(txnId));
const abortsSent = (txnId: string, shard: string) =>
  cluster.shard(shard).decisions.filter((d) => d.txnId === txnId && !d.commit).length;

describe('in-doubt sweep', () => {
  it('on its own timer, aborts a prepare no one decided (no record in the log) and frees its locks', async () => {
    cluster = await startCluster({ config: { inDoubtSweepIntervalMs: 50, inDoubtSweepGraceMs: 100 } });
    seedAccounts(cluster);
    const txnId = await orphan(['s1', 's2']);
    expect(cluster.shard('s1').locks.size).toBeGreaterThan(0);
    await eventually(
      () => states(txnId, ['s1', 's2']).every((s) => s === 'ABORTED'),
      3_000,
      'presumed abort',
    );
    expect(cluster.shard('s1').locks.size).toBe(0);
    expect(cluster.shard('s2').locks.size).toBe(0);
    expect(cluster.shard('s3').decisions).toEqual([]);
    expect(await cluster.log.get(txnId)).toBeUndefined();
    expect((await cluster.coordinator.getTransaction(txnId)).outcome).toBe('ABORTED');
  });

  it('sends Abort to every shard the transaction touched, also one that holds nothing of it', async () => {
    cluster = await startCluster({ config: manualSweep });
    seedAccounts(cluster);
    // s2 voted READ_ONLY, or its Prepare never arrived: only s1 lists the transaction.
    const txnId = await orphan(['s1'], { peers: ['s1', 's2'] });
    const round = await cluster.coordinator.sweepInDoubt();
    expect(round.aborted).toEqual([txnId]);
    await eventually(() => states(txnId, ['s1', 's2']).every((s) => s === 'ABORTED'), 3_000, 'aborts');
    expect(abortsSent(txnId, 's2')).toBeGreaterThan(0);
    expect(cluster.shard('s3').decisions).toEqual([]);
  });

  it('re-drives a logged COMMIT instead of aborting it', async () => {
    // No periodic re-drive during the test: only the sweep can deliver this COMMIT.
    cluster = await startCluster({ config: { ...manualSweep, redriveIntervalMs: 60_000 } });
    seedAccounts(cluster);
    const txnId = await orphan(['s1', 's2']);
    const decisionSeq = await cluster.log.logCommit({
      txnId,
      shards: ['s1', 's2'],
      readOnlyShards: [],
      idempotencyKey: '',
      startedAtMs: Date.now(),
      atMs: Date.now(),
    });
    const round = await cluster.coordinator.sweepInDoubt();
    expect(round).toMatchObject({ redriven: [txnId], aborted: [] });
    await eventually(() => states(txnId, ['s1', 's2']).every((s) => s === 'COMMITTED'), 3_000, 'commits');
    await eventually(async () => ((await cluster.log.get(txnId))?.endedAtMs ?? 0) > 0, 3_000, 'END');
    for (const s of ['s1', 's2']) {
      expect(abortsSent(txnId, s), s).toBe(0);
      expect(cluster.shard(s).decisions.at(-1)).toMatchObject({ txnId, commit: true, decisionSeq });
    }
  });

  it('settles an INTENT without outcome like a keyed retry would: aborted, and the outcome recorded', async () => {
    cluster = await startCluster({ config: manualSweep });
    seedAccounts(cluster);
    const txnId = await orphan(['s1', 's2']);
    await cluster.log.logIntent({
      txnId,
      idempotencyKey: 'k-orphan',
      shards: ['s1', 's2'],
      atMs: Date.now(),
    });
    const round = await cluster.coordinator.sweepInDoubt();
    expect(round.aborted).toEqual([txnId]);
    await eventually(() => states(txnId, ['s1', 's2']).every((s) => s === 'ABORTED'), 3_000, 'aborts');
    await eventually(async () => (await cluster.log.get(txnId))?.state === 'ABORTED', 3_000, 'outcome');
    const retry = await cluster.coordinator.execute({
      ops: [add('s1', 1, 1n), add('s2', 1, 1n)],
      timeoutMs: 0,
      idempotencyKey: 'k-orphan',
    });
    expect(retry).toMatchObject({ txnId, outcome: 'ABORTED' });
  });

  it('leaves alone a live transaction and another coordinator’s prepare', async () => {
    cluster = await startCluster({ config: { ...manualSweep, prepareTimeoutMs: 3_000 } });
    seedAccounts(cluster);
    const foreign = await orphan(['s3'], { coordinatorId: 'another-coordinator', id: 2 });
    // s2 votes late: meanwhile s1 holds the live transaction PREPARED, well past the grace.
    cluster.shard('s2').delayMs.prepare = 400;
    const live = cluster.coordinator.execute({
      ops: [add('s1', 1, -1n), add('s2', 1, 1n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    await eventually(() => cluster.shard('s1').txns.size === 1, 3_000, 's1 to prepare');
    await sleep(20);
    const round = await cluster.coordinator.sweepInDoubt();
    const [liveId] = cluster.shard('s1').txns.keys();
    expect(round).toMatchObject({ due: 1, skipped: [liveId], aborted: [], redriven: [] });
    expect((await live).outcome).toBe('COMMITTED');
    expect(abortsSent(liveId!, 's1')).toBe(0);
    expect(cluster.shard('s3').state(foreign)).toBe('PREPARED');
    expect(abortsSent(foreign, 's3')).toBe(0);
  });

  it('leaves alone a prepare younger than the grace period', async () => {
    cluster = await startCluster({ config: { inDoubtSweepIntervalMs: 60_000, inDoubtSweepGraceMs: 60_000 } });
    seedAccounts(cluster);
    const txnId = await orphan(['s1', 's2']);
    expect(await cluster.coordinator.sweepInDoubt()).toMatchObject({ due: 0, aborted: [] });
    expect(states(txnId, ['s1', 's2'])).toEqual(['PREPARED', 'PREPARED']);
  });

  it('skips an unreachable participant for the round and settles the rest', async () => {
    cluster = await startCluster({ config: manualSweep });
    seedAccounts(cluster);
    const txnId = await orphan(['s1', 's2']);
    cluster.shard('s3').down = true;
    const round = await cluster.coordinator.sweepInDoubt();
    expect(round).toMatchObject({ unreachable: ['s3'], aborted: [txnId] });
    await eventually(() => states(txnId, ['s1', 's2']).every((s) => s === 'ABORTED'), 3_000, 'aborts');
  });

  it('settles at most inDoubtSweepTxnsMax per round, oldest first', async () => {
    cluster = await startCluster({ config: { ...manualSweep, inDoubtSweepTxnsMax: 2 } });
    seedAccounts(cluster);
    const txns: string[] = [];
    for (let id = 1; id <= 3; id++) {
      txns.push(await orphan(['s1', 's2'], { id }));
      await sleep(5);
    }
    const first = await cluster.coordinator.sweepInDoubt();
    expect(first).toMatchObject({ due: 2, aborted: txns.slice(0, 2) });
    await eventually(
      () => states(txns[0]!, ['s1', 's2']).every((s) => s === 'ABORTED'),
      3_000,
      'first round',
    );
    await eventually(
      () => states(txns[1]!, ['s1', 's2']).every((s) => s === 'ABORTED'),
      3_000,
      'first round',
    );
    expect(states(txns[2]!, ['s1', 's2'])).toEqual(['PREPARED', 'PREPARED']);
    const second = await cluster.coordinator.sweepInDoubt();
    expect(second.aborted).toEqual([txns[2]]);
  });
});
