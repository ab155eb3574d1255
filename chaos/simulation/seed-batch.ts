/**
 * Batches of simulation runs: `simulateSeeds(from, to)` runs every seed in the range (on `jobs`
 * worker threads, each seed independent of where it runs), reports each one as it finishes, and sums
 * up. A failing seed is replayed exactly by `runSimulation(seed, sameOptions)`.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { describeError, invalidArgument } from '../../common/errors.ts';
import { runSimulation, type SimulationOptions, type SimulationStats } from './simulation.ts';
import { resolveSimulationOptions } from './simulation-options.ts';

/** How one seed ended: what a batch keeps of a run (the history stays in the worker). */
export interface SeedOutcome {
  readonly seed: number;
  readonly valid: boolean;
  /** One line per failing checker: its anomaly counts and counterexample. */
  readonly failures: readonly string[];
  /** The run itself broke (a hang, a livelock, an exception): a bug of the simulator or the code. */
  readonly error?: string;
  readonly realMs: number;
  readonly stats?: SimulationStats;
}

export interface BatchOptions extends SimulationOptions {
  /** Worker threads (default 1: the calling thread runs every seed). */
  readonly jobs?: number;
  /** Called as each seed finishes, in completion order. */
  readonly onSeed?: (outcome: SeedOutcome) => void;
  /** Stop starting seeds once this many failed (default: run them all). */
  readonly failuresMax?: number;
}

export interface BatchSummary {
  readonly from: number;
  readonly to: number;
  readonly runs: number;
  readonly passed: number;
  /** Failing seeds, in seed order. */
  readonly failed: readonly SeedOutcome[];
  readonly realMs: number;
  readonly schedulesPerMinute: number;
  /** Sums over every run that completed. */
  readonly totals: Readonly<Record<string, number>>;
}

/** One seed, never rejecting: a run that throws is a failing outcome with `error`. */
export async function runSeed(seed: number, options: SimulationOptions): Promise<SeedOutcome> {
  const start = performance.now();
  try {
    const r = await runSimulation(seed, options);
    const failures = r.verdicts
      .filter((v) => !v.valid)
      .map(
        (v) => `${v.checker}: ${JSON.stringify(v.anomalyCounts)} e.g. ${v.counterexample?.message ?? '?'}`,
      );
    return { seed, valid: r.valid, failures, realMs: performance.now() - start, stats: r.stats };
  } catch (err) {
    return { seed, valid: false, failures: [], error: describeError(err), realMs: performance.now() - start };
  }
}

export async function simulateSeeds(
  from: number,
  to: number,
  options: BatchOptions = {},
): Promise<BatchSummary> {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from)
    throw invalidArgument(`seeds: ${from}..${to} is not a range of non-negative integers`);
  const { jobs = 1, onSeed, failuresMax = Number.POSITIVE_INFINITY, ...simOptions } = options;
  resolveSimulationOptions(simOptions); // a bad option fails once, here, not in every seed
  const jobsMax = Math.max(1, os.availableParallelism());
  if (!Number.isSafeInteger(jobs) || jobs < 1 || jobs > jobsMax)
    throw invalidArgument(`jobs: must be an integer from 1 to ${jobsMax}, got ${jobs}`);
  const start = performance.now();
  const outcomes: SeedOutcome[] = [];
  let failures = 0;
  let next = from;
  const take = (): number | undefined => (next <= to && failures < failuresMax ? next++ : undefined);
  const done = (o: SeedOutcome) => {
    outcomes.push(o);
    if (!o.valid) failures++;
    onSeed?.(o);
  };
  if (jobs === 1) {
    for (let seed = take(); seed !== undefined; seed = take()) done(await runSeed(seed, simOptions));
  } else {
    await Promise.all(Array.from({ length: jobs }, () => runWorker(simOptions, take, done)));
  }
  const realMs = performance.now() - start;
  return {
    from,
    to,
    runs: outcomes.length,
    passed: outcomes.filter((o) => o.valid).length,
    failed: outcomes.filter((o) => !o.valid).sort((a, b) => a.seed - b.seed),
    realMs,
    schedulesPerMinute: outcomes.length === 0 ? 0 : (outcomes.length / realMs) * 60_000,
    totals: sumStats(outcomes),
  };
}

/** One worker thread running seeds until `take` has none left. */
function runWorker(
  options: SimulationOptions,
  take: () => number | undefined,
  done: (o: SeedOutcome) => void,
): Promise<void> {
  const worker = new Worker(new URL('./seed-batch-worker.mjs', import.meta.url), { workerData: { options } });
  return new Promise<void>((resolve, reject) => {
    const feed = () => {
      const seed = take();
      if (seed === undefined) void worker.terminate().then(() => resolve());
      else worker.postMessage(seed);
    };
    worker.on('message', (o: SeedOutcome) => (done(o), feed()));
    worker.on('error', reject);
    worker.once('online', feed);
  });
}

function sumStats(outcomes: readonly SeedOutcome[]): Record<string, number> {
  const totals: Record<string, number> = {};
  const add = (key: string, n: number) => (totals[key] = (totals[key] ?? 0) + n);
  for (const o of outcomes) {
    const s = o.stats;
    if (s === undefined) continue;
    for (const [f, counts] of Object.entries(s.ops))
      for (const [t, n] of Object.entries(counts)) add(`${f}.${t}`, n);
    add('reSent', s.reSent);
    add('crashes.coordinator', s.crashes.coordinator);
    add('crashes.participants', s.crashes.participants);
    add('resolvedInDoubt.committed', s.resolvedInDoubt.committed);
    add('resolvedInDoubt.aborted', s.resolvedInDoubt.aborted);
    for (const [kind, n] of Object.entries(s.faults)) add(`faults.${kind}`, n ?? 0);
    add('messages', s.network.sent);
    add('messages.dropped', s.network.dropped);
    add('messages.duplicated', s.network.duplicated);
    add('events', s.events);
    add('virtualMs', s.virtualMs);
    add('errorsLogged', s.errorsLogged);
  }
  return totals;
}
