/**
 * The recovery CLI against running participants, over gRPC. The participants are restarted after
 * the crashes (without --coordinator, so they can only ask their peers, who know no more): their
 * in-doubt transactions persist until the CLI resolves them. First with the coordinator down
 * (decisions read from the log file), then with it running (decisions from its API, and the log
 * file refused because the coordinator holds it). The steps build on each other, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../integration/cluster.ts';
import {
  ACCOUNTS,
  INITIAL_BALANCE,
  SHARDS,
  expectOk,
  expectRefusal,
  leaveInDoubt,
  logFile,
  preparedIds,
  recover,
  setCoordinatorId,
  shardFacts,
  startCluster,
} from './in-doubt-cluster.ts';

let cluster: Cluster;
let t1: string;
let t3: string;

const participants = () => SHARDS.flatMap((s) => ['--participant', `${s}=${cluster.address(s)}`]);
const withLog = () => [...participants(), '--log', logFile(cluster)];

beforeAll(async () => {
  cluster = await startCluster();
  t1 = await leaveInDoubt(cluster, 'coordinator.before-decision-logged', {
    id: 'T1',
    from: 'shard-a',
    to: 'shard-b',
    amount: 10n,
    account: 1,
  });
  t3 = await leaveInDoubt(cluster, 'coordinator.after-decision-logged', {
    id: 'T3',
    from: 'shard-a',
    to: 'shard-c',
    amount: 30n,
    account: 3,
  });
  // A restart, as after a machine reboot: the in-doubt transactions come back from the files.
  for (const shard of SHARDS) await cluster.restart(shard);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

function expectSettled(): void {
  let total = 0n;
  for (const shard of SHARDS) {
    const f = shardFacts(cluster, shard);
    expect({ shard, pending: f.pendingRows, locks: f.locks, prepared: f.prepared }).toEqual({
      shard,
      pending: 0,
      locks: 0,
      prepared: 0,
    });
    total += f.total;
  }
  expect(total).toBe(INITIAL_BALANCE * BigInt(ACCOUNTS * SHARDS.length));
}

describe('recover, online (participants running)', () => {
  it('status over gRPC lists the in-doubt transactions, with the log file as the decision source', async () => {
    const json = JSON.parse(expectOk(await recover(['status', ...withLog(), '--json'])));
    expect(json.mode).toBe('online');
    expect(json.shards.every((s: { reachable: boolean }) => s.reachable)).toBe(true);
    expect(json.inDoubt.map((e: { txnId: string }) => e.txnId)).toEqual([t1, t3]);
    expect(json.inDoubt[0]).toMatchObject({
      preparedOn: ['shard-a', 'shard-b'],
      decision: { kind: 'ABORT', source: 'presumed-abort' },
    });
    expect(json.inDoubt[1]).toMatchObject({
      preparedOn: ['shard-a', 'shard-c'],
      decision: { kind: 'COMMIT', decisionSeq: '1' },
    });
    // Without a decision source the list is the same, the decisions unknown.
    const text = expectOk(await recover(['status', ...participants()]));
    expect(text).toMatch(
      /^2 transactions in doubt \(online; decision log: not given; shards: shard-a, shard-b, shard-c\)/,
    );
    expect(text).toMatch(new RegExp(`${t3}\\s+\\S+\\s+shard-a,shard-c\\s+shard-a,shard-c\\s+unknown`));
  });

  it("show over gRPC gives every shard's state", async () => {
    const out = expectOk(await recover(['show', t3, ...withLog()]));
    expect(out).toMatch(/record\s+COMMITTING, decision_seq 1/);
    expect(out).toMatch(/shard-a\s+PREPARED\s+in doubt since/);
    expect(out).toMatch(/shard-b\s+UNKNOWN\s+not involved/);
  });

  it('resolve --all over gRPC: the dry run changes nothing, the real run resolves everything', async () => {
    const plan = expectOk(await recover(['resolve', '--all', '--dry-run', ...withLog()]));
    expect(plan).toMatch(new RegExp(`${t3}\\s+COMMIT\\s+commit on shard-a, shard-c with decision_seq 1`));
    expect(preparedIds(cluster)).toEqual([t1, t3].sort());

    const out = expectOk(await recover(['resolve', '--all', ...withLog()]));
    expect(out).toMatch(new RegExp(`${t1}\\s+ABORT\\s+aborted on shard-a, shard-b`));
    expect(out).toMatch(new RegExp(`${t3}\\s+COMMIT\\s+committed on shard-a, shard-c`));
    expectSettled();
    expect(shardFacts(cluster, 'shard-c').ledger.get('T3')).toBe(30n);
    expect(shardFacts(cluster, 'shard-c').state(t3)).toMatchObject({ state: 'COMMITTED', decisionSeq: 1n });
    expect(shardFacts(cluster, 'shard-b').ledger.has('T1')).toBe(false);
  });

  it('with the coordinator running: its log file is refused, its API is asked instead', async () => {
    const t4 = await leaveInDoubt(cluster, 'coordinator.before-decision-logged', {
      id: 'T4',
      from: 'shard-b',
      to: 'shard-c',
      amount: 40n,
      account: 4,
    });
    // Back up clean, under another id (as after a move to another host): its in-doubt sweep settles
    // only its own prepares, so T4 stays in doubt until the CLI asks it (GetTransaction).
    setCoordinatorId(cluster, 'coordinator@elsewhere');
    await cluster.restart('coordinator');
    const coordinator = ['--coordinator', cluster.coordinatorAddress];

    expectRefusal(
      await recover(['resolve', '--all', ...withLog()]),
      /^twopc: decisions\.db is in use by a running coordinator$/,
    );
    expectRefusal(
      await recover(['force-abort', t4, '--reason', 'test', ...withLog(), ...coordinator]),
      /force-abort: stop the coordinator before forcing a decision/,
    );
    const status = expectOk(await recover(['status', ...participants(), ...coordinator]));
    expect(status).toMatch(
      new RegExp(`${t4}\\s+\\S+\\s+shard-b,shard-c\\s+shard-b,shard-c\\s+no COMMIT: presumed abort`),
    );

    const out = expectOk(await recover(['resolve', '--all', ...participants(), ...coordinator]));
    expect(out).toMatch(new RegExp(`${t4}\\s+ABORT\\s+aborted on shard-b, shard-c`));
    expectSettled();
  });

  it('a heuristic commit is re-driven by the coordinator like any COMMIT', async () => {
    const t5 = await leaveInDoubt(cluster, 'coordinator.after-decision-logged', {
      id: 'T5',
      from: 'shard-a',
      to: 'shard-b',
      amount: 5n,
      account: 2,
    });
    // Not T5 (logged): a transfer whose COMMIT never made it, forced by hand after a "lost" log.
    const t6 = await leaveInDoubt(cluster, 'coordinator.before-decision-logged', {
      id: 'T6',
      from: 'shard-b',
      to: 'shard-c',
      amount: 6n,
      account: 3,
    });
    expectRefusal(
      await recover(['force-commit', t5, '--reason', 'test', ...withLog()]),
      /already holds a decision/,
    );
    const forced = await recover([
      'force-commit',
      t6,
      '--reason',
      'customer was told it committed',
      ...withLog(),
    ]);
    expect(expectOk(forced)).toMatch(/Recorded heuristic COMMIT of tx_\w+ \(decision_seq 3\)/);
    expect(forced.stderr).toContain('WARNING: HEURISTIC COMMIT');
    expect(shardFacts(cluster, 'shard-c').ledger.get('T6')).toBe(6n);

    await cluster.restart('coordinator'); // re-drives T5 (logged) and T6 (forced) until END
    const deadline = Date.now() + 20_000;
    let ended: string[] = [];
    while (Date.now() < deadline) {
      const lines = expectOk(
        await recover(['log', '--log', logFile(cluster), '--state', 'COMMITTED', '--json']),
      );
      ended = lines
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).txnId);
      if (ended.includes(t5) && ended.includes(t6)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(ended).toEqual(expect.arrayContaining([t5, t6]));
    expectSettled();
  });
});
