/**
 * A short list-append run under SIGSTOP/SIGCONT pauses and link latency, with the correct build: the
 * Elle-style checker finds no anomaly over a history with real dependency edges, and nothing is left
 * in doubt or behind.
 */
import { expect, it } from 'vitest';
import { chaosRun, processesMentioning } from './chaos-runs.ts';

/** Seed 3 plans pauses of the coordinator and a shard, and latency on the coordinator's links. */
const seed = 3;

it('list-append under pause and delay: every checker passes', { timeout: 150_000 }, async () => {
  const run = await chaosRun({
    seed,
    durationMs: 15_000,
    workload: 'list-append',
    faults: ['pause', 'delay'],
    clients: 6,
  });
  const s = run.summary;
  expect(s.valid, run.context).toBe(true);
  expect(Object.keys(s.faults.byKind).sort(), run.context).toEqual(['delay', 'pause']);
  const elle = s.checkers.find((v) => v.checker === 'list-append')!;
  const stats = elle.stats as { ok: number; edges: number; reads: number };
  expect(stats.ok, run.context).toBeGreaterThan(30);
  expect(stats.edges, 'the history has dependencies to check').toBeGreaterThan(30);
  expect(processesMentioning(run.outDir), 'processes left behind').toEqual([]);
  run.cleanUp();
});
