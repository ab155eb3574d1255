import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../cli/bench/latency-histogram.ts';
import { reportJson, type BenchReport } from '../../cli/bench/report.ts';
import { RowAccumulator, withRatios, type BenchRow } from '../../cli/bench/results.ts';
import { judgeTargets } from '../../cli/bench/targets.ts';
import type { SystemName } from '../../cli/bench/system.ts';
import type { Scenario } from '../../cli/bench/workload.ts';

/** A measured row: `committed` transactions in 1 s, every one taking `latencyMs`. */
function row(
  system: SystemName,
  scenario: Scenario,
  clients: number,
  committed: number,
  latencyMs: number,
): BenchRow {
  const latency = new LatencyHistogram();
  for (let i = 0; i < committed; i++) latency.recordMs(latencyMs);
  const acc = new RowAccumulator(system, scenario, clients, undefined);
  acc.add(
    {
      clients,
      measuredMs: 1000,
      committed,
      aborted: 0,
      errors: 0,
      abortReasons: {},
      errorMessages: {},
      latency,
    },
    [
      {
        name: 'p',
        pid: 1,
        processCount: 1,
        cpuSec: 0.5,
        windowSec: 1,
        rssPeakKb: 2048,
        rssKind: 'peak-in-window',
      },
    ],
  );
  return acc.row();
}

describe('bench results', () => {
  it('merges slices into a row: rate over all windows, CPU % of one core, peak memory', () => {
    const acc = new RowAccumulator('twopc', '2shard', 16, 'm');
    const slice = (committed: number, ms: number) => {
      const latency = new LatencyHistogram();
      for (let i = 0; i < committed; i++) latency.recordMs(ms);
      return {
        clients: 16,
        measuredMs: 500,
        committed,
        aborted: 1,
        errors: 0,
        abortReasons: { CONFLICT: 1 },
        errorMessages: {},
        latency,
      };
    };
    acc.add(slice(100, 2), [
      {
        name: 'coordinator',
        pid: 7,
        processCount: 1,
        cpuSec: 0.25,
        windowSec: 0.5,
        rssPeakKb: 1024,
        rssKind: 'peak-in-window',
      },
    ]);
    acc.add(slice(300, 4), [
      {
        name: 'coordinator',
        pid: 7,
        processCount: 1,
        cpuSec: 0.5,
        windowSec: 0.5,
        rssPeakKb: 3072,
        rssKind: 'peak-in-window',
      },
    ]);
    const r = acc.row();
    expect(r.txnPerSec).toBe(400);
    expect(r.aborted).toBe(2);
    expect(r.abortReasons).toEqual({ CONFLICT: 2 });
    expect(r.latencyMs?.p50).toBeCloseTo(4, 1);
    expect(r.processes).toEqual([
      {
        name: 'coordinator',
        pid: 7,
        processCount: 1,
        cpuPercent: 75,
        rssPeakMb: 3,
        rssKind: 'peak-in-window',
      },
    ]);
  });

  it('computes twopc / PostgreSQL ratios per scenario and clients, and none without a PostgreSQL row', () => {
    const rows = withRatios([
      row('twopc', '2shard', 16, 8000, 2),
      row('postgres', '2shard', 16, 4000, 4),
      row('sqlite', '2shard', 16, 6000, 1),
      row('twopc', '2shard', 64, 9000, 8),
    ]);
    expect(rows[0]?.vsPostgres?.throughput).toBe(2);
    expect(rows[0]?.vsPostgres?.p50).toBeCloseTo(0.5, 2);
    expect(rows[0]?.vsPostgres?.p99).toBeCloseTo(0.5, 2);
    expect(rows[0]?.vsNoShipping).toBeUndefined();
    expect(rows[1]?.vsPostgres).toBeUndefined();
    expect(rows[2]?.vsPostgres?.throughput).toBe(1.5);
    expect(rows[3]?.vsPostgres).toBeNull();
  });

  it("sets each WAL shipping row against twopc's row without shipping (and PostgreSQL's 2-shard row)", () => {
    const rows = withRatios([
      row('twopc', '2shard', 16, 8000, 2),
      row('postgres', '2shard', 16, 4000, 4),
      row('twopc', '2shard-wal-async', 16, 7600, 2.5),
      row('twopc', '2shard-wal-sync', 16, 2000, 8),
      row('twopc', '2shard-wal-sync', 64, 3000, 20),
    ]);
    expect(rows[2]?.vsNoShipping?.throughput).toBeCloseTo(0.95, 6);
    expect(rows[2]?.vsNoShipping?.p50).toBeCloseTo(1.25, 1);
    expect(rows[2]?.vsPostgres?.throughput).toBeCloseTo(1.9, 6);
    expect(rows[3]?.vsNoShipping?.throughput).toBeCloseTo(0.25, 6);
    expect(rows[4]?.vsNoShipping).toBeNull(); // no 64-client row without shipping
    const cost = judgeTargets(rows, null).find((t) => t.id === 'wal-async-cost');
    expect(cost).toMatchObject({ met: true, measured: '5 % at 16 client(s)' });
    const expensive = withRatios([
      row('twopc', '2shard', 1, 1000, 1),
      row('twopc', '2shard-wal-async', 1, 850, 1),
      row('twopc', '2shard', 16, 8000, 2),
      row('twopc', '2shard-wal-async', 16, 7900, 2),
    ]);
    const missed = judgeTargets(expensive, null).find((t) => t.id === 'wal-async-cost');
    expect(missed?.met).toBe(false);
    expect(missed?.margin).toMatch(/missed by 5 points at 1 clients/);
  });

  it('judges the targets: met, missed by how much, or not judged', () => {
    const rows = withRatios([
      row('twopc', '2shard', 1, 900, 1.2),
      row('postgres', '2shard', 1, 1000, 0.9),
      row('twopc', '2shard', 16, 7000, 8),
      row('postgres', '2shard', 16, 3600, 4),
    ]);
    const byId = new Map(judgeTargets(rows, null).map((t) => [t.id, t]));
    expect(byId.get('peak-throughput')?.met).toBe(false);
    expect(byId.get('peak-throughput')?.margin).toMatch(/needs 7200\/s/);
    expect(byId.get('p99-at-16')?.met).toBe(true);
    expect(byId.get('p50-at-1')?.met).toBe(false);
    expect(byId.get('p50-at-1')?.margin).toMatch(/missed by 0\.2\d ms/);
    expect(byId.get('wal-async-cost')?.met).toBeNull();
    expect(byId.get('memory-flat')?.met).toBeNull();
  });

  it('writes NaN as null in JSON', () => {
    const json = reportJson({ rows: [{ vsPostgres: { throughput: Number.NaN } }] } as unknown as BenchReport);
    expect(JSON.parse(json)).toEqual({ rows: [{ vsPostgres: { throughput: null } }] });
  });
});
