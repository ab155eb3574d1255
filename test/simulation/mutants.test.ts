/**
 * The simulator catches deliberately broken builds (chaos/simulation/mutants.ts): a coordinator that
 * answers COMMITTED before its decision is forced, and participants that vote YES before the prepare
 * is durable. Each must fail a checker on some seed of a small batch, with the anomaly that bug
 * produces. A third mutant (Commits dropped but acknowledged) must pass: the participants' in-doubt
 * resolvers heal it, which is what they are for. The production build's own mutation switch
 * `release-locks-at-prepare` (common/mutations.ts, read from TWOPC_MUTATION at start-up) is caught
 * too, in a process of its own so the switch cannot leak into other tests.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { simulateSeeds } from '../../chaos/simulation/seed-batch.ts';
import { runSimulation } from '../../chaos/simulation/simulation.ts';

/** Seeds a mutant gets to show itself; the first failure ends the batch. */
const seedsMax = 50;

async function firstFailure(mutant: 'answer-before-forced' | 'vote-before-durable') {
  const batch = await simulateSeeds(1, seedsMax, { mutant, failuresMax: 1 });
  expect(batch.failed.length, `${mutant} passed ${batch.runs} seeds`).toBe(1);
  const failed = batch.failed[0];
  expect(failed?.error).toBeUndefined();
  return { seed: failed?.seed as number, failures: failed?.failures.join('\n') ?? '' };
}

describe('mutants', () => {
  it('catches a coordinator that answers COMMITTED before the decision is forced', async () => {
    const { seed, failures } = await firstFailure('answer-before-forced');
    expect(failures).toMatch(/lost-commit|acknowledged-not-applied|partial/);
    // The failing seed replays: the same verdicts again.
    const replay = await runSimulation(seed, { mutant: 'answer-before-forced' });
    expect(replay.valid).toBe(false);
    expect(replay.verdicts.filter((v) => !v.valid).map((v) => v.checker)).toContain('durability');
  });

  it('catches participants that vote YES before the prepare is durable', async () => {
    const { failures } = await firstFailure('vote-before-durable');
    expect(failures).toMatch(/partially-applied|lost-commit|wrong-total|balance-mismatch|negative/);
  });

  it('heals Commits that were dropped but acknowledged (the resolver asks the coordinator)', async () => {
    const batch = await simulateSeeds(1, 8, { mutant: 'commit-dropped-acked', faults: [] });
    expect(batch.failed.map((f) => f.seed)).toEqual([]);
    expect(batch.totals['resolvedInDoubt.committed']).toBeGreaterThan(0);
  });
});

describe('production mutation switches', () => {
  it('catches release-locks-at-prepare (TWOPC_MUTATION) in a process of its own', () => {
    const simulation = fileURLToPath(new URL('../../chaos/simulation/simulation.ts', import.meta.url));
    const script = `
      const { runSimulation } = await import(${JSON.stringify(simulation)});
      const r = await runSimulation(1, { ops: 30 });
      process.stdout.write(JSON.stringify(r.verdicts.filter((v) => !v.valid).map((v) => v.checker)));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, TWOPC_MUTATION: 'release-locks-at-prepare' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).toContain('MUTATION ACTIVE release-locks-at-prepare');
    expect(JSON.parse(child.stdout)).toContain('bank');
  });
});
