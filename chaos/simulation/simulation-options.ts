/**
 * The knobs of one simulation run, with defaults sized so that a run takes tens of milliseconds of
 * real time and a CI batch of seeds stays under a minute on two cores.
 */
import { invalidArgument } from '../../common/errors.ts';
import { FAULT_KINDS, type FaultKind } from './nemesis.ts';
import { MUTANTS, type Mutant } from './mutants.ts';

export const SIM_WORKLOADS = ['bank', 'list-append'] as const;
export type SimWorkloadName = (typeof SIM_WORKLOADS)[number];

export interface SimulationOptions {
  /** bank (default) or list-append. */
  readonly workload?: SimWorkloadName;
  /** Client ops in the workload phase (default 40). */
  readonly ops?: number;
  /** Concurrent clients (default 4). */
  readonly clients?: number;
  /** Participants (default 3). */
  readonly shards?: number;
  readonly accountsPerShard?: number;
  readonly initialBalance?: number;
  /** Fault kinds the seed's profile may draw from (default all; [] for none). */
  readonly faults?: readonly FaultKind[];
  /** Run a deliberately broken build (mutants.ts). */
  readonly mutant?: Mutant;
  /** Each transaction's timeout at the coordinator (default 3 s). */
  readonly txnTimeoutMs?: number;
  /** Every in-doubt transaction must be resolved this long after the heal (default 30 s, as the chaos harness). */
  readonly resolutionBoundMs?: number;
  /** The workload phase must end within this much virtual time (default 10 min): past it, a hang. */
  readonly workloadMsMax?: number;
  /** Events one run may execute before it is declared a livelock (default 2,000,000). */
  readonly eventsMax?: number;
  /** Parent directory of the run's SQLite files (default /dev/shm if present, else the OS temp dir). */
  readonly dir?: string;
  /** Keep the run's SQLite files (default false). */
  readonly keepFiles?: boolean;
  /** Log every node's debug output to stderr (default false). */
  readonly verbose?: boolean;
}

export type ResolvedSimulationOptions = Required<Omit<SimulationOptions, 'mutant' | 'dir'>> &
  Pick<SimulationOptions, 'mutant' | 'dir'>;

export const SIMULATION_DEFAULTS = Object.freeze({
  workload: 'bank' as SimWorkloadName,
  ops: 40,
  clients: 4,
  shards: 3,
  accountsPerShard: 3,
  initialBalance: 100,
  faults: FAULT_KINDS,
  txnTimeoutMs: 3_000,
  resolutionBoundMs: 30_000,
  workloadMsMax: 600_000,
  eventsMax: 2_000_000,
  keepFiles: false,
  verbose: false,
});

/** Bounds that keep a single run sane (a typo, not a setting, beyond them). */
const LIMITS = {
  ops: [1, 100_000],
  clients: [1, 64],
  shards: [2, 8],
  accountsPerShard: [2, 1_000],
  initialBalance: [1, 1_000_000_000],
  txnTimeoutMs: [100, 600_000],
  resolutionBoundMs: [1_000, 3_600_000],
  workloadMsMax: [1_000, 86_400_000],
  eventsMax: [1_000, 1_000_000_000],
} as const;

export function resolveSimulationOptions(options: SimulationOptions): ResolvedSimulationOptions {
  const o = { ...SIMULATION_DEFAULTS, ...options };
  for (const [field, [min, max]] of Object.entries(LIMITS) as [
    keyof typeof LIMITS,
    readonly [number, number],
  ][]) {
    const value = o[field];
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw invalidArgument(
        `simulation: ${field} must be an integer from ${min} to ${max}, got ${String(value)}`,
      );
  }
  if (!SIM_WORKLOADS.includes(o.workload))
    throw invalidArgument(`simulation: unknown workload "${String(o.workload)}"`);
  for (const kind of o.faults)
    if (!FAULT_KINDS.includes(kind))
      throw invalidArgument(`simulation: unknown fault kind "${String(kind)}"`);
  if (o.mutant !== undefined && !MUTANTS.includes(o.mutant))
    throw invalidArgument(`simulation: unknown mutant "${String(o.mutant)}"`);
  return Object.freeze(o);
}
