/**
 * One bench invocation: start every system once, pre-warm, run the regular rounds (rounds.ts: in each
 * round every (transfer, clients) cell runs one slice per system and scenario of that transfer, their
 * order rotating from cell to cell), then the soak (soak.ts: twopc at one load, RSS sampled), then
 * the restore measurements. Everything started is stopped and removed at the end, also after an
 * error or Ctrl-C (the first one stops the run cleanly; a second one kills what is left by pid and exits).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresSystem } from './postgres-system.ts';
import { findPostgres } from './postgres-server.ts';
import { machineInfo, type BenchReport, type BenchSettings, type SystemRecord } from './report.ts';
import { RESULTS_FORMAT_VERSION, withRatios } from './results.ts';
import { measureRestore, type RestoreRecord } from './restore-speed.ts';
import { prewarm, runRounds } from './rounds.ts';
import { runSoak, soakScenarioOf, type SoakRecord } from './soak.ts';
import { SqliteSystem } from './sqlite-system.ts';
import type { SystemUnderTest } from './system.ts';
import { judgeTargets } from './targets.ts';
import { TwopcSystem } from './twopc-system.ts';

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
  // --duration 0: only the soak runs, on twopc and one scenario; nothing else would be measured.
  const soakOnly = options.durationMs === 0;
  const soakScenario = soakScenarioOf(options.scenarios, () => true);
  for (const name of options.systems) {
    if (soakOnly && name !== 'twopc') {
      records.push({ name, status: 'skipped', note: '--duration 0: only the soak runs, and it runs twopc' });
      continue;
    }
    io.progress(`starting ${name}…`);
    if (name === 'twopc') {
      started.push(
        await TwopcSystem.start({
          dir: path.join(runDir, 'twopc'),
          clientsMax,
          scenarios: soakOnly && soakScenario !== undefined ? [soakScenario] : options.scenarios,
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
    const soak = await soakIfAsked(options, started, io, abort.signal);
    const restores = abort.signal.aborted ? [] : await measureRestores(started, runDir, io);
    const rows = withRatios(measured.rows);
    const finishedAt = new Date();
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
        soakMs: options.soakMs,
      },
      systems: records,
      rows,
      slices: measured.slices,
      memory: measured.memory,
      soak,
      restores,
      targets: judgeTargets(rows, soak),
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

/** The soak (soak.ts) at the run's most clients, if --soak asked for one and twopc ran. */
async function soakIfAsked(
  options: BenchOptions,
  systems: readonly SystemUnderTest[],
  io: BenchIo,
  signal: AbortSignal,
): Promise<SoakRecord | null> {
  const twopc = systems.find((s): s is TwopcSystem => s instanceof TwopcSystem);
  if (options.soakMs <= 0 || twopc === undefined || signal.aborted) return null;
  const soakOptions = {
    soakMs: options.soakMs,
    clients: Math.max(...options.clients),
    warmupMs: options.warmupMs,
    scenarios: options.scenarios,
  };
  return runSoak(twopc, soakOptions, io.progress, signal);
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
