/**
 * The whole record of a bench run — machine, settings, systems, rows, slices, memory marks, the soak,
 * target verdicts — and its JSON file. NaN (a ratio with nothing to divide by) is written as null.
 */
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { RestoreRecord } from './restore-speed.ts';
import { RESULTS_FORMAT_VERSION, type BenchRow, type SliceRecord } from './results.ts';
import type { MemoryRecord } from './rounds.ts';
import type { SoakRecord } from './soak.ts';
import type { SystemName } from './system.ts';
import type { TargetVerdict } from './targets.ts';
import type { Scenario } from './workload.ts';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memTotalMb: number;
  readonly node: string;
  readonly kernel: string;
  /** Where the data files were (fsync cost depends on it) and its filesystem type. */
  readonly dir: string;
  readonly filesystem: string;
  readonly loadAvgStart: readonly number[];
  readonly loadAvgEnd: readonly number[];
}

export interface SystemRecord {
  readonly name: SystemName;
  readonly status: 'ran' | 'skipped';
  readonly note?: string;
  readonly description?: Readonly<Record<string, string | number | boolean>>;
}

export interface BenchSettings {
  readonly quick: boolean;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Unmeasured load per system and scenario before the first slice (JIT, caches). */
  readonly prewarmMs: number;
  readonly rounds: number;
  readonly clients: readonly number[];
  readonly systems: readonly SystemName[];
  readonly scenarios: readonly Scenario[];
  /** The soak after the regular slices (soak.ts); 0 = none. Absent in runs made before it existed. */
  readonly soakMs: number;
}

export interface BenchReport {
  readonly formatVersion: number;
  readonly command: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** True if Ctrl-C cut the run short: the rows cover what was measured until then. */
  readonly interrupted: boolean;
  readonly machine: MachineInfo;
  readonly settings: BenchSettings;
  readonly systems: readonly SystemRecord[];
  readonly rows: readonly BenchRow[];
  readonly slices: readonly SliceRecord[];
  /** twopc RSS over the regular slices: idle, warm, end (the load changes in between). */
  readonly memory: readonly MemoryRecord[];
  /** null: no soak (--soak 0, or twopc ran no scenario). The memory target is judged from it. */
  readonly soak: SoakRecord | null;
  /** Restores of one shard of each WAL cluster from its replica, after the slices. */
  readonly restores: readonly RestoreRecord[];
  readonly targets: readonly TargetVerdict[];
}

export { RESULTS_FORMAT_VERSION };

/** The filesystem type of the mount holding `dir` (longest matching mount point in /proc/mounts). */
export function filesystemOf(dir: string): string {
  try {
    const real = realpathSync(dir);
    let best = { mount: '', type: 'unknown' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, mount, type] = line.split(' ');
      if (mount === undefined || type === undefined) continue;
      const inside = real === mount || real.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (inside && mount.length >= best.mount.length) best = { mount, type };
    }
    return best.type;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(dir: string, loadAvgStart: readonly number[]): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memTotalMb: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    dir,
    filesystem: filesystemOf(dir),
    loadAvgStart,
    loadAvgEnd: os.loadavg(),
  };
}

export function reportJson(report: BenchReport): string {
  return `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

export function writeReport(file: string, report: BenchReport): void {
  writeFileSync(file, reportJson(report));
}
