/**
 * Recovery beyond one crash, over real processes: a crash while recovering, a coordinator that
 * stays down while participants hold prepared transactions, a peer that resolves an in-doubt
 * transaction before the coordinator is back, and duplicated or late protocol messages sent
 * straight to the participants' gRPC service.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { IN_DOUBT_RESOLVER_DEFAULTS } from '../../participant/in-doubt-resolver.ts';
import type { DecisionMessage, PrepareMessage } from '../../common/protocol.ts';
import { seedFromEnv } from '../../common/random.ts';
import { COORDINATOR_DEFAULTS } from '../../coordinator/config.ts';
import { GrpcParticipantClient } from '../../coordinator/grpc-participant-client.ts';
import { int, text } from '../integration/raw-client.ts';
import { dumpFile } from '../participant/helpers.ts';
import {
  crashWaitMsMax,
  hasExited,
  member,
  restartClean,
  startRecoveryCluster,
  until,
  waitForExit,
  type RecoveryCluster,
  type Shard,
} from './recovery-cluster.ts';
import { learnKeyedOutcomes, startWorkload } from './transfer-workload.ts';
import {
  checkShards,
  expectConvergence,
  loggedCommits,
  readAll,
  txnStateInFile,
  unfinishedCommits,
} from './shard-files.ts';

/**
 * Longer than a participant needs to notice (inDoubtAfterMs), ask the dead coordinator and every
 * peer: whatever a peer could settle is settled by then, the rest must still be held.
 */
const coordinatorDownMs = IN_DOUBT_RESOLVER_DEFAULTS.inDoubtAfterMs + 3_000;
/** A participant restarted with a peer that knows the outcome resolves within this long. */
const peerResolutionMsMax = 10_000;
/**
 * Participants without --coordinator: the restarted coordinator's sweep must settle what they hold
 * within its grace and one interval (its first round runs at start), plus time to deliver the Aborts.
 */
const sweepConvergenceMsMax =
  COORDINATOR_DEFAULTS.inDoubtSweepGraceMs + COORDINATOR_DEFAULTS.inDoubtSweepIntervalMs + 10_000;
/** Deadline of each call straight to a participant. */
const participantCallMs = 5_000;

let rc: RecoveryCluster | undefined;
afterEach(async () => {
  await rc?.stop();
  rc = undefined;
});

/**
 * The transactions left PREPARED after the participants had time to ask everyone. Each one's peers
 * must be PREPARED too (anything a peer knew would have settled it), with locks held. Resolves with
 * every shard of each (the one listing it and its peers).
 */
function stuckInDoubt(cluster: RecoveryCluster['cluster']): Map<string, Shard[]> {
  const stuck = new Map<string, Shard[]>();
  for (const [shard, snap] of readAll(cluster)) {
    if (snap.prepared.length > 0) expect(snap.locks, `${shard} holds locks`).toBeGreaterThan(0);
    for (const p of snap.prepared) {
      const peers = (JSON.parse(p.peers) as Array<{ shard: Shard }>).map((x) => x.shard);
      for (const peer of peers)
        expect(txnStateInFile(cluster, peer, p.txn_id).state, `${p.txn_id} at ${peer}`).toBe('PREPARED');
      stuck.set(p.txn_id, [shard, ...peers]);
    }
  }
  return stuck;
}

/** Each transaction's final state, checked to be the same on all its shards. */
function endedAlike(cluster: RecoveryCluster['cluster'], txns: ReadonlyMap<string, Shard[]>): string[] {
  return [...txns].map(([txnId, shards]) => {
    const states = new Set(shards.map((s) => txnStateInFile(cluster, s, txnId).state));
    expect(states.size, `${txnId} ended the same on ${shards.join(', ')}`).toBe(1);
    return [...states][0]!;
  });
}

/** Runs `body`; on failure prints the seed and the stderr of every process that died. */
async function scenario(name: string, body: (seed: number) => Promise<void>): Promise<void> {
  const seed = seedFromEnv();
  try {
    await body(seed);
  } catch (err) {
    console.error(`${name} failed; reproduce with TWOPC_SEED=${seed}\n${rc?.deadStderr.join('\n') ?? ''}`);
    throw err;
  }
}

/** Restarts a process that is expected to crash again (at a failpoint) while it recovers. */
async function restartIntoCrash(r: RecoveryCluster, name: string, failpoints: string): Promise<void> {
  // It may die before or after printing its serving line: either way only the exit matters (and
  // the next restart binds the same address either way).
  await r.cluster.restart(name, { TWOPC_FAILPOINTS: failpoints }).catch(() => undefined);
  expect(await waitForExit(r, name, crashWaitMsMax)).toBe('SIGKILL');
  expect(r.deadStderr.at(-1)).toContain(`failpoint ${failpoints.split('=')[0]} fired`);
}

