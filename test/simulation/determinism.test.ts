/**
 * A seed replays exactly: the same seed gives the same history (JSON lines, byte for byte), the same
 * fault schedule and the same verdicts, whichever seeds ran before it in the process; a seed reported
 * by a batch replays alone with the same stats. Different seeds give different runs.
 */
import { describe, expect, it } from 'vitest';
import { formatHistory } from '../../chaos/history.ts';
import { simulateSeeds } from '../../chaos/simulation/seed-batch.ts';
import { runSimulation, type SimulationResult } from '../../chaos/simulation/simulation.ts';

/** Everything a run decided, as text; realMs (real time) is the only thing left out. */
function fingerprint(r: SimulationResult): string {
  const { realMs: _realMs, ...stats } = r.stats;
  const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
  return [formatHistory(r.history), json(r.faults), json(r.verdicts), json(stats), json(r.profile)].join(
    '\n',
  );
}

describe('deterministic simulation', () => {
  it('replays a seed: the same history JSON, faults and verdicts', async () => {
    for (const seed of [3, 22]) {
      const first = await runSimulation(seed);
      await runSimulation(seed + 1000); // something else in between must not matter
      const again = await runSimulation(seed);
      expect(first.history.length).toBeGreaterThan(0);
      expect(formatHistory(again.history)).toBe(formatHistory(first.history));
      expect(fingerprint(again)).toBe(fingerprint(first));
    }
  });

  it('gives different seeds different runs', async () => {
    const a = await runSimulation(5);
    const b = await runSimulation(6);
    expect(formatHistory(a.history)).not.toBe(formatHistory(b.history));
  });

  it('replays a seed of a batch alone with the same stats', async () => {
    const fromBatch = new Map<number, unknown>();
    await simulateSeeds(8, 9, {
      onSeed: (o) => {
        const { realMs: _realMs, ...stats } = o.stats ?? { realMs: 0 };
        fromBatch.set(o.seed, stats);
      },
    });
    for (const seed of [9, 8]) {
      const { realMs: _realMs, ...alone } = (await runSimulation(seed)).stats;
      expect(alone).toEqual(fromBatch.get(seed));
    }
  });
});
