/**
 * The performance targets of issue 7, judged against one run's rows: met, missed (and by how much),
 * or not judged (the run lacks the rows). The figures come from the same
 * run, so drift between runs cannot make a target look met.
 */
import type { BenchRow } from './results.ts';

/** 2-shard transfers: twopc's peak txn/s must be at least this multiple of PostgreSQL 2PC's peak. */
export const peakThroughputRatioMin = 2;
/** 2-shard transfers at 16 clients: p99 at most this. */
export const p99MsMaxAt16 = 10;
/** 2-shard transfers at 1 client: p50 at most this. */
export const p50MsMaxAt1 = 1;
/** Async WAL shipping may cost at most this share of the 2-shard throughput without shipping. */
export const walAsyncCostMax = 0.1;
/** A run this long judges "RSS stays flat"; shorter runs only report start and end. */
export const memoryRunSecMin = 300;
/** "Flat": RSS at the end at most this much above RSS at the start (allocator and cache warm-up). */
export const memoryGrowthRatioMax = 1.1;

export interface TargetVerdict {
  readonly id: string;
  readonly target: string;
  readonly measured: string;
  /** null: not judged by this run (see `measured`). */
  readonly met: boolean | null;
  /** How far from the target, in words ("missed by 0.31 ms (31 %)"). */
  readonly margin: string;
}

export interface MemoryRecord {
  readonly name: string;
  readonly pid: number;
  /** Right after start-up, before any load. */
  readonly rssIdleMb: number;
  /** A minute into the process's first measured slice, or after it if shorter (bench-run.ts rssStartAfterMs). Flatness is judged from here. */
  readonly rssStartMb: number;
  /** After the last slice. */
  readonly rssEndMb: number;
}

