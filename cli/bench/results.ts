/**
 * What a bench run measured, as data: one row per (system, scenario, clients), built by merging the
 * row's slices (rounds), the twopc / PostgreSQL ratios, the cost of WAL shipping (a WAL row over the
 * same twopc transfer without shipping), and the targets judged against them.
 * This is exactly what `--json` writes; the table is printed from it (report-table.ts).
 */
import { meanBreakdown, type StageBreakdown } from './stage-breakdown.ts';
import { LatencyHistogram, type LatencySummaryMs } from './latency-histogram.ts';
import type { SliceResult } from './closed-loop.ts';
import type { RssKind, WindowStats } from './process-stats.ts';
import type { SystemName } from './system.ts';
import { baselineOf, type Scenario } from './workload.ts';

/** Bumped when a field changes meaning or goes away; new fields do not bump it. */
export const RESULTS_FORMAT_VERSION = 1;

/** Kept for readers of format 1: every scenario now has measured rows (the WAL ones included). */
export type RowScenario = Scenario;

export interface ProcessFigures {
  readonly name: string;
  readonly pid: number;
  readonly processCount: number;
  /** CPU over the measured windows, % of one core (200 = both cores of a 2-core machine). */
  readonly cpuPercent: number;
  readonly rssPeakMb: number;
  readonly rssKind: RssKind;
}

export interface Ratios {
  /** twopc txn/s ÷ PostgreSQL txn/s: above 1 is better for twopc. */
  readonly throughput: number;
  /** twopc latency ÷ PostgreSQL latency: below 1 is better for twopc. */
  readonly p50: number;
  readonly p99: number;
}

export interface BenchRow {
  readonly system: SystemName;
  readonly scenario: RowScenario;
  readonly clients: number | null;
  /** Always `measured` (early runs of format 1 also wrote `not-built` placeholders for the WAL rows). */
  readonly status: 'measured';
  readonly method?: string;
  readonly note?: string;
  readonly txnPerSec?: number;
  readonly committed?: number;
  readonly aborted?: number;
  readonly errors?: number;
  readonly measuredSec?: number;
  readonly latencyMs?: LatencySummaryMs;
  readonly abortReasons?: Record<string, number>;
  readonly errorMessages?: Record<string, number>;
  readonly processes?: readonly ProcessFigures[];
  /**
   * CPU of the whole machine in the windows, % of one core, and the part of it used by processes
   * other than the ones measured (other jobs on a shared machine: noise).
   */
  readonly machineCpuPercent?: number;
  readonly otherCpuPercent?: number;
  /** This row against PostgreSQL's row of the same transfer and clients; null if there is none. */
  readonly vsPostgres?: Ratios | null;
  /**
   * WAL shipping rows only: this row against twopc's row of the same transfer and clients without
   * shipping (throughput below 1 = what shipping costs); null if that row was not measured.
   */
  readonly vsNoShipping?: Ratios | null;
  /** twopc rows: where the time went, from the processes' /metrics (stage-breakdown.ts), slices averaged. */
  readonly stages?: StageBreakdown;
}

/** One slice as measured, to see drift between rounds. */
export interface SliceRecord {
  readonly round: number;
  readonly system: SystemName;
  readonly scenario: Scenario;
  readonly clients: number;
  readonly txnPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Accumulates a row's slices. */
export class RowAccumulator {
  private committed = 0;
  private aborted = 0;
  private errors = 0;
  private measuredMs = 0;
  private readonly latency = new LatencyHistogram();
  private readonly abortReasons: Record<string, number> = {};
  private readonly errorMessages: Record<string, number> = {};
  private readonly processes = new Map<
    string,
    {
      pid: number;
      processCount: number;
      cpuSec: number;
      windowSec: number;
      rssPeakKb: number;
      rssKind: RssKind;
    }
  >();

  constructor(
    readonly system: SystemName,
    readonly scenario: Scenario,
    readonly clients: number,
    readonly method: string | undefined,
  ) {}

  private readonly stages: StageBreakdown[] = [];

  addStages(breakdown: StageBreakdown): void {
    this.stages.push(breakdown);
  }

  private machineCpuSec = 0;
  private machineWindowSec = 0;

