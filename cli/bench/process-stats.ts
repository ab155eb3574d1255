/**
 * CPU and memory of the processes under test, read from Linux's /proc (no sampling profiler, no
 * dependency). A probe measures one *window* at a time: `begin()` snapshots CPU ticks and resets the
 * peak-RSS mark, `end()` returns the CPU used in between (as % of one core, like `top`) and the peak.
 *
 * - one process (coordinator, participant, the bench itself): CPU = utime + stime from
 *   /proc/PID/stat; peak = VmHWM from /proc/PID/status, reset at `begin()` by writing 5 to
 *   /proc/PID/clear_refs (if the kernel refuses, the peak is since the process started — said so in
 *   `rssKind`).
 * - a process tree (PostgreSQL: postmaster + one backend per connection + helpers): CPU summed over
 *   the postmaster and its children (plus what reaped children used, cutime + cstime); memory is the
 *   sum of Pss (proportional set size: shared buffers divided among the processes that map them, so
 *   they are not counted once per backend), sampled by `sample()` and at `end()`, peak kept.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Linux's USER_HZ is 100 on every mainstream architecture; asked once from getconf anyway. */
const clockTicksPerSecDefault = 100;
let clockTicksPerSecCached: number | undefined;

export function clockTicksPerSec(): number {
  if (clockTicksPerSecCached === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTicksPerSecCached = Number.isSafeInteger(n) && n > 0 ? n : clockTicksPerSecDefault;
    } catch {
      clockTicksPerSecCached = clockTicksPerSecDefault;
    }
  }
  return clockTicksPerSecCached;
}

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** Clock ticks since boot at which the process started: with the pid, its identity. */
  readonly startTicks: number;
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
  /** cutime + cstime: CPU of children this process has waited for. */
  readonly childCpuTicks: number;
}

/** Parses /proc/PID/stat; undefined if the process is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field N is fields[N - 3].
  const field = (n: number) => Number(fields[n - 3]);
  return {
    pid,
    ppid: field(4),
    cpuTicks: field(14) + field(15),
    childCpuTicks: field(16) + field(17),
    startTicks: field(22),
  };
}

/** A `kB` line of /proc/PID/status or smaps_rollup, in kB; undefined if absent or unreadable. */
function readKbField(file: string, name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export function readRssKb(pid: number): number | undefined {
  return readKbField(`/proc/${pid}/status`, 'VmRSS');
}

export function readPeakRssKb(pid: number): number | undefined {
  return readKbField(`/proc/${pid}/status`, 'VmHWM');
}

function readPssKb(pid: number): number | undefined {
  return readKbField(`/proc/${pid}/smaps_rollup`, 'Pss');
}

/** Resets VmHWM to the current RSS; false if not allowed (then the peak is since start). */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Direct children of `pid`, found by scanning /proc (PostgreSQL backends are the postmaster's). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat?.ppid === pid) out.push(stat.pid);
  }
  return out;
}

/** How the peak figure was obtained, so a reader knows what it means. */
export type RssKind = 'peak-in-window' | 'peak-since-start' | 'pss-sum-sampled';

export interface WindowStats {
  readonly name: string;
  readonly pid: number;
  /** Processes measured (1, or the size of a tree). */
  readonly processCount: number;
  /** CPU seconds used in the window. */
  readonly cpuSec: number;
  readonly windowSec: number;
  /** Peak memory in the window, in kB (see rssKind); NaN if it could not be read. */
  readonly rssPeakKb: number;
  readonly rssKind: RssKind;
}

export interface ProcessProbe {
  readonly name: string;
  readonly pid: number;
  begin(): void;
  /** Called every second or so during a window; cheap. */
  sample(): void;
  end(): WindowStats;
}

/** One process. */
export class SingleProcessProbe implements ProcessProbe {
  private startCpuTicks = 0;
  private startMs = 0;
  private peakResettable = true;

  constructor(
    readonly name: string,
    readonly pid: number,
  ) {}

  begin(): void {
    this.peakResettable = resetPeakRss(this.pid);
    this.startCpuTicks = readProcStat(this.pid)?.cpuTicks ?? Number.NaN;
    this.startMs = performance.now();
  }

  sample(): void {}

  end(): WindowStats {
    const endCpuTicks = readProcStat(this.pid)?.cpuTicks ?? Number.NaN;
    return {
      name: this.name,
      pid: this.pid,
      processCount: 1,
      cpuSec: (endCpuTicks - this.startCpuTicks) / clockTicksPerSec(),
      windowSec: (performance.now() - this.startMs) / 1000,
      rssPeakKb: readPeakRssKb(this.pid) ?? Number.NaN,
      rssKind: this.peakResettable ? 'peak-in-window' : 'peak-since-start',
    };
  }
}

/** A process and its direct children (a PostgreSQL server). */
export class ProcessTreeProbe implements ProcessProbe {
  private startTicks = new Map<string, number>();
  private startMs = 0;
  private pssPeakKb = 0;
  private members = 1;

  constructor(
    readonly name: string,
    readonly pid: number,
  ) {}

  begin(): void {
    this.startTicks = this.ticksByProcess();
    this.startMs = performance.now();
    this.pssPeakKb = 0;
    this.sample();
  }

  sample(): void {
    let sum = 0;
    const pids = [this.pid, ...childPids(this.pid)];
    for (const pid of pids) sum += readPssKb(pid) ?? readRssKb(pid) ?? 0;
    this.members = pids.length;
    this.pssPeakKb = Math.max(this.pssPeakKb, sum);
  }

  end(): WindowStats {
    this.sample();
    const endTicks = this.ticksByProcess();
    let used = 0;
    for (const [id, ticks] of endTicks) used += ticks - (this.startTicks.get(id) ?? 0);
    return {
      name: this.name,
      pid: this.pid,
      processCount: this.members,
      cpuSec: used / clockTicksPerSec(),
      windowSec: (performance.now() - this.startMs) / 1000,
      rssPeakKb: this.pssPeakKb,
      rssKind: 'pss-sum-sampled',
    };
  }

  /** CPU ticks per process identity (pid + start time, so a reused pid is not mistaken). */
  private ticksByProcess(): Map<string, number> {
    const out = new Map<string, number>();
    const root = readProcStat(this.pid);
    if (root === undefined) return out;
    out.set(`${root.pid}@${root.startTicks}`, root.cpuTicks + root.childCpuTicks);
    for (const pid of childPids(this.pid)) {
      const stat = readProcStat(pid);
      if (stat) out.set(`${stat.pid}@${stat.startTicks}`, stat.cpuTicks);
    }
    return out;
  }
}

/** Busy CPU ticks of the whole machine (every process, ours and everyone else's), from /proc/stat. */
function machineBusyTicks(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU the whole machine used in a window. On a shared machine, what the processes under test did
 * not use of it is everyone else's load: the noise a reader should know about.
 */
export class MachineCpuProbe {
  private startTicks = 0;
  private startMs = 0;

  begin(): void {
    this.startTicks = machineBusyTicks();
    this.startMs = performance.now();
  }

  /** CPU seconds used by every process in the window, and the window's length. */
  end(): { cpuSec: number; windowSec: number } {
    return {
      cpuSec: (machineBusyTicks() - this.startTicks) / clockTicksPerSec(),
      windowSec: (performance.now() - this.startMs) / 1000,
    };
  }
}