describe('a crash during recovery still converges', () => {
  it('the coordinator crashes again while re-driving its logged commits', () =>
    scenario('coordinator crash during re-drive', async (seed) => {
      const failpoint = 'coordinator.after-first-commit-sent';
      rc = await startRecoveryCluster({ coordinator: { TWOPC_FAILPOINTS: `${failpoint}=4*crash` } });
      const workload = startWorkload(rc.client, { seed, tag: 'rr', workers: 6, transfersPerWorkerMax: 150 });
      await waitForExit(rc, 'coordinator', crashWaitMsMax);
      await workload.stop(); // nothing new from clients: the only Commit sent after the restart is the re-drive's
      expect(unfinishedCommits(rc.cluster).length).toBeGreaterThan(0);
      await restartIntoCrash(rc, 'coordinator', `${failpoint}=1*crash`);
      await restartClean(rc, 'coordinator');
      await learnKeyedOutcomes(rc.client, workload.transfers);
      await expectConvergence(rc.cluster);
      checkShards(rc.cluster, workload.transfers);
    }));

  it('a participant crashes again while applying the commits it was left holding', () =>
    scenario('participant crash during its recovery', async (seed) => {
      const failpoint = 'participant.before-commit-applied';
      rc = await startRecoveryCluster({ s2: { TWOPC_FAILPOINTS: `${failpoint}=3*crash` } });
      const workload = startWorkload(rc.client, { seed, tag: 'pr', workers: 6, transfersPerWorkerMax: 150 });
      await waitForExit(rc, 's2', crashWaitMsMax);
      await workload.stop();
      // The Commit that killed it is re-sent until acknowledged: the restart hits the failpoint again.
      await restartIntoCrash(rc, 's2', `${failpoint}=1*crash`);
      await restartClean(rc, 's2');
      await learnKeyedOutcomes(rc.client, workload.transfers);
      await expectConvergence(rc.cluster);
      checkShards(rc.cluster, workload.transfers);
    }));
});

describe('the coordinator down for a while', () => {
  it('prepared transactions stay held while nobody knows, and resolve once it is back', () =>
    scenario('coordinator down for a while', async (seed) => {
      rc = await startRecoveryCluster({
        coordinator: { TWOPC_FAILPOINTS: 'coordinator.after-decision-logged=4*crash' },
      });
      const workload = startWorkload(rc.client, { seed, tag: 'cd', workers: 6, transfersPerWorkerMax: 150 });
      await waitForExit(rc, 'coordinator', crashWaitMsMax);
      await workload.stop();
      await sleep(coordinatorDownMs);
      expect(hasExited(member(rc.cluster, 'coordinator'))).toBe(true);
      // At least the transaction whose COMMIT was logged when the coordinator died.
      const stuck = stuckInDoubt(rc.cluster);
      expect(stuck.size).toBeGreaterThan(0);
      await restartClean(rc, 'coordinator');
      await expectConvergence(rc.cluster);
      expect(endedAlike(rc.cluster, stuck)).toContain('COMMITTED');
      await learnKeyedOutcomes(rc.client, workload.transfers);
      await expectConvergence(rc.cluster);
      checkShards(rc.cluster, workload.transfers);
    }));

  it('a participant restarted while the coordinator is down learns a commit from its peer', () =>
    scenario('peer knows the outcome', async () => {
      rc = await startRecoveryCluster({
        s2: { TWOPC_FAILPOINTS: 'participant.before-commit-applied=1*crash' },
      });
      const transfer = [
        { shard: 's1', table: 'accounts', kind: 'ADD', key: { id: int(1) }, values: { balance: int(-10) } },
        { shard: 's2', table: 'accounts', kind: 'ADD', key: { id: int(1) }, values: { balance: int(10) } },
        {
          shard: 's1',
          table: 'ledger',
          kind: 'INSERT',
          key: { transfer_id: text('peer-1') },
          values: { amount: int(-10) },
        },
        {
          shard: 's2',
          table: 'ledger',
          kind: 'INSERT',
          key: { transfer_id: text('peer-1') },
          values: { amount: int(10) },
        },
      ];
      // Acknowledged once the COMMIT is logged; s2 dies when its Commit arrives, s1 applies its own.
      const res = await rc.client.call('Execute', { ops: transfer });
      expect(res.outcome).toBe('COMMITTED');
      const txnId = res.txn_id as string;
      const decisionSeq = BigInt(res.decision_seq as string);
      await waitForExit(rc, 's2', crashWaitMsMax);
      const cluster = rc.cluster;
      await until(
        's1 to commit',
        crashWaitMsMax,
        () => txnStateInFile(cluster, 's1', txnId).state === 'COMMITTED',
      );
      await rc.cluster.kill('coordinator');
      expect(txnStateInFile(cluster, 's2', txnId).state).toBe('PREPARED');
      await restartClean(rc, 's2');
      await until(
        's2 to resolve through its peer',
        peerResolutionMsMax,
        () => txnStateInFile(cluster, 's2', txnId).state !== 'PREPARED',
      );
      expect(hasExited(member(cluster, 'coordinator')), 'the coordinator is still down').toBe(true);
      expect(txnStateInFile(cluster, 's2', txnId)).toEqual({ state: 'COMMITTED', decisionSeq });
      expect(readAll(cluster).get('s2')!.ledger.get('peer-1')).toBe(10n);
      // Back: its re-drive finds s2 committed already (idempotent) and ends the record.
      await restartClean(rc, 'coordinator');
      await expectConvergence(cluster);
      checkShards(cluster, [
        { id: 'peer-1', from: 's1', to: 's2', ops: transfer, key: '', outcome: 'COMMITTED' },
      ]);
    }));
});

