/**
 * The nemesis's plan is a pure function of its options: the same seed gives the same faults, lanes
 * never overlap themselves, everything ends before the cooldown, and filters are obeyed.
 */
import { describe, expect, it } from 'vitest';
import {
  AVAILABLE_FAULT_KINDS,
  cooldownMs,
  laneOf,
  planSchedule,
  type FaultWindow,
  type ScheduleOptions,
} from '../../chaos/schedule.ts';

const shards = ['shard-a', 'shard-b', 'shard-c'];
const base: ScheduleOptions = { seed: 42, durationMs: 60_000, kinds: AVAILABLE_FAULT_KINDS, shards };

function lanes(windows: readonly FaultWindow[]): FaultWindow[][] {
  return (['process', 'network', 'service'] as const).map((lane) =>
    windows.filter((w) => laneOf(w.kind) === lane),
  );
}

describe('planSchedule', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = planSchedule(base);
    expect(planSchedule({ ...base })).toEqual(a);
    expect(a.length).toBeGreaterThan(10);
    const b = planSchedule({ ...base, seed: 43 });
    expect(b).not.toEqual(a);
  });

  it('uses every enabled kind over a long run, and only those', () => {
    const kinds = new Set(planSchedule({ ...base, durationMs: 300_000 }).map((w) => w.kind));
    expect([...kinds].sort()).toEqual([...AVAILABLE_FAULT_KINDS].sort());
    const only = planSchedule({ ...base, kinds: ['pause', 'delay'] });
    expect(new Set(only.map((w) => w.kind))).toEqual(new Set(['pause', 'delay']));
    expect(planSchedule({ ...base, kinds: [] })).toEqual([]);
  });

  it('keeps each lane free of overlaps and every window inside the run, before the cooldown', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const windows = planSchedule({ ...base, seed });
      windows.forEach((w, i) => expect(w.id).toBe(i));
      for (const lane of lanes(windows)) {
        for (let i = 1; i < lane.length; i++) {
          const prev = lane[i - 1]!;
          expect(lane[i]!.startMs).toBeGreaterThanOrEqual(prev.startMs + prev.durationMs);
        }
      }
      for (const w of windows) {
        expect(w.startMs).toBeGreaterThan(0);
        expect(w.startMs + w.durationMs).toBeLessThanOrEqual(base.durationMs - cooldownMs);
      }
    }
  });

  it('matches failpoints to the role of their target and obeys the target filter', () => {
    const windows = planSchedule({ ...base, durationMs: 300_000 });
    for (const w of windows) {
      if (w.detail.kind !== 'failpoints') continue;
      expect(
        w.detail.failpoint.startsWith(w.target === 'coordinator' ? 'coordinator.' : 'participant.'),
      ).toBe(true);
      expect(w.detail.onHit).toBeGreaterThanOrEqual(1);
    }
    const focused = planSchedule({ ...base, targets: ['coordinator'] });
    expect(focused.length).toBeGreaterThan(0);
    expect(new Set(focused.map((w) => w.target))).toEqual(new Set(['coordinator']));
    // `clients` is a network target only: process faults drop out, network faults stay.
    const clientsOnly = planSchedule({ ...base, targets: ['clients'] });
    expect(clientsOnly.every((w) => w.kind === 'partition' || w.kind === 'delay')).toBe(true);
  });

  it('takes the replica store and Redis down, each as its own target, killed or paused', () => {
    const windows = planSchedule({ ...base, durationMs: 300_000 });
    const outages = windows.filter((w) => laneOf(w.kind) === 'service');
    expect(outages.length).toBeGreaterThan(10);
    for (const w of outages) {
      expect(w.target).toBe(w.kind === 'replica-outage' ? 'replica' : 'redis');
      expect(w.detail).toEqual({ kind: w.kind, mode: expect.stringMatching(/^(kill|pause)$/) });
    }
    expect(new Set(outages.map((w) => (w.detail as { mode: string }).mode))).toEqual(
      new Set(['kill', 'pause']),
    );
    // The service lane is planned last: a seed's plan for the older kinds is unchanged by it.
    const older = ['kill', 'pause', 'partition', 'delay', 'failpoints'] as const;
    const strip = (ws: FaultWindow[]) => ws.map(({ id: _id, ...w }) => w);
    expect(strip(windows.filter((w) => laneOf(w.kind) !== 'service'))).toEqual(
      strip(planSchedule({ ...base, durationMs: 300_000, kinds: older })),
    );
    expect(planSchedule({ ...base, targets: ['redis'] }).every((w) => w.kind === 'redis-outage')).toBe(true);
  });
});