function measured2shard(rows: readonly BenchRow[], system: string): BenchRow[] {
  return rows.filter((r) => r.system === system && r.scenario === '2shard' && r.status === 'measured');
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

/** "met with 23 % to spare" / "missed by 1.2 ms (12 %)" for an upper bound. */
function underBy(value: number, max: number, unit: string): { met: boolean; margin: string } {
  const pct = (Math.abs(value - max) / max) * 100;
  return value <= max
    ? { met: true, margin: `met, ${fmt(max - value)} ${unit} (${fmt(pct, 0)} %) under the bound` }
    : { met: false, margin: `missed by ${fmt(value - max)} ${unit} (${fmt(pct, 0)} % over)` };
}

function peakTarget(rows: readonly BenchRow[]): TargetVerdict {
  const target = `2-shard peak txn/s ≥ ${peakThroughputRatioMin}× PostgreSQL 2PC peak`;
  const twopc = measured2shard(rows, 'twopc');
  const pg = measured2shard(rows, 'postgres');
  if (twopc.length === 0 || pg.length === 0) {
    return {
      id: 'peak-throughput',
      target,
      measured: 'twopc or PostgreSQL not measured',
      met: null,
      margin: '',
    };
  }
  const best = (rs: BenchRow[]) => rs.reduce((a, b) => ((b.txnPerSec ?? 0) > (a.txnPerSec ?? 0) ? b : a));
  const t = best(twopc);
  const p = best(pg);
  const r = (t.txnPerSec ?? 0) / (p.txnPerSec ?? Number.NaN);
  const needed = peakThroughputRatioMin * (p.txnPerSec ?? 0);
  return {
    id: 'peak-throughput',
    target,
    measured:
      `twopc ${fmt(t.txnPerSec ?? 0, 0)}/s (${t.clients} clients) vs PostgreSQL ${fmt(p.txnPerSec ?? 0, 0)}/s ` +
      `(${p.clients} clients) = ${fmt(r)}×`,
    met: r >= peakThroughputRatioMin,
    margin:
      r >= peakThroughputRatioMin
        ? `met, ${fmt(((r - peakThroughputRatioMin) / peakThroughputRatioMin) * 100, 0)} % above the bound`
        : `missed: needs ${fmt(needed, 0)}/s, ${fmt(needed / (t.txnPerSec ?? 1), 1)}× the measured twopc peak`,
  };
}

function latencyTarget(
  rows: readonly BenchRow[],
  id: string,
  clients: number,
  pct: 'p50' | 'p99',
  maxMs: number,
): TargetVerdict {
  const target = `2-shard ${pct} ≤ ${maxMs} ms at ${clients} client${clients === 1 ? '' : 's'}`;
  const row = measured2shard(rows, 'twopc').find((r) => r.clients === clients);
  const value = row?.latencyMs?.[pct];
  if (value === undefined || !Number.isFinite(value)) {
    return { id, target, measured: `no twopc row at ${clients} client(s)`, met: null, margin: '' };
  }
  const pg = measured2shard(rows, 'postgres').find((r) => r.clients === clients)?.latencyMs?.[pct];
  const verdict = underBy(value, maxMs, 'ms');
  return {
    id,
    target,
    measured: `twopc ${fmt(value)} ms${pg === undefined ? '' : ` (PostgreSQL ${fmt(pg)} ms)`}`,
    ...verdict,
  };
}

function memoryTarget(memory: readonly MemoryRecord[], runSec: number): TargetVerdict {
  const target = `each twopc process's RSS flat over a ${memoryRunSecMin / 60}-minute run`;
  if (memory.length === 0)
    return { id: 'memory-flat', target, measured: 'twopc not run', met: null, margin: '' };
  const measured = memory.map((m) => `${m.name} ${fmt(m.rssStartMb, 0)}→${fmt(m.rssEndMb, 0)} MB`).join(', ');
  if (runSec < memoryRunSecMin) {
    return {
      id: 'memory-flat',
      target,
      measured,
      met: null,
      margin: `not judged: the run lasted ${fmt(runSec, 0)} s (< ${memoryRunSecMin} s)`,
    };
  }
  const worst = Math.max(...memory.map((m) => m.rssEndMb / m.rssStartMb));
  return {
    id: 'memory-flat',
    target,
    measured,
    met: worst <= memoryGrowthRatioMax,
    margin: `largest growth ${fmt((worst - 1) * 100, 0)} % (flat = at most ${fmt((memoryGrowthRatioMax - 1) * 100, 0)} %)`,
  };
}

/**
 * Judged at every client count that has both the async row and the row without shipping; the
 * worst one decides. On a shared machine a single short run is noisy in both directions (a
 * negative cost is noise too), so the verdict names each figure.
 */
function walAsyncCostTarget(rows: readonly BenchRow[]): TargetVerdict {
  const id = 'wal-async-cost';
  const target = `async WAL shipping costs ≤ ${fmt(walAsyncCostMax * 100, 0)} % of 2-shard throughput`;
  const pairs = rows
    .filter((r) => r.system === 'twopc' && r.scenario === '2shard-wal-async' && r.status === 'measured')
    .map((r) => ({ clients: r.clients, ratio: r.vsNoShipping?.throughput ?? Number.NaN }))
    .filter((p) => Number.isFinite(p.ratio));
  if (pairs.length === 0)
    return {
      id,
      target,
      measured: 'no async WAL row with a row without shipping to compare',
      met: null,
      margin: '',
    };
  const costs = pairs.map((p) => ({ clients: p.clients, cost: 1 - p.ratio }));
  const worst = costs.reduce((a, b) => (b.cost > a.cost ? b : a));
  const measured = costs.map((c) => `${fmt(c.cost * 100, 0)} % at ${c.clients} client(s)`).join(', ');
  return {
    id,
    target,
    measured,
    met: worst.cost <= walAsyncCostMax,
    margin:
      worst.cost <= walAsyncCostMax
        ? `met, worst ${fmt(worst.cost * 100, 0)} % (${worst.clients} clients)`
        : `missed by ${fmt((worst.cost - walAsyncCostMax) * 100, 0)} points at ${worst.clients} clients`,
  };
}

export function judgeTargets(
  rows: readonly BenchRow[],
  memory: readonly MemoryRecord[],
  runSec: number,
): TargetVerdict[] {
  return [
    peakTarget(rows),
    latencyTarget(rows, 'p99-at-16', 16, 'p99', p99MsMaxAt16),
    latencyTarget(rows, 'p50-at-1', 1, 'p50', p50MsMaxAt1),
    walAsyncCostTarget(rows),
    memoryTarget(memory, runSec),
  ];
}