describe('participants without --coordinator (allowed): the in-doubt sweep', () => {
  it('a coordinator crash before the COMMIT is logged: after its restart, everything converges', () =>
    scenario('sweep after before-decision-logged', async (seed) => {
      rc = await startRecoveryCluster(
        { coordinator: { TWOPC_FAILPOINTS: 'coordinator.before-decision-logged=4*crash' } },
        { participantsKnowCoordinator: false },
      );
      const workload = startWorkload(rc.client, { seed, tag: 'sw', workers: 6, transfersPerWorkerMax: 150 });
      await waitForExit(rc, 'coordinator', crashWaitMsMax);
      await workload.stop();
      // The participants asked their peers, who know no more: nobody but the coordinator can settle
      // the transaction every shard voted YES on.
      await sleep(coordinatorDownMs);
      const stuck = stuckInDoubt(rc.cluster);
      expect(stuck.size).toBeGreaterThan(0);
      await restartClean(rc, 'coordinator');
      const tookMs = await expectConvergence(rc.cluster, sweepConvergenceMsMax);
      // Logged COMMITs whose delivery the crash cut short are re-driven; every other one (at least
      // the one that hit the failpoint: all YES, no COMMIT) is presumed aborted, on all its shards.
      const logged = loggedCommits(rc.cluster);
      const ended = endedAlike(rc.cluster, stuck);
      expect(ended).toEqual([...stuck.keys()].map((id) => (logged.has(id) ? 'COMMITTED' : 'ABORTED')));
      expect(ended).toContain('ABORTED');
      await learnKeyedOutcomes(rc.client, workload.transfers);
      await expectConvergence(rc.cluster);
      checkShards(rc.cluster, workload.transfers);
      expect(tookMs).toBeLessThanOrEqual(sweepConvergenceMsMax);
    }));
});

describe('what the failpoints simulate', () => {
  // Handing the first Commit to the gRPC client does not put it on the wire (the Session stream is
  // flushed later), so the failpoint must wait for the first shard's acknowledgement; fired any
  // earlier it would simulate the same state as coordinator.after-decision-logged.
  it('coordinator.after-first-commit-sent: the first shard has the Commit when the coordinator dies', async () => {
    rc = await startRecoveryCluster({
      coordinator: { TWOPC_FAILPOINTS: 'coordinator.after-first-commit-sent=1*crash' },
    });
    const cluster = rc.cluster;
    const add = (shard: Shard, delta: number) => ({
      shard,
      table: 'accounts',
      kind: 'ADD',
      key: { id: int(3) },
      values: { balance: int(delta) },
    });
    // UNAVAILABLE: the coordinator dies before answering.
    await rc.client.call('Execute', { ops: [add('s1', -1), add('s2', 1)] }).catch(() => undefined);
    await waitForExit(rc, 'coordinator', crashWaitMsMax);
    const [txn] = readAll(cluster).get('s2')!.prepared;
    expect(txn).toBeDefined();
    // Shards are sorted, so s1 is sent Commit first. Give it time to apply whatever reached it.
    await until('the first shard to apply its Commit', 3_000, () => {
      return txnStateInFile(cluster, 's1', txn!.txn_id).state === 'COMMITTED';
    });
  });
});

