/**
 * Short runs with the services under the cluster taken down, with the correct build: the s3rver the
 * participants ship their WAL to (replica-outage) and the redis-server of the coordinator's decision
 * log (redis-outage), each SIGKILLed and restarted on its port and directory, or SIGSTOPped, among
 * process kills. Every checker must pass — decision-log-outage (nothing needing a decision was told
 * COMMITTED while Redis was down), replica (every shard verified and restored from its replica holds
 * exactly what the shard holds) and replica-durability (every acknowledged transaction is in the
 * replica) included — and nothing may outlive the run.
 */
import { expect, it } from 'vitest';
import { chaosRun, expectFaultsApplied, processesMentioning } from './chaos-runs.ts';

const CHECKERS = [
  'bank',
  'liveness',
  'durability',
  'process-exits',
  'decision-log-outage',
  'replica',
  'replica-durability',
];

/**
 * Seed 6 (even: sync shipping, participants SIGKILLed at the end, so the replica holds only what sync
 * mode promised) plans both outages, each killed and paused, among process kills.
 */
it(
  'bank, sync shipping, under replica and Redis outages and kills: every checker passes',
  { timeout: 180_000 },
  async () => {
    const run = await chaosRun({
      seed: 6,
      durationMs: 20_000,
      workload: 'bank',
      faults: ['replica-outage', 'redis-outage', 'kill'],
      clients: 6,
    });
    const s = run.summary;
    expect(s.valid, run.context).toBe(true);
    expect([s.replication, s.decisionLog]).toEqual(['sync', 'redis']);
    expect(s.checkers.map((v) => v.checker)).toEqual(CHECKERS);
    expect(Object.keys(s.faults.byKind).sort(), run.context).toEqual([
      'kill',
      'redis-outage',
      'replica-outage',
    ]);
    expectFaultsApplied(s, run.context);
    expect(s.processes.starts.redis, 'redis was killed and started again').toBeGreaterThan(1);
    // Few commits get through (sync votes wait for the replica, coordinator restarts cost seconds of
    // start-up on a busy machine): some must, and every one is checked in the restored files.
    expect(s.ops.transfer!.ok, run.context).toBeGreaterThan(5);
    const replica = s.checkers.find((v) => v.checker === 'replica')!;
    expect((replica.stats as { restoredMarkers: number }).restoredMarkers, run.context).toBeGreaterThan(10);
    expect(processesMentioning(run.outDir), 'processes left behind').toEqual([]);
    run.cleanUp();
  },
);

/** Seed 9 (odd: async shipping, flushed by a graceful stop) plans both outages, each killed and paused, among partitions. */
it(
  'list-append, async shipping, under replica and Redis outages and partitions: every checker passes',
  { timeout: 180_000 },
  async () => {
    const run = await chaosRun({
      seed: 9,
      durationMs: 20_000,
      workload: 'list-append',
      faults: ['replica-outage', 'redis-outage', 'partition'],
      clients: 6,
    });
    const s = run.summary;
    expect(s.valid, run.context).toBe(true);
    expect([s.replication, s.decisionLog]).toEqual(['async', 'redis']);
    expect(Object.keys(s.faults.byKind).sort(), run.context).toEqual([
      'partition',
      'redis-outage',
      'replica-outage',
    ]);
    expectFaultsApplied(s, run.context);
    const elle = s.checkers.find((v) => v.checker === 'list-append')!;
    expect((elle.stats as { ok: number }).ok, run.context).toBeGreaterThan(20);
    expect(s.checkers.find((v) => v.checker === 'replica')?.valid, run.context).toBe(true);
    expect(processesMentioning(run.outDir), 'processes left behind').toEqual([]);
    run.cleanUp();
  },
);
