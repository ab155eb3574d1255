/**
 * The recovery CLI with every process stopped, on real in-doubt transactions (in-doubt-cluster.ts):
 *
 *   T1 shard-a -> shard-b, coordinator killed before logging COMMIT (undecided: presumed abort)
 *   T2 shard-b -> shard-c, the same
 *   T3 shard-a -> shard-c, coordinator killed right after logging COMMIT
 *
 * then all processes SIGKILLed, and `node cli/bin.mjs recover … --data-dir DIR` run against the
 * files. The steps build on each other, in order.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardStore } from '../../participant/shard-store.ts';
import type { Cluster } from '../integration/cluster.ts';
import {
  ACCOUNTS,
  INITIAL_BALANCE,
  SHARDS,
  expectOk,
  expectRefusal,
  fileBytes,
  leaveInDoubt,
  logFile,
  preparedIds,
  recover,
  shardFacts,
  startCluster,
} from './in-doubt-cluster.ts';

let cluster: Cluster;
let dir: string[];
let t1: string;
let t2: string;
let t3: string;

beforeAll(async () => {
  cluster = await startCluster();
  t1 = await leaveInDoubt(cluster, 'coordinator.before-decision-logged', {
    id: 'T1',
    from: 'shard-a',
    to: 'shard-b',
    amount: 10n,
    account: 1,
  });
  t2 = await leaveInDoubt(cluster, 'coordinator.before-decision-logged', {
    id: 'T2',
    from: 'shard-b',
    to: 'shard-c',
    amount: 20n,
    account: 2,
  });
  t3 = await leaveInDoubt(cluster, 'coordinator.after-decision-logged', {
    id: 'T3',
    from: 'shard-a',
    to: 'shard-c',
    amount: 30n,
    account: 3,
  });
  for (const shard of SHARDS) await cluster.kill(shard);
  dir = ['--data-dir', cluster.dataDir];
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('recover, offline (processes stopped)', () => {
  it('status lists every in-doubt transaction with its age, shards, decision and coordinator', async () => {
    const out = expectOk(await recover(['status', ...dir]));
    expect(out).toMatch(
      /^3 transactions in doubt \(offline; decision log: .*decisions\.db; shards: shard-a, shard-b, shard-c\)/,
    );
    const line = (id: string) => out.split('\n').find((l) => l.startsWith(id)) ?? '';
    expect(line(t1)).toMatch(
      /^tx_\w+\s+\d+(ms|s|m\d\ds)\s+shard-a,shard-b\s+shard-a,shard-b\s+no COMMIT: presumed abort\s+coordinator@crash-T1$/,
    );
    expect(line(t2)).toMatch(/shard-b,shard-c\s+shard-b,shard-c\s+no COMMIT: presumed abort/);
    expect(line(t3)).toMatch(/shard-a,shard-c\s+shard-a,shard-c\s+COMMIT seq 1\s+coordinator@/);

    const json = JSON.parse(expectOk(await recover(['status', ...dir, '--json'])));
    expect(json.mode).toBe('offline');
    expect(json.shards.map((s: { shard: string }) => s.shard)).toEqual([...SHARDS]);
    expect(json.inDoubt.map((e: { txnId: string }) => e.txnId)).toEqual([t1, t2, t3]);
    for (const e of json.inDoubt) {
      expect(e.ageMs).toBeGreaterThan(0);
      expect(e.coordinatorIds).toHaveLength(1);
    }
    expect(json.inDoubt[0]).toMatchObject({
      preparedOn: ['shard-a', 'shard-b'],
      decision: { kind: 'ABORT', source: 'presumed-abort' },
      logRecord: null,
    });
    expect(json.inDoubt[2]).toMatchObject({
      preparedOn: ['shard-a', 'shard-c'],
      decision: { kind: 'COMMIT', decisionSeq: '1', source: 'log' },
      logRecord: {
        state: 'COMMITTED',
        status: 'COMMITTING',
        decisionSeq: '1',
        shards: ['shard-a', 'shard-c'],
      },
    });
  });

  it('show prints the log record and every shard; an unknown id is one line, exit 2', async () => {
    const out = expectOk(await recover(['show', t3, ...dir]));
    expect(out).toContain(`Transaction ${t3}`);
    expect(out).toMatch(/record\s+COMMITTING, decision_seq 1, shards shard-a, shard-c/);
    expect(out).toMatch(/shard-a\s+PREPARED\s+in doubt since .*, 2 pending rows, 2 locks, peers shard-c/);
    expect(out).toMatch(/shard-b\s+UNKNOWN\s+not involved/);
    expect(out).toContain(
      `'npx twopc recover resolve ${t3}' (same target flags) commits it on shard-a, shard-c`,
    );
    const json = JSON.parse(expectOk(await recover(['show', t1, ...dir, '--json'])));
    expect(json).toMatchObject({ txnId: t1, involved: ['shard-a', 'shard-b'], decision: { kind: 'ABORT' } });
    expect(json.decisionLog).toMatchObject({ exists: true, record: null, heuristics: [] });

    expectRefusal(
      await recover(['show', 'tx_00000000000000000000000000000000', ...dir]),
      /not known to the decision log or to any shard/,
    );
  });

  it('force-commit and force-abort are refused where the log holds a decision', async () => {
    for (const sub of ['force-commit', 'force-abort']) {
      const r = await recover([sub, t3, '--reason', 'test', ...dir]);
      expectRefusal(
        r,
        new RegExp(`already holds a decision for ${t3}: COMMIT in the decision log, decision_seq 1`),
      );
    }
  });

  it('resolve --dry-run prints the plan and changes no file', async () => {
    const before = fileBytes(cluster);
    const r = await recover(['resolve', '--all', '--dry-run', ...dir]);
    const out = expectOk(r);
    expect(out).toContain('Plan (dry run: nothing was changed):');
    expect(out).toMatch(new RegExp(`${t1}\\s+ABORT\\s+abort on shard-a, shard-b`));
    expect(out).toMatch(new RegExp(`${t3}\\s+COMMIT\\s+commit on shard-a, shard-c with decision_seq 1`));
    const json = JSON.parse(expectOk(await recover(['resolve', '--all', '--dry-run', '--json', ...dir])));
    expect(json.steps).toHaveLength(3);
    expect(fileBytes(cluster)).toEqual(before);
    expect(preparedIds(cluster)).toEqual([t1, t2, t3].sort());
  });

  it('force-abort of an undecided transaction is recorded (HEURISTIC) before it is pushed', async () => {
    const r = await recover([
      'force-abort',
      t1,
      '--reason',
      'client confirmed it never got an answer',
      '--operator',
      'alice',
      ...dir,
    ]);
    expect(expectOk(r)).toContain(`Recorded heuristic ABORT of ${t1}`);
    expect(r.stderr).toMatch(/^twopc: WARNING: HEURISTIC ABORT of tx_\w+ by alice/);
    for (const shard of ['shard-a', 'shard-b'] as const) {
      expect(shardFacts(cluster, shard).state(t1).state).toBe('ABORTED');
    }
    const lines = expectOk(await recover(['log', ...dir, '--json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rec = lines.find((l) => l.txnId === t1);
    expect(rec).toMatchObject({
      state: 'ABORTED',
      abortReason: 'HEURISTIC',
      heuristics: [{ outcome: 'ABORTED', operator: 'alice' }],
    });
    const trail = expectOk(await recover(['log', ...dir, '--heuristics']));
    expect(trail).toContain(`${t1}  ABORTED by alice at`);
    expectRefusal(
      await recover(['force-commit', t1, '--reason', 'again', ...dir]),
      /already holds a decision/,
    );
  });

  it('force-commit is refused when a shard has the transaction ABORTED, and says why', async () => {
    const coordinatorEpoch = 1_000n;
    // A coordinator that presumed abort and reached only shard-b (unkeyed aborts are never logged).
    const store = ShardStore.open({ path: cluster.shardFile('shard-b'), shard: 'shard-b', schemaSql: '' });
    // Its epoch is at least the one it prepared with (participant/epoch-fence.ts refuses a lower one).
    store.decideBatch([{ txnId: t2, commit: false, decisionSeq: 0n, epoch: coordinatorEpoch }]);
    store.close();
    const r = await recover(['force-commit', t2, '--reason', 'test', ...dir]);
    expectRefusal(
      r,
      /cannot force-commit tx_\w+: shard shard-b has it ABORTED \(it was aborted there\), so a commit there is impossible/,
    );
  });

  it('refuses to write a shard file a running process holds', async () => {
    const holder = new Database(cluster.shardFile('shard-c'));
    holder.prepare('SELECT count(*) FROM accounts').get();
    try {
      const before = fileBytes(cluster);
      expectRefusal(
        await recover(['resolve', '--all', ...dir]),
        /^twopc: shard-c\.db is in use by a running participant$/,
      );
      expect(fileBytes(cluster)).toEqual(before);
    } finally {
      holder.close();
    }
  });

  it('resolve --all commits the logged COMMIT, aborts the rest, and leaves nothing in doubt', async () => {
    const out = expectOk(await recover(['resolve', '--all', ...dir]));
    expect(out).toMatch(new RegExp(`${t2}\\s+ABORT\\s+aborted on shard-c`));
    expect(out).toMatch(new RegExp(`${t3}\\s+COMMIT\\s+committed on shard-a, shard-c`));
    expect(out).toContain('Resolved 2 of 2; 0 left alone; 0 failed.');
    let total = 0n;
    for (const shard of SHARDS) {
      const f = shardFacts(cluster, shard);
      expect({ shard, pending: f.pendingRows, locks: f.locks, prepared: f.prepared }).toEqual({
        shard,
        pending: 0,
        locks: 0,
        prepared: 0,
      });
      expect(f.ledger.has('T1') || f.ledger.has('T2')).toBe(false);
      total += f.total;
    }
    expect(total).toBe(INITIAL_BALANCE * BigInt(ACCOUNTS * SHARDS.length));
    expect(shardFacts(cluster, 'shard-a').ledger.get('T3')).toBe(-30n);
    expect(shardFacts(cluster, 'shard-c').ledger.get('T3')).toBe(30n);
    expect(shardFacts(cluster, 'shard-a').state(t3)).toMatchObject({ state: 'COMMITTED', decisionSeq: 1n });
    expect(shardFacts(cluster, 'shard-c').state(t3)).toMatchObject({ state: 'COMMITTED', decisionSeq: 1n });

    expect(expectOk(await recover(['resolve', '--all', ...dir]))).toContain('Nothing in doubt');
    expect(expectOk(await recover(['status', ...dir]))).toMatch(/^No transactions in doubt/);
    const again = expectOk(await recover(['resolve', t3, ...dir]));
    expect(again).toMatch(
      /SKIPPED\s+not in doubt on any shard \(shard-a COMMITTED, shard-b UNKNOWN, shard-c COMMITTED\)/,
    );
  });

  it('log lists and filters the decision log', async () => {
    const table = expectOk(
      await recover(['log', '--log', logFile(cluster), '--state', 'COMMITTING,ABORTED']),
    );
    expect(table.split('\n')[0]).toMatch(/^TXN\s+STATUS\s+SEQ\s+SHARDS\s+STARTED\s+DECIDED\s+ENDED\s+NOTE$/);
    expect(table).toMatch(new RegExp(`${t3}\\s+COMMITTING\\s+1\\s+shard-a,shard-c`));
    expect(table).toMatch(
      new RegExp(`${t1}\\s+ABORTED\\s+-\\s+shard-a,shard-b.*HEURISTIC: heuristic abort by alice`),
    );
    expect(expectOk(await recover(['log', ...dir, '--state', 'intent']))).toBe('No matching records.\n');
    expect(
      expectOk(await recover(['log', ...dir, '--since', '1h', '--limit', '1', '--json']))
        .trim()
        .split('\n'),
    ).toHaveLength(1);
    expect(expectOk(await recover(['log', ...dir, '--since', '2999-01-01T00:00:00Z']))).toBe(
      'No matching records.\n',
    );
  });

  it('usage mistakes are one line and exit 2', async () => {
    expectRefusal(
      await recover(['status', ...dir, '--participant', 'shard-a=127.0.0.1:1']),
      /cannot be mixed/,
    );
    expectRefusal(await recover(['status']), /say where the cluster is/);
    expectRefusal(await recover(['status', ...dir, '--bogus']), /unknown flag --bogus/);
    expectRefusal(await recover(['resolve', t1, '--all', ...dir]), /one TXN or --all, not both/);
    expectRefusal(await recover(['resolve', ...dir]), /missing TXN/);
    expectRefusal(
      await recover(['resolve', 'tx_00000000000000000000000000000000', ...dir]),
      /transaction tx_0+ is not known to the decision log or to any shard/,
    );
    expectRefusal(await recover(['force-abort', t1, ...dir]), /missing required flag --reason/);
    expectRefusal(await recover(['force-abort', t1, '--reason', ' ', ...dir]), /--reason must say why/);
    expectRefusal(await recover(['log', ...dir, '--state', 'BOGUS']), /--state: "BOGUS" is not one of/);
    expectRefusal(
      await recover(['log', ...dir, '--since', 'yesterday']),
      /--since: "yesterday" is not a time/,
    );
    expectRefusal(
      await recover(['status', '--shard', 'x=/nonexistent/x.db']),
      /shard file \/nonexistent\/x\.db does not exist/,
    );
    expectRefusal(await recover(['frobnicate']), /unknown subcommand "frobnicate"/);
    const resolveWithoutLog = await recover([
      'resolve',
      '--all',
      '--shard',
      `shard-a=${cluster.shardFile('shard-a')}`,
    ]);
    expectRefusal(resolveWithoutLog, /resolve needs the decision log or the coordinator/);
  });
});
