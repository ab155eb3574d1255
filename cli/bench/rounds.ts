/**
 * The regular part of a bench run: the pre-warm, then round after round in which every (transfer,
 * clients) cell runs one slice per system and scenario of that transfer, their order rotating from
 * cell to cell, so drift on a shared machine hits every row alike. Rows merge their slices. The
 * load changes from cell to cell (1, 16, 64 clients), so the twopc RSS marks taken here say what a
 * process used at each load, not whether it grows with time: that is the soak's job (soak.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchOptions, BenchIo } from './bench-run.ts';
import { runSlice } from './closed-loop.ts';
import { MachineCpuProbe, SingleProcessProbe, readRssKb, type WindowStats } from './process-stats.ts';
import { RowAccumulator, type SliceRecord } from './results.ts';
import { stageBreakdown, type DeploymentScrape } from './stage-breakdown.ts';
import { SYSTEMS, type SystemUnderTest } from './system.ts';
import { SCENARIOS, SCENARIO_SPECS, SCENARIO_TITLES, type Transfer } from './workload.ts';

/** Pause between slices: the previous system's tail (twopc's commit phase, PostgreSQL's WAL writer) ends. */
export const sliceGapMs = 200;

/** RSS of a twopc process over the regular slices (idle → warm → end); MB. */
export interface MemoryRecord {
  readonly name: string;
  readonly pid: number;
  /** Right after start-up, before any load. */
  readonly rssIdleMb: number;
  /** A minute into the process's first measured slice, or after it if shorter (rssStartAfterMs). */
  readonly rssStartMb: number;
  /** After the last slice. */
  readonly rssEndMb: number;
}

