/**
 * The nemesis's plan: a seeded list of fault windows over the run. Pure — the same options give the
 * same schedule, so a seed reproduces what was injected (the processes' timing is not reproducible,
 * the plan is).
 *
 * Faults run in two lanes that may overlap each other but never themselves: the *process* lane (kill,
 * pause, failpoints: one process at a time, so a kill and a pause never fight over one PID) and the
 * *network* lane (partition, delay), and the *service* lane (replica-outage, redis-outage: the
 * S3-compatible store or the Redis decision log stopped). Every window ends `cooldownMs` before the
 * run does, so the heal at the end finds little to undo.
 */
import { FAILPOINTS, type FailpointName } from '../common/failpoints.ts';
import { seededRandom, type Random } from '../common/random.ts';
import { CLIENTS_TARGET, COORDINATOR, FLOWS, type Flow } from './network.ts';

export const FAULT_KINDS = [
  'kill',
  'pause',
  'partition',
  'delay',
  'failpoints',
  'replica-outage',
  'redis-outage',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The kinds this harness can inject (every one of FAULT_KINDS). */
export const AVAILABLE_FAULT_KINDS = FAULT_KINDS;
export type AvailableFaultKind = FaultKind;

/** The fault target of `replica-outage`: the S3-compatible store the participants ship their WAL to. */
export const REPLICA_TARGET = 'replica';
/** The fault target of `redis-outage`: the redis-server holding the coordinator's decision log. */
export const REDIS_TARGET = 'redis';
/** How a service is taken down: SIGKILL (restarted on its port and dir) or SIGSTOP (SIGCONT later). */
export const OUTAGE_MODES = ['kill', 'pause'] as const;
export type OutageMode = (typeof OUTAGE_MODES)[number];

export type FaultDetail =
  | { readonly kind: 'kill' }
  | { readonly kind: 'pause' }
  | { readonly kind: 'partition'; readonly mode: 'blackhole' | 'drop'; readonly flow: Flow }
  | { readonly kind: 'delay'; readonly latencyMs: number; readonly flow: Flow }
  | { readonly kind: 'failpoints'; readonly failpoint: FailpointName; readonly onHit: number }
  | { readonly kind: 'replica-outage' | 'redis-outage'; readonly mode: OutageMode };

export interface FaultWindow {
  readonly id: number;
  readonly kind: AvailableFaultKind;
  /** A process name (kill, pause, failpoints) or a network target (partition, delay). */
  readonly target: string;
  /** Milliseconds from the start of the run. */
  readonly startMs: number;
  readonly durationMs: number;
  readonly detail: FaultDetail;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly kinds: readonly AvailableFaultKind[];
  readonly shards: readonly string[];
  /** Only these targets (process names, shards, `clients`); absent = all. */
  readonly targets?: readonly string[];
}

/** Faults start after this share of the run, so the workload is going first. */
const warmupShare = 0.1;
/** No fault window ends later than this before the end of the run. */
export const cooldownMs = 1_000;
const gapMs = { min: 300, max: 2_000 } as const;
const durationMsByKind: Readonly<Record<AvailableFaultKind, { min: number; max: number }>> = {
  kill: { min: 300, max: 2_500 },
  pause: { min: 300, max: 2_500 },
  failpoints: { min: 2_000, max: 5_000 },
  partition: { min: 500, max: 4_000 },
  delay: { min: 1_000, max: 5_000 },
  // Longer than a sync vote's wait for the replica (1.5 s), so some transactions abort on it.
  'replica-outage': { min: 1_000, max: 5_000 },
  // Mostly shorter than the Redis command timeout (5 s): commands queued by ioredis complete at the heal.
  'redis-outage': { min: 500, max: 4_000 },
};
export const latencyMsRange = { min: 10, max: 300 } as const;
/** A crash failpoint fires on hit 1..this: sometimes at once, sometimes a few transactions in. */
const failpointOnHitMax = 4;

const PROCESS_LANE: readonly AvailableFaultKind[] = ['kill', 'pause', 'failpoints'];
const NETWORK_LANE: readonly AvailableFaultKind[] = ['partition', 'delay'];
const SERVICE_LANE: readonly AvailableFaultKind[] = ['replica-outage', 'redis-outage'];
/** The lanes in planning order (a new lane goes last, so older seeds keep their plans). */
export const LANES = { process: PROCESS_LANE, network: NETWORK_LANE, service: SERVICE_LANE } as const;
export type LaneName = keyof typeof LANES;

export function laneOf(kind: AvailableFaultKind): LaneName {
  if (PROCESS_LANE.includes(kind)) return 'process';
  return NETWORK_LANE.includes(kind) ? 'network' : 'service';
}

/** Separate seeded streams for the nemesis and the workload: changing one leaves the other alone. */
export const NEMESIS_SEED_SALT = 0x6e656d;

export function planSchedule(options: ScheduleOptions): FaultWindow[] {
  const rnd = seededRandom((options.seed ^ NEMESIS_SEED_SALT) >>> 0);
  const windows: Omit<FaultWindow, 'id'>[] = [];
  for (const lane of [PROCESS_LANE, NETWORK_LANE, SERVICE_LANE]) {
    const kinds = lane.filter((k) => options.kinds.includes(k) && targetsFor(k, options).length > 0);
    if (kinds.length === 0) continue;
    let t = Math.round(options.durationMs * warmupShare);
    const endMs = options.durationMs - cooldownMs;
    for (;;) {
      const kind = rnd.pick(kinds);
      const range = durationMsByKind[kind];
      const startMs = t + rnd.int(gapMs.min, gapMs.max);
      const durationMs = rnd.int(range.min, range.max);
      if (startMs + durationMs > endMs) break;
      const window = makeWindow(kind, rnd, options, startMs, durationMs);
      windows.push(window);
      t = startMs + durationMs;
    }
  }
  windows.sort((a, b) => a.startMs - b.startMs || a.kind.localeCompare(b.kind));
  return windows.map((w, id) => ({ id, ...w }));
}

function makeWindow(
  kind: AvailableFaultKind,
  rnd: Random,
  options: ScheduleOptions,
  startMs: number,
  durationMs: number,
): Omit<FaultWindow, 'id'> {
  const base = { kind, startMs, durationMs };
  switch (kind) {
    case 'kill':
    case 'pause':
      return { ...base, target: rnd.pick(targetsFor(kind, options)), detail: { kind } };
    case 'failpoints': {
      const target = rnd.pick(targetsFor(kind, options));
      const prefix = target === COORDINATOR ? 'coordinator.' : 'participant.';
      const names = (Object.keys(FAILPOINTS) as FailpointName[]).filter((n) => n.startsWith(prefix));
      const detail = { kind, failpoint: rnd.pick(names), onHit: rnd.int(1, failpointOnHitMax) } as const;
      return { ...base, target, detail };
    }
    case 'partition': {
      const target = rnd.pick(targetsFor(kind, options));
      // Mostly a clean cut; sometimes one way only, or connections reset instead of silence.
      const mode = rnd.next() < 0.25 ? 'drop' : 'blackhole';
      const flow: Flow = mode === 'drop' || rnd.next() < 0.6 ? 'both' : rnd.pick(FLOWS.slice(1));
      return { ...base, target, detail: { kind, mode, flow } };
    }
    case 'delay': {
      const target = rnd.pick(targetsFor(kind, options));
      const latencyMs = rnd.int(latencyMsRange.min, latencyMsRange.max);
      const flow: Flow = rnd.next() < 0.6 ? 'both' : rnd.pick(FLOWS.slice(1));
      return { ...base, target, detail: { kind, latencyMs, flow } };
    }
    case 'replica-outage':
    case 'redis-outage': {
      const target = rnd.pick(targetsFor(kind, options));
      return { ...base, target, detail: { kind, mode: rnd.pick(OUTAGE_MODES) } };
    }
  }
}

/** Who a kind of fault may hit, after the `targets` filter. */
export function targetsFor(kind: AvailableFaultKind, options: ScheduleOptions): string[] {
  const processes = [COORDINATOR, ...options.shards];
  const all =
    kind === 'replica-outage'
      ? [REPLICA_TARGET]
      : kind === 'redis-outage'
        ? [REDIS_TARGET]
        : kind === 'partition' || kind === 'delay'
          ? [CLIENTS_TARGET, ...processes]
          : processes;
  const allowed = options.targets;
  return allowed === undefined ? all : all.filter((t) => allowed.includes(t));
}

/** One line per window, for logs and the report. */
export function describeWindow(w: FaultWindow): string {
  const d = w.detail;
  const what =
    d.kind === 'partition'
      ? `partition(${d.mode}, ${d.flow})`
      : d.kind === 'delay'
        ? `delay(${d.latencyMs}ms, ${d.flow})`
        : d.kind === 'failpoints'
          ? `failpoint ${d.failpoint}=${d.onHit}*crash`
          : d.kind === 'replica-outage' || d.kind === 'redis-outage'
            ? `${d.kind}(${d.mode})`
            : d.kind;
  return `#${w.id} ${what} on ${w.target} at ${w.startMs} ms for ${w.durationMs} ms`;
}