  add(
    slice: SliceResult,
    windows: readonly WindowStats[],
    machine: { cpuSec: number; windowSec: number } = { cpuSec: Number.NaN, windowSec: 0 },
  ): void {
    this.machineCpuSec += machine.cpuSec;
    this.machineWindowSec += machine.windowSec;
    this.committed += slice.committed;
    this.aborted += slice.aborted;
    this.errors += slice.errors;
    this.measuredMs += slice.measuredMs;
    this.latency.merge(slice.latency);
    for (const [k, n] of Object.entries(slice.abortReasons))
      this.abortReasons[k] = (this.abortReasons[k] ?? 0) + n;
    for (const [k, n] of Object.entries(slice.errorMessages))
      this.errorMessages[k] = (this.errorMessages[k] ?? 0) + n;
    for (const w of windows) {
      const p = this.processes.get(w.name);
      if (p === undefined) {
        this.processes.set(w.name, { ...w });
        continue;
      }
      p.cpuSec += w.cpuSec;
      p.windowSec += w.windowSec;
      p.rssPeakKb = Math.max(p.rssPeakKb, w.rssPeakKb);
      p.processCount = Math.max(p.processCount, w.processCount);
      p.pid = w.pid;
    }
  }

  row(): BenchRow {
    const measuredSec = this.measuredMs / 1000;
    const processes = [...this.processes.entries()].map(([name, p]) => ({
      name,
      pid: p.pid,
      processCount: p.processCount,
      cpuPercent: p.windowSec > 0 ? (100 * p.cpuSec) / p.windowSec : Number.NaN,
      rssPeakMb: p.rssPeakKb / 1024,
      rssKind: p.rssKind,
    }));
    const machineCpuPercent =
      this.machineWindowSec > 0 ? (100 * this.machineCpuSec) / this.machineWindowSec : Number.NaN;
    const ours = processes.reduce((sum, p) => sum + p.cpuPercent, 0);
    return {
      system: this.system,
      scenario: this.scenario,
      clients: this.clients,
      status: 'measured',
      ...(this.method === undefined ? {} : { method: this.method }),
      txnPerSec: measuredSec > 0 ? this.committed / measuredSec : 0,
      committed: this.committed,
      aborted: this.aborted,
      errors: this.errors,
      measuredSec,
      latencyMs: this.latency.summary(),
      abortReasons: this.abortReasons,
      errorMessages: this.errorMessages,
      processes,
      machineCpuPercent,
      otherCpuPercent: Math.max(0, machineCpuPercent - ours),
      ...(this.stages.length === 0 ? {} : { stages: meanBreakdown(this.stages) }),
    };
  }
}

/** A ratio, or NaN when either side is missing or zero. */
function ratio(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a) ? Number.NaN : a / b;
}

function ratios(r: BenchRow, base: BenchRow): Ratios {
  return {
    throughput: ratio(r.txnPerSec, base.txnPerSec),
    p50: ratio(r.latencyMs?.p50, base.latencyMs?.p50),
    p99: ratio(r.latencyMs?.p99, base.latencyMs?.p99),
  };
}

/**
 * Fills `vsPostgres` on every measured row that has a PostgreSQL row of the same transfer and
 * clients (the SQLite bound and the WAL rows are set against PostgreSQL's 2-shard row), and
 * `vsNoShipping` on the WAL shipping rows.
 */
export function withRatios(rows: readonly BenchRow[]): BenchRow[] {
  const find = (system: string, scenario: Scenario, clients: number | null) =>
    rows.find(
      (p) =>
        p.system === system && p.status === 'measured' && p.clients === clients && p.scenario === scenario,
    );
  return rows.map((r) => {
    if (r.status !== 'measured' || r.system === 'postgres') return r;
    const baseline = baselineOf(r.scenario);
    const pg = find('postgres', baseline ?? r.scenario, r.clients);
    const out: BenchRow = { ...r, vsPostgres: pg === undefined ? null : ratios(r, pg) };
    if (baseline === undefined) return out;
    const base = find(r.system, baseline, r.clients);
    return { ...out, vsNoShipping: base === undefined ? null : ratios(r, base) };
  });
}
