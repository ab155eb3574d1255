/**
 * The soak: after the regular slices (or alone, with --duration 0), one twopc scenario at one
 * constant load — the run's most clients, closed loop — for --soak TIME, the RSS of every process of
 * that cluster sampled along the way. The memory target ("each twopc process's RSS stays flat over a
 * 5-minute run") is judged from it (targets.ts): the regular slices change the load from slice to
 * slice and a process's working set grows with its load, so their first and last RSS marks compare
 * two loads, not two points in time.
 */
import { runSlice, type TxnFn } from './closed-loop.ts';
import type { LatencySummaryMs } from './latency-histogram.ts';
import type { TwopcSystem } from './twopc-system.ts';
import { SCENARIO_TITLES, type Scenario } from './workload.ts';

/** RSS is sampled this often during a soak (more often in a soak too short to reach soakStartMsMax). */
export const soakSampleMs = 10_000;
/**
 * The start sample is the one this far into the soak, or a fifth of the way into a shorter soak: by
 * then the bounded in-memory tables (recentTxnsMax) are full and the allocators warm, so what grows
 * after it grows with time.
 */
export const soakStartMsMax = 60_000;
const soakStartShare = 1 / 5;
/** The 2PC transfer without WAL shipping: the path the memory target is about. */
const soakScenarioPreferred: Scenario = '2shard';

export interface SoakSample {
  /** Seconds since the soak's measured window opened. */
  readonly atSec: number;
  /** Transactions committed since the window opened. */
  readonly committed: number;
  /** Commits per second since the previous sample (since the window opened, for the first). */
  readonly txnPerSec: number;
  /** RSS of each process of the soaked cluster, by name. */
  readonly rssMb: Readonly<Record<string, number>>;
}

export interface SoakProcess {
  readonly name: string;
  readonly pid: number;
  readonly rssStartMb: number;
  readonly rssEndMb: number;
  /** The largest sample (what happens between samples is not seen). */
  readonly rssMaxMb: number;
}

/** When the start and end samples were taken and what each process's RSS was at them. */
export interface SoakMemory {
  readonly startAtSec: number;
  readonly endAtSec: number;
  /** end - start in whole seconds (timers fire a few ms early or late): what the target is judged over. */
  readonly spanSec: number;
  readonly processes: readonly SoakProcess[];
}

export interface SoakRecord extends SoakMemory {
  readonly system: 'twopc';
  readonly scenario: Scenario;
  readonly clients: number;
  /** As asked for with --soak, and as measured (less after Ctrl-C). */
  readonly soakSec: number;
  readonly measuredSec: number;
  readonly sampleSec: number;
  readonly txnPerSec: number;
  readonly committed: number;
  readonly aborted: number;
  readonly errors: number;
  readonly latencyMs: LatencySummaryMs;
  readonly samples: readonly SoakSample[];
}

export interface SoakPlan {
  readonly sampleMs: number;
  readonly startMs: number;
  /** Index of the start sample: samples are taken at sampleMs, 2 × sampleMs, … and at the end. */
  readonly startIndex: number;
}

/** How a soak of `soakMs` samples; `soakMs` > 0. */
export function soakPlan(soakMs: number): SoakPlan {
  const startMs = Math.min(soakStartMsMax, Math.round(soakMs * soakStartShare));
  const sampleMs = Math.min(soakSampleMs, startMs);
  return { sampleMs, startMs, startIndex: Math.ceil(startMs / sampleMs) - 1 };
}

/** twopc's soak scenario among the run's: the preferred one if twopc runs it, else the first twopc runs. */
export function soakScenarioOf(
  scenarios: readonly Scenario[],
  runs: (scenario: Scenario) => boolean,
): Scenario | undefined {
  if (scenarios.includes(soakScenarioPreferred) && runs(soakScenarioPreferred)) return soakScenarioPreferred;
  return scenarios.find(runs);
}

