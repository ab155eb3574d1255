/**
 * The soak's sampling plan, its start/end/max, and the memory verdict judged from it (targets.ts).
 * Pure functions over made-up RSS series: no processes.
 */
import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../cli/bench/latency-histogram.ts';
import {
  soakMemory,
  soakPlan,
  soakScenarioOf,
  type SoakRecord,
  type SoakSample,
} from '../../cli/bench/soak.ts';
import { judgeTargets } from '../../cli/bench/targets.ts';

const PIDS = [
  { name: 'coordinator', pid: 10 },
  { name: 'shard-a', pid: 11 },
];

/** A soak of `soakSec` sampled as planned, the coordinator's RSS given by `coordinatorMb`, shard-a flat at 140 MB. */
function soakOf(soakSec: number, coordinatorMb: (atSec: number) => number): SoakRecord {
  const plan = soakPlan(soakSec * 1000);
  const samples: SoakSample[] = [];
  for (let k = 1; k * plan.sampleMs <= soakSec * 1000; k++) {
    const atSec = (k * plan.sampleMs) / 1000;
    samples.push({
      atSec,
      committed: 4000 * atSec,
      txnPerSec: 4000,
      rssMb: { coordinator: coordinatorMb(atSec), 'shard-a': 140 },
    });
  }
  return {
    system: 'twopc',
    scenario: '2shard',
    clients: 64,
    soakSec,
    measuredSec: soakSec,
    sampleSec: plan.sampleMs / 1000,
    txnPerSec: 4000,
    committed: 4000 * soakSec,
    aborted: 0,
    errors: 0,
    latencyMs: new LatencyHistogram().summary(),
    samples,
    ...soakMemory(samples, plan.startIndex, PIDS),
  };
}

function memoryVerdict(soak: SoakRecord | null) {
  const verdict = judgeTargets([], soak).find((t) => t.id === 'memory-flat');
  if (verdict === undefined) throw new Error('no memory-flat verdict');
  return verdict;
}

/** Warm-up: 130 MB at 10 s rising to 250 MB at 60 s, then `after(atSec)`. */
const warmingThen = (after: (atSec: number) => number) => (atSec: number) =>
  atSec < 60 ? 130 + (120 * (atSec - 10)) / 50 : after(atSec);

describe('soak plan', () => {
  it('samples every 10 s and starts at 60 s in a long soak, at a fifth of a short one', () => {
    expect(soakPlan(360_000)).toEqual({ sampleMs: 10_000, startMs: 60_000, startIndex: 5 });
    expect(soakPlan(3_000)).toEqual({ sampleMs: 600, startMs: 600, startIndex: 0 });
    // 24 s in: the first sample at or after it is the third (30 s).
    expect(soakPlan(120_000)).toEqual({ sampleMs: 10_000, startMs: 24_000, startIndex: 2 });
  });

  it('soaks the 2-shard transfer if the run has it, else the first scenario twopc runs', () => {
    expect(soakScenarioOf(['2shard', '1shard'], () => true)).toBe('2shard');
    expect(soakScenarioOf(['1shard', '2shard-wal-async'], () => true)).toBe('1shard');
    expect(soakScenarioOf(['1shard', '2shard-wal-async'], (s) => s !== '1shard')).toBe('2shard-wal-async');
    expect(soakScenarioOf(['2shard-wal-sync'], () => false)).toBeUndefined();
  });

  it('takes start from the planned sample, end from the last, max from all', () => {
    const soak = soakOf(
      360,
      warmingThen((at) => (at === 200 ? 270 : 250)),
    );
    expect(soak).toMatchObject({ startAtSec: 60, endAtSec: 360, spanSec: 300 });
    expect(soak.processes).toEqual([
      { name: 'coordinator', pid: 10, rssStartMb: 250, rssEndMb: 250, rssMaxMb: 270 },
      { name: 'shard-a', pid: 11, rssStartMb: 140, rssEndMb: 140, rssMaxMb: 140 },
    ]);
  });

  it('gives a soak cut short before its start sample a zero span', () => {
    const samples = soakOf(360, () => 250).samples.slice(0, 3);
    expect(soakMemory(samples, 5, PIDS)).toMatchObject({ startAtSec: 30, endAtSec: 30, spanSec: 0 });
    expect(soakMemory([], 5, PIDS)).toMatchObject({ spanSec: 0, processes: [] });
  });

  it('rounds the span to whole seconds, so timer jitter does not cost a default soak its verdict', () => {
    const at = (atSec: number): SoakSample => ({
      atSec,
      committed: 0,
      txnPerSec: 0,
      rssMb: { coordinator: 1 },
    });
    expect(soakMemory([at(60.004), at(359.998)], 0, PIDS).spanSec).toBe(300);
  });
});

describe('memory target', () => {
  it('is met when RSS stays flat after the warm start sample, whatever it did before', () => {
    const verdict = memoryVerdict(
      soakOf(
        360,
        warmingThen((at) => 250 + (10 * (at - 60)) / 300),
      ),
    );
    expect(verdict.met).toBe(true);
    expect(verdict.margin).toBe('largest growth 4 % (flat = at most 10 %)');
    expect(verdict.measured).toMatch(/^coordinator 250→260 MB \(max 260\), shard-a 140→140 MB \(max 140\)/);
    expect(verdict.measured).toMatch(/over 300 s of soak, 64 clients, 4000 txn\/s/);
    // A peak that passes is not growth: the end is compared with the start.
    const peak = memoryVerdict(
      soakOf(
        360,
        warmingThen((at) => (at === 200 ? 300 : 250)),
      ),
    );
    expect(peak).toMatchObject({ met: true, margin: 'largest growth 0 % (flat = at most 10 %)' });
    expect(peak.measured).toMatch(/^coordinator 250→250 MB \(max 300\)/);
    // Exactly 10 % is still flat.
    expect(memoryVerdict(soakOf(360, (at) => (at < 360 ? 200 : 220))).met).toBe(true);
  });

  it('is missed when a process grows more than 10 % between start and end', () => {
    const verdict = memoryVerdict(
      soakOf(
        600,
        warmingThen((at) => 250 + (30 * (at - 60)) / 540),
      ),
    );
    expect(verdict.met).toBe(false);
    expect(verdict.margin).toBe('largest growth 12 % (flat = at most 10 %)');
  });

  it('is not judged when the start and end samples are under 300 s apart, and says how to get a verdict', () => {
    // --soak 5m: the start sample is at 60 s, so only 240 s are measured.
    const fiveMinutes = memoryVerdict(soakOf(300, () => 400));
    expect(fiveMinutes.met).toBeNull();
    expect(fiveMinutes.margin).toBe(
      "not judged: the soak's start and end samples are 240 s apart (< 300 s); run with --soak 7m or longer for a verdict",
    );
    expect(memoryVerdict(soakOf(3, (at) => 100 * at)).met).toBeNull();
  });

  it('is not judged without a soak: the regular slices compare different loads', () => {
    const verdict = memoryVerdict(null);
    expect(verdict.met).toBeNull();
    expect(verdict.measured).toMatch(/no soak in this run/);
    expect(verdict.margin).toBe('not judged: run with --soak 7m or longer for a verdict');
  });

  it('is not judged when an RSS sample could not be read', () => {
    const verdict = memoryVerdict(soakOf(360, (at) => (at === 60 ? Number.NaN : 250)));
    expect(verdict.met).toBeNull();
    expect(verdict.margin).toMatch(/could not be read/);
  });
});
