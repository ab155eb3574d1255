/**
 * The performance targets of issue 7, judged against one run's rows and its soak: met, missed (and by
 * how much), or not judged (the run lacks the rows or the soak). The figures come from the same
 * run, so drift between runs cannot make a target look met.
 */
import type { BenchRow } from './results.ts';
import { soakSampleMs, soakStartMsMax, type SoakRecord } from './soak.ts';

/** 2-shard transfers: twopc's peak txn/s must be at least this multiple of PostgreSQL 2PC's peak. */
export const peakThroughputRatioMin = 2;
/** 2-shard transfers at 16 clients: p99 at most this. */
export const p99MsMaxAt16 = 10;
/** 2-shard transfers at 1 client: p50 at most this. */
export const p50MsMaxAt1 = 1;
/** Async WAL shipping may cost at most this share of the 2-shard throughput without shipping. */
export const walAsyncCostMax = 0.1;
/** A soak whose start and end samples are this far apart judges "RSS stays flat"; a shorter one only reports. */
export const memoryRunSecMin = 300;
/** "Flat": RSS at the end at most this much above RSS at the start (allocator and cache warm-up). */
export const memoryGrowthRatioMax = 1.1;
/**
 * The --soak that judges memory: its start sample comes soakStartMsMax in (memoryRunSecMin ≥ 5 × that),
 * plus one sample period of slack, since interval timers fire later and later over a long soak and
 * the span must not fall a few hundred ms short of memoryRunSecMin.
 */
export const memorySoakSecMin = memoryRunSecMin + soakStartMsMax / 1000 + soakSampleMs / 1000;
/** memorySoakSecMin as a --soak value, for hints and the default. */
export const memorySoakTime = `${Math.ceil(memorySoakSecMin / 60)}m`;

export interface TargetVerdict {
  readonly id: string;
  readonly target: string;
  readonly measured: string;
  /** null: not judged by this run (see `measured`). */
  readonly met: boolean | null;
  /** How far from the target, in words ("missed by 0.31 ms (31 %)"). */
  readonly margin: string;
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

/**
 * Judged from the soak only (soak.ts): one load, RSS from a warm start sample to the last. The regular
 * slices change the load between their RSS marks, so without a soak there is no verdict, only a hint.
 */
function memoryTarget(soak: SoakRecord | null): TargetVerdict {
  const id = 'memory-flat';
  const target = `each twopc process's RSS flat over a ${memoryRunSecMin / 60}-minute run at constant load`;
  const hint = `run with --soak ${memorySoakTime} or longer for a verdict`;
  if (soak === null) {
    const measured = 'no soak in this run (the regular slices change the load between their RSS marks)';
    return { id, target, measured, met: null, margin: `not judged: ${hint}` };
  }
  const measured =
    soak.processes
      .map((p) => `${p.name} ${fmt(p.rssStartMb, 0)}→${fmt(p.rssEndMb, 0)} MB (max ${fmt(p.rssMaxMb, 0)})`)
      .join(', ') +
    ` over ${fmt(soak.spanSec, 0)} s of soak, ${soak.clients} clients, ${fmt(soak.txnPerSec, 0)} txn/s`;
  if (soak.spanSec < memoryRunSecMin) {
    const margin = `not judged: the soak's start and end samples are ${fmt(soak.spanSec, 0)} s apart (< ${memoryRunSecMin} s); ${hint}`;
    return { id, target, measured, met: null, margin };
  }
  const worst = Math.max(...soak.processes.map((p) => p.rssEndMb / p.rssStartMb));
  if (!Number.isFinite(worst))
    return { id, target, measured, met: null, margin: 'not judged: an RSS sample could not be read' };
  return {
    id,
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

export function judgeTargets(rows: readonly BenchRow[], soak: SoakRecord | null): TargetVerdict[] {
  return [
    peakTarget(rows),
    latencyTarget(rows, 'p99-at-16', 16, 'p99', p99MsMaxAt16),
    latencyTarget(rows, 'p50-at-1', 1, 'p50', p50MsMaxAt1),
    walAsyncCostTarget(rows),
    memoryTarget(soak),
  ];
}