/** Start (the sample at `startIndex`, or the last one if the soak was cut short), end (the last), max. */
export function soakMemory(
  samples: readonly SoakSample[],
  startIndex: number,
  pids: readonly { readonly name: string; readonly pid: number }[],
): SoakMemory {
  const end = samples[samples.length - 1];
  const start = samples[Math.min(startIndex, samples.length - 1)];
  if (start === undefined || end === undefined)
    return { startAtSec: Number.NaN, endAtSec: Number.NaN, spanSec: 0, processes: [] };
  const processes = pids.map(({ name, pid }) => ({
    name,
    pid,
    rssStartMb: start.rssMb[name] ?? Number.NaN,
    rssEndMb: end.rssMb[name] ?? Number.NaN,
    rssMaxMb: samples.reduce((max, s) => Math.max(max, s.rssMb[name] ?? Number.NaN), 0),
  }));
  return {
    startAtSec: start.atSec,
    endAtSec: end.atSec,
    spanSec: Math.round(end.atSec - start.atSec),
    processes,
  };
}

export interface SoakOptions {
  readonly soakMs: number;
  readonly clients: number;
  readonly warmupMs: number;
  /** The run's scenarios: the soak runs one of them (soakScenarioOf). */
  readonly scenarios: readonly Scenario[];
}

/** Runs the soak on `twopc`; null if twopc runs none of the scenarios. */
export async function runSoak(
  twopc: TwopcSystem,
  options: SoakOptions,
  progress: (line: string) => void,
  signal: AbortSignal,
): Promise<SoakRecord | null> {
  const scenario = soakScenarioOf(options.scenarios, (s) => twopc.runs(s));
  if (scenario === undefined) {
    progress('soak: skipped, twopc runs none of the scenarios');
    return null;
  }
  const plan = soakPlan(options.soakMs);
  progress(
    `soak: ${SCENARIO_TITLES[scenario]}, ${options.clients} clients for ${options.soakMs / 1000} s; ` +
      `RSS every ${plan.sampleMs / 1000} s, the start sample at ${plan.startMs / 1000} s`,
  );
  let committed = 0;
  const txns = twopc.clients(scenario, options.clients).map((txn): TxnFn => async () => {
    const result = await txn();
    if (result.committed) committed++;
    return result;
  });
  const samples: SoakSample[] = [];
  let windowStartMs = 0;
  let committedBefore = 0;
  const sample = () => {
    const atMs = performance.now() - windowStartMs;
    const previous = samples[samples.length - 1];
    const done = committed - committedBefore;
    const marks = twopc.memoryOf(scenario);
    samples.push({
      atSec: atMs / 1000,
      committed: done,
      txnPerSec: (1000 * (done - (previous?.committed ?? 0))) / (atMs - 1000 * (previous?.atSec ?? 0)),
      rssMb: Object.fromEntries(marks.map((m) => [m.name, m.rssKb / 1024])),
    });
    progress(
      `soak ${(atMs / 1000).toFixed(0)} s: ${samples[samples.length - 1]!.txnPerSec.toFixed(0)} txn/s, ` +
        marks.map((m) => `${m.name} ${(m.rssKb / 1024).toFixed(0)} MB`).join(', '),
    );
  };
  const slice = await runSlice(txns, {
    warmupMs: options.warmupMs,
    measureMs: options.soakMs,
    sampleEveryMs: plan.sampleMs,
    onWindowStart: () => {
      windowStartMs = performance.now();
      committedBefore = committed;
    },
    onSample: sample,
    onWindowEnd: () => {
      // A tick just before the window closed would leave two end samples a few ms apart: the end replaces it.
      const last = samples[samples.length - 1];
      if (last !== undefined && performance.now() - windowStartMs - 1000 * last.atSec < plan.sampleMs / 2)
        samples.pop();
      sample();
    },
    signal,
  });
  twopc.checkAlive();
  const measuredSec = slice.measuredMs / 1000;
  return {
    system: 'twopc',
    scenario,
    clients: options.clients,
    soakSec: options.soakMs / 1000,
    measuredSec,
    sampleSec: plan.sampleMs / 1000,
    ...soakMemory(samples, plan.startIndex, twopc.memoryOf(scenario)),
    txnPerSec: measuredSec > 0 ? slice.committed / measuredSec : 0,
    committed: slice.committed,
    aborted: slice.aborted,
    errors: slice.errors,
    latencyMs: slice.latency.summary(),
    samples,
  };
}