/** Rotates `items` left by `by`. */
function rotate<T>(items: readonly T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Every system runs each of its scenarios for `prewarmMs` at the most clients; nothing is recorded. */
export async function prewarm(
  options: BenchOptions,
  systems: readonly SystemUnderTest[],
  io: BenchIo,
  signal: AbortSignal,
): Promise<void> {
  if (options.prewarmMs <= 0) return;
  const clients = Math.max(...options.clients);
  for (const system of systems) {
    for (const scenario of options.scenarios.filter((s) => system.runs(s))) {
      if (signal.aborted) return;
      io.progress(
        `pre-warming ${system.name} ${scenario}: ${clients} clients for ${options.prewarmMs / 1000} s`,
      );
      await runSlice(system.clients(scenario, clients), {
        warmupMs: options.prewarmMs,
        measureMs: 0,
        signal,
      });
      system.checkAlive();
      await sleep(sliceGapMs);
    }
  }
}

/**
 * The "warm" RSS mark of the regular slices is taken this far into a process's first measured slice
 * (or after that slice, if shorter): by then the bounded in-memory tables (recentTxnsMax) are full
 * and the allocators warm. It is reported, not judged: the load changes after it.
 */
const rssStartAfterMs = 60_000;

interface Measured {
  readonly rows: ReturnType<RowAccumulator['row']>[];
  readonly slices: SliceRecord[];
  readonly memory: MemoryRecord[];
}

export async function runRounds(
  options: BenchOptions,
  systems: readonly SystemUnderTest[],
  io: BenchIo,
  signal: AbortSignal,
): Promise<Measured> {
  // --duration 0: no regular slices, only the soak.
  if (options.durationMs === 0) return { rows: [], slices: [], memory: [] };
  const rows = new Map<string, RowAccumulator>();
  const slices: SliceRecord[] = [];
  const memoryIdle = new Map(
    systems.flatMap((s) => (s.name === 'twopc' ? s.memory() : [])).map((m) => [m.pid, m]),
  );
  const memoryWarm = new Map<number, number>();
  const benchProbeName = 'bench';
  const sliceMs = options.durationMs / options.rounds;
  let cell = 0;
  // The transfers in the order the scenarios are listed; each cell holds every scenario of its transfer.
  const transfers = [...new Set(options.scenarios.map((s) => SCENARIO_SPECS[s].transfer))];
  const unitsOf = (transfer: Transfer) =>
    systems.flatMap((system) =>
      options.scenarios
        .filter((s) => SCENARIO_SPECS[s].transfer === transfer && system.runs(s))
        .map((scenario) => ({ system, scenario })),
    );
  for (let round = 0; round < options.rounds && !signal.aborted; round++) {
    for (const transfer of transfers) {
      for (const clients of options.clients) {
        for (const { system, scenario } of rotate(unitsOf(transfer), round + cell)) {
          if (signal.aborted) continue;
          const probes = [...system.probes(scenario), new SingleProcessProbe(benchProbeName, process.pid)];
          const machineProbe = new MachineCpuProbe();
          let windows: WindowStats[] = [];
          let machine = { cpuSec: Number.NaN, windowSec: 0 };
          let windowStartMs = Number.POSITIVE_INFINITY;
          // twopc: /metrics of every process at both ends of the window (a failed scrape: no breakdown).
          const scrape = () => system.scrape?.(scenario).catch(() => undefined);
          let scrapes: Array<Promise<DeploymentScrape | undefined> | undefined> = [];
          const markWarmMemory = () => {
            if (system.name !== 'twopc') return;
            for (const m of system.memory()) if (!memoryWarm.has(m.pid)) memoryWarm.set(m.pid, m.rssKb);
          };
          const slice = await runSlice(system.clients(scenario, clients), {
            warmupMs: options.warmupMs,
            measureMs: sliceMs,
            onWindowStart: () => {
              windowStartMs = performance.now();
              machineProbe.begin();
              probes.forEach((p) => p.begin());
              scrapes = [scrape()];
            },
            onWindowEnd: () => {
              windows = probes.map((p) => p.end());
              machine = machineProbe.end();
              scrapes.push(scrape());
            },
            onSample: () => {
              probes.forEach((p) => p.sample());
              if (performance.now() - windowStartMs >= rssStartAfterMs) markWarmMemory();
            },
            signal,
          });
          system.checkAlive();
          // A slice cut short by Ctrl-C measured a fragment: drop it rather than skew the row.
          if (signal.aborted) break;
          const key = `${system.name}/${scenario}/${clients}`;
          let row = rows.get(key);
          if (row === undefined) {
            row = new RowAccumulator(system.name, scenario, clients, system.method(scenario));
            rows.set(key, row);
          }
          row.add(slice, windows, machine);
          const [before, after] = await Promise.all(scrapes);
          if (before !== undefined && after !== undefined) row.addStages(stageBreakdown(before, after));
          const record: SliceRecord = {
            round: round + 1,
            system: system.name,
            scenario,
            clients,
            txnPerSec: slice.measuredMs > 0 ? (1000 * slice.committed) / slice.measuredMs : 0,
            p50Ms: slice.latency.percentileMs(50),
            p99Ms: slice.latency.percentileMs(99),
          };
          slices.push(record);
          io.progress(progressLine(record, options.rounds, slice.aborted, slice.errors));
          markWarmMemory();
          await sleep(sliceGapMs);
        }
        cell++;
      }
    }
  }
  const memory: MemoryRecord[] = systems
    .filter((s) => s.name === 'twopc')
    .flatMap((s) => s.memory())
    .map((end) => ({
      name: end.name,
      pid: end.pid,
      rssIdleMb: (memoryIdle.get(end.pid)?.rssKb ?? Number.NaN) / 1024,
      rssStartMb: (memoryWarm.get(end.pid) ?? readRssKb(end.pid) ?? Number.NaN) / 1024,
      rssEndMb: end.rssKb / 1024,
    }));
  return { rows: [...rows.values()].sort(byCell).map((r) => r.row()), slices, memory };
}

/** Scenario, then clients, then system, in the order the flags list them. */
function byCell(a: RowAccumulator, b: RowAccumulator): number {
  return (
    SCENARIOS.indexOf(a.scenario) - SCENARIOS.indexOf(b.scenario) ||
    a.clients - b.clients ||
    SYSTEMS.indexOf(a.system) - SYSTEMS.indexOf(b.system)
  );
}

function progressLine(r: SliceRecord, rounds: number, aborted: number, errors: number): string {
  const extra = aborted + errors > 0 ? `, ${aborted} aborted, ${errors} errors` : '';
  const p = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(2) : '-');
  return (
    `[round ${r.round}/${rounds}] ${SCENARIO_TITLES[r.scenario]}, ${r.clients} clients, ${r.system}: ` +
    `${r.txnPerSec.toFixed(0)} txn/s, p50 ${p(r.p50Ms)} ms, p99 ${p(r.p99Ms)} ms${extra}`
  );
}
