/**
 * A batch of seeds over the correct build: every seed passes every checker, and the batch really
 * exercised what it claims to (crashes of both kinds, lost and duplicated messages, unknown outcomes
 * re-sent with their keys, aborts, in-doubt transactions settled by the participants themselves), so
 * a simulator that quietly stopped injecting faults fails here too.
 */
import { describe, expect, it } from 'vitest';
import { simulateSeeds } from '../../chaos/simulation/seed-batch.ts';

/** Seeds in the CI batch: ~5 s on one core of this machine. */
const seedsInCi = 50;

describe('simulation batch', () => {
  it(`passes every checker on seeds 1..${seedsInCi} and exercises every fault`, async () => {
    const batch = await simulateSeeds(1, seedsInCi);
    const failures = batch.failed.map((f) => `seed ${f.seed}: ${f.error ?? f.failures.join('; ')}`);
    expect(failures).toEqual([]);
    expect(batch.passed).toBe(seedsInCi);
    const t = batch.totals;
    for (const key of [
      'transfer.ok',
      'transfer.fail',
      'transfer.info',
      'read.ok',
      'reSent',
      'crashes.coordinator',
      'crashes.participants',
      'messages.dropped',
      'messages.duplicated',
      'resolvedInDoubt.aborted',
      'faults.partition',
      'faults.isolate',
      'faults.lossy',
      'faults.slow-disk',
    ])
      expect(t[key], key).toBeGreaterThan(0);
  });
});
