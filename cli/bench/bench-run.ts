/**
 * One bench invocation: start every system once, then run round after round; in each round every
 * (transfer, clients) cell runs one slice per system and scenario of that transfer (the 2-shard cell
 * holds twopc with and without WAL shipping, PostgreSQL and SQLite), their order rotating from cell
 * to cell, so drift on a shared machine (other jobs, thermal, page cache) hits every row alike. Rows
 * merge their slices. Everything started is stopped and removed at the end, also after an error or Ctrl-C
 * (the first one stops the run cleanly; a second one kills what is left by pid and exits).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runSlice } from './closed-loop.ts';
import { PostgresSystem } from './postgres-system.ts';
import { findPostgres } from './postgres-server.ts';
import { MachineCpuProbe, SingleProcessProbe, readRssKb, type WindowStats } from './process-stats.ts';
import { machineInfo, type BenchReport, type BenchSettings, type SystemRecord } from './report.ts';
import { RESULTS_FORMAT_VERSION, RowAccumulator, withRatios, type SliceRecord } from './results.ts';
import { measureRestore, type RestoreRecord } from './restore-speed.ts';
import { SqliteSystem } from './sqlite-system.ts';
import { SYSTEMS, type SystemUnderTest } from './system.ts';
import { judgeTargets, type MemoryRecord } from './targets.ts';
import { TwopcSystem } from './twopc-system.ts';
import { SCENARIOS, SCENARIO_SPECS, SCENARIO_TITLES, type Transfer } from './workload.ts';

/** Pause between slices: the previous system's tail (twopc's commit phase, PostgreSQL's WAL writer) ends. */
const sliceGapMs = 200;
/** Exit code after Ctrl-C (128 + SIGINT), as shells expect. */
export const EXIT_INTERRUPTED = 130;

export interface BenchOptions extends BenchSettings {
  readonly jsonPath: string;
  /** Parent of the run's temporary directory (its filesystem decides what an fsync costs). */
  readonly dir: string;
  readonly pgBin?: string;
  readonly cpuProfDir?: string;
  readonly keep: boolean;
  /** The command line, for the record. */
  readonly command: string;
}

export interface BenchIo {
  /** Progress lines (stderr). */
  progress(line: string): void;
}

async function startSystems(
  options: BenchOptions,
  runDir: string,
  io: BenchIo,
  started: SystemUnderTest[],
  records: SystemRecord[],
): Promise<void> {
  const clientsMax = Math.max(...options.clients);
  for (const name of options.systems) {
    io.progress(`starting ${name}…`);
    if (name === 'twopc') {
      started.push(
        await TwopcSystem.start({
          dir: path.join(runDir, 'twopc'),
          clientsMax,
          scenarios: options.scenarios,
          progress: io.progress,
          ...(options.cpuProfDir === undefined ? {} : { cpuProfDir: options.cpuProfDir }),
        }),
      );
    } else if (name === 'postgres') {
      const setup = findPostgres(options.pgBin);
      if ('missing' in setup) {
        io.progress(`postgres: skipped, ${setup.missing}`);
        records.push({ name, status: 'skipped', note: setup.missing });
        continue;
      }
      started.push(await PostgresSystem.start({ ...setup, dir: path.join(runDir, 'postgres'), clientsMax }));
    } else {
      started.push(SqliteSystem.start({ dir: path.join(runDir, 'sqlite'), clientsMax }));
    }
    const system = started[started.length - 1]!;
    records.push({ name, status: 'ran', description: system.description });
    io.progress(
      `${name}: ${Object.entries(system.description)
        .map(([k, v]) => `${k} ${v}`)
        .join('; ')}`,
    );
  }
}

