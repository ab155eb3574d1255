/**
 * The list-append workload in the deterministic simulator: a batch of seeds over the correct build
 * passes the Elle-style checker, durability and liveness while really exercising faults and outcomes
 * (and giving the checker dependency edges to search); a seed replays exactly; and a broken build is
 * caught by the list-append checker itself (a lost append), not only by durability.
 */
import { describe, expect, it } from 'vitest';
import { formatHistory } from '../../chaos/history.ts';
import { simulateSeeds } from '../../chaos/simulation/seed-batch.ts';
import { runSimulation } from '../../chaos/simulation/simulation.ts';

/** Seeds in the CI batch: a few seconds on one core. */
const seedsInCi = 25;

describe('list-append simulation', () => {
  it(`passes every checker on seeds 1..${seedsInCi} and exercises faults and outcomes`, async () => {
    const batch = await simulateSeeds(1, seedsInCi, { workload: 'list-append' });
    const failures = batch.failed.map((f) => `seed ${f.seed}: ${f.error ?? f.failures.join('; ')}`);
    expect(failures).toEqual([]);
    const t = batch.totals;
    for (const key of ['txn.ok', 'txn.fail', 'txn.info', 'reSent', 'crashes.coordinator', 'messages.dropped'])
      expect(t[key], key).toBeGreaterThan(0);
    expect(t['transfer.ok'], 'no bank ops in a list-append run').toBeUndefined();
  });

  it('replays a seed exactly, and its checker had dependencies to search', async () => {
    const first = await runSimulation(3, { workload: 'list-append', ops: 100 });
    const again = await runSimulation(3, { workload: 'list-append', ops: 100 });
    expect(formatHistory(again.history)).toBe(formatHistory(first.history));
    expect(first.verdicts.map((v) => v.checker)).toEqual([
      'list-append',
      'durability',
      'liveness',
      'internal-errors',
    ]);
    const elle = first.verdicts[0]!.stats as { ok: number; edges: number };
    // Seed 3 crashes the coordinator and participants, partitions and isolates nodes, slows disks.
    expect(first.stats.crashes.coordinator + first.stats.crashes.participants).toBeGreaterThan(0);
    expect(elle.ok).toBeGreaterThan(20);
    expect(elle.edges).toBeGreaterThan(50);
  });

  it('catches a coordinator that answers COMMITTED before forcing: a lost append', async () => {
    const batch = await simulateSeeds(1, 40, {
      workload: 'list-append',
      mutant: 'answer-before-forced',
      failuresMax: 1,
    });
    expect(batch.failed.length, `passed ${batch.runs} seeds`).toBe(1);
    expect(batch.failed[0]!.failures.join('\n')).toMatch(/list-append: .*lost-append/);
  });
});