describe('duplicated and late messages, sent straight to the participants', () => {
  it('a late Prepare after Abort is refused; duplicated Commit and Abort change nothing', () =>
    scenario('duplicates', async () => {
      rc = await startRecoveryCluster();
      const cluster = rc.cluster;
      const clients = new Map(
        (['s1', 's2', 's3'] as const).map((shard) => [
          shard,
          new GrpcParticipantClient({ shard, address: cluster.address(shard) }),
        ]),
      );
      const client = (s: Shard) => clients.get(s)!;
      const dumps = () => (['s1', 's2', 's3'] as const).map((s) => dumpFile(cluster.shardFile(s))).join('\n');
      const prepareOf = (txnId: string, shard: Shard, delta: bigint): PrepareMessage => ({
        txnId,
        ops: [{ table: 'accounts', kind: 'ADD', key: { id: 2n }, values: { balance: delta } }],
        reads: [],
        onePhase: false,
        readOnlyOk: false,
        peers: [
          { shard: shard === 's1' ? 's2' : 's1', address: cluster.address(shard === 's1' ? 's2' : 's1') },
        ],
        coordinatorId: 'late',
        epoch: 0n,
        deadlineMs: Date.now() + 60_000,
      });
      const decision = (txnId: string, commit: boolean, decisionSeq = 0n): DecisionMessage => ({
        txnId,
        commit,
        decisionSeq,
        epoch: 0n,
      });
      try {
        // A committed transfer, then every decision for it again, and its Prepare again.
        const ok = await rc.client.call('Execute', {
          ops: [
            {
              shard: 's1',
              table: 'accounts',
              kind: 'ADD',
              key: { id: int(2) },
              values: { balance: int(-5) },
            },
            { shard: 's2', table: 'accounts', kind: 'ADD', key: { id: int(2) }, values: { balance: int(5) } },
          ],
        });
        expect(ok.outcome).toBe('COMMITTED');
        await expectConvergence(cluster);
        const afterCommit = dumps();
        const seq = BigInt(ok.decision_seq as string);
        for (const s of ['s1', 's2'] as const) {
          for (let i = 0; i < 2; i++)
            expect(await client(s).decide(decision(ok.txn_id, true, seq), participantCallMs)).toMatchObject({
              state: 'COMMITTED',
            });
          expect(await client(s).decide(decision(ok.txn_id, false), participantCallMs)).toMatchObject({
            state: 'COMMITTED',
          });
          expect(await client(s).prepare(prepareOf(ok.txn_id, s, 5n), participantCallMs)).toMatchObject({
            vote: 'YES',
          });
        }
        expect(dumps()).toBe(afterCommit);

        // An aborted transfer (s1 cannot pay), then Abort again, and a late Prepare on both shards.
        const refused = await rc.client.call('Execute', {
          ops: [
            {
              shard: 's1',
              table: 'accounts',
              kind: 'ADD',
              key: { id: int(2) },
              values: { balance: int(-1_000_000) },
            },
            {
              shard: 's2',
              table: 'accounts',
              kind: 'ADD',
              key: { id: int(2) },
              values: { balance: int(1_000_000) },
            },
          ],
        });
        expect(refused.outcome).toBe('ABORTED');
        await expectConvergence(cluster);
        const afterAbort = dumps();
        for (const s of ['s1', 's2'] as const) {
          for (let i = 0; i < 2; i++)
            expect(await client(s).decide(decision(refused.txn_id, false), participantCallMs)).toMatchObject({
              state: 'ABORTED',
            });
          expect(await client(s).prepare(prepareOf(refused.txn_id, s, 1n), participantCallMs)).toMatchObject({
            vote: 'NO',
          });
        }
        expect(dumps()).toBe(afterAbort);

        // An Abort that overtook its Prepare: the tombstone refuses the Prepare when it finally arrives.
        const overtaken = `tx_${Date.now().toString(16).padStart(12, '0')}${'7'.repeat(20)}`;
        expect(await client('s3').decide(decision(overtaken, false), participantCallMs)).toMatchObject({
          state: 'ABORTED',
        });
        const afterTombstone = dumps();
        expect(await client('s3').prepare(prepareOf(overtaken, 's3', 1n), participantCallMs)).toMatchObject({
          vote: 'NO',
        });
        expect(await client('s3').decide(decision(overtaken, false), participantCallMs)).toMatchObject({
          state: 'ABORTED',
        });
        expect(dumps()).toBe(afterTombstone);
        expect(txnStateInFile(cluster, 's3', overtaken).state).toBe('ABORTED');
        await expectConvergence(cluster);
      } finally {
        for (const c of clients.values()) c.close();
      }
    }));
});