/** Rotates `items` left by `by`. */
function rotate<T>(items: readonly T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export async function runBench(options: BenchOptions, io: BenchIo): Promise<BenchReport> {
  const startedAt = new Date();
  const loadAvgStart = os.loadavg();
  mkdirSync(options.dir, { recursive: true });
  const runDir = mkdtempSync(path.join(options.dir, 'twopc-bench-'));
  // As root, PostgreSQL runs as another user who must be able to reach its own sub-directory.
  if (process.getuid?.() === 0) chmodSync(runDir, 0o711);
  const started: SystemUnderTest[] = [];
  const records: SystemRecord[] = [];
  const abort = new AbortController();
  let signals = 0;
  const killLeftovers = () => {
    for (const s of started) for (const pid of s.livePids()) killQuietly(pid);
  };
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      io.progress('interrupted: stopping the run and cleaning up (Ctrl-C again to kill at once)');
      abort.abort();
      return;
    }
    killLeftovers();
    if (!options.keep) rmSync(runDir, { recursive: true, force: true });
    process.exit(EXIT_INTERRUPTED);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killLeftovers);
  io.progress(`data in ${runDir}`);
  try {
    await startSystems(options, runDir, io, started, records);
    await prewarm(options, started, io, abort.signal);
    const measured = await runRounds(options, started, io, abort.signal);
    const restores = abort.signal.aborted ? [] : await measureRestores(started, runDir, io);
    const rows = withRatios(measured.rows);
    const finishedAt = new Date();
    const runSec = (finishedAt.getTime() - startedAt.getTime()) / 1000;
    return {
      formatVersion: RESULTS_FORMAT_VERSION,
      command: options.command,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      interrupted: abort.signal.aborted,
      machine: machineInfo(options.dir, loadAvgStart),
      settings: {
        quick: options.quick,
        durationMs: options.durationMs,
        warmupMs: options.warmupMs,
        prewarmMs: options.prewarmMs,
        rounds: options.rounds,
        clients: options.clients,
        systems: options.systems,
        scenarios: options.scenarios,
      },
      systems: records,
      rows,
      slices: measured.slices,
      memory: measured.memory,
      restores,
      targets: judgeTargets(rows, measured.memory, runSec),
    };
  } finally {
    for (const s of [...started].reverse()) await s.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killLeftovers);
    if (options.keep) io.progress(`kept ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  }
}

/** Restores one shard of every WAL cluster from s3rver (restore-speed.ts); a failure is reported, not fatal. */
async function measureRestores(
  systems: readonly SystemUnderTest[],
  runDir: string,
  io: BenchIo,
): Promise<RestoreRecord[]> {
  const records: RestoreRecord[] = [];
  for (const system of systems) {
    if (!(system instanceof TwopcSystem)) continue;
    for (const target of system.restoreTargets()) {
      const output = path.join(runDir, `restored-${target.cluster}-${target.shard}.db`);
      try {
        const r = await measureRestore(target, output);
        records.push(r);
        io.progress(
          `restore of ${target.shard} (${target.cluster}) from s3rver: ${r.segments} segments, ` +
            `${(r.dbMb + r.walAppliedMb).toFixed(1)} MB in ${r.seconds.toFixed(2)} s = ${r.mbPerSec.toFixed(1)} MB/s`,
        );
      } catch (err) {
        io.progress(`restore of ${target.shard} (${target.cluster}) failed: ${(err as Error).message}`);
      } finally {
        for (const f of [output, `${output}-wal`, `${output}-shm`]) rmSync(f, { force: true });
      }
    }
  }
  return records;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Every system runs each of its scenarios for `prewarmMs` at the most clients; nothing is recorded. */
async function prewarm(
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
 * RSS "at the start" of the flatness target is taken this far into the first measured slice (or
 * after that slice, if shorter): by then the bounded in-memory tables (recentTxnsMax) are full and
 * the allocators warm, and a one-slice run (the 5-minute run) still has a start that is not its end.
 */
const rssStartAfterMs = 60_000;

interface Measured {
  readonly rows: ReturnType<RowAccumulator['row']>[];
  readonly slices: SliceRecord[];
  readonly memory: MemoryRecord[];
}

async function runRounds(
  options: BenchOptions,
  systems: readonly SystemUnderTest[],
  io: BenchIo,
  signal: AbortSignal,
): Promise<Measured> {
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
            },
            onWindowEnd: () => {
              windows = probes.map((p) => p.end());
              machine = machineProbe.end();
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
