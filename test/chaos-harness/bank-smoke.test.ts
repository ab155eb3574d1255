/**
 * A short bank run under process kills (coordinator included), partitions and crash failpoints, with
 * the correct build: every checker must pass, every applied fault must have been healed (a lane behind
 * its plan on a busy machine may drop its last windows: chaos-runs.ts), the report must be complete,
 * and no process may outlive the run.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { chaosRun, expectFaultsApplied, processesMentioning } from './chaos-runs.ts';

/** Seed 5 plans coordinator kills, client-link partitions and a coordinator failpoint in 15 s. */
const seed = 5;

it('bank under kill, partition and failpoints: every checker passes', { timeout: 150_000 }, async () => {
  const run = await chaosRun({
    seed,
    durationMs: 15_000,
    workload: 'bank',
    faults: ['kill', 'partition', 'failpoints'],
    clients: 6,
  });
  const s = run.summary;
  expect(s.valid, run.context).toBe(true);
  expect(s.checkers.map((v) => v.checker)).toEqual(['bank', 'liveness', 'durability', 'process-exits']);
  expect(Object.keys(s.faults.byKind).sort(), run.context).toEqual(['failpoints', 'kill', 'partition']);
  expectFaultsApplied(s, run.context);
  // Few on a busy machine (each coordinator restart costs seconds of tsx start-up): some must commit.
  expect(s.ops.transfer!.ok, run.context).toBeGreaterThan(5);
  expect(s.processes.starts.coordinator, 'the coordinator was restarted').toBeGreaterThan(1);
  const history = readFileSync(path.join(run.outDir, 'history.jsonl'), 'utf8').trim().split('\n');
  expect(history.length).toBeGreaterThan(100);
  expect(readFileSync(path.join(run.outDir, 'report.html'), 'utf8')).toContain('<svg');
  expect(existsSync(path.join(run.outDir, 'logs', 'coordinator.log'))).toBe(true);
  expect(processesMentioning(run.outDir), 'processes left behind').toEqual([]);
  run.cleanUp();
});
