/**
 * One deterministic simulation run: `runSimulation(seed)` builds a cluster of real protocol code over
 * a simulated network and clock, runs the workload (bank, or list-append) while a seeded nemesis
 * injects faults, heals, waits for every in-doubt transaction to resolve (recording polls for the
 * liveness checker), settles unknown outcomes (bank: re-sends with the idempotency key; list-append:
 * looks them up, then reads every key), and judges the history and the final shard state with the
 * chaos checkers (bank or Elle-style list-append, durability, liveness), plus the simulator's own (no
 * handler threw a bug).
 * The same seed replays the same run: same history, same faults, same verdicts.
 */
import { createLogger, type Logger } from '../../common/log.ts';
import { checkLiveness, type InDoubtPoll } from '../checkers/liveness.ts';
import type { Op } from '../history.ts';
import type { AnyVerdict } from '../workloads/workload.ts';
import { checkDurability } from '../checkers/durability.ts';
import { checkListAppend } from '../checkers/list-append.ts';
import { LIST_APPEND_SCHEMA } from '../workloads/list-append-keys.ts';
import { BankClients } from './bank-clients.ts';
import { ListAppendClients, type ListAppendClientsOptions } from './list-append-clients.ts';
import { BankLedger, bankSchemaSql, type ShardRows } from './bank-ledger.ts';
import { checkInternalErrors } from './bug-check.ts';
import { SimCluster } from './cluster.ts';
import { Nemesis, drawProfile, type FaultProfile, type FaultRecord } from './nemesis.ts';
import {
  resolveSimulationOptions,
  type ResolvedSimulationOptions,
  type SimulationOptions,
} from './simulation-options.ts';
import { deriveRandom } from './sim-random.ts';
import { countOps, type SimulationStats } from './simulation-stats.ts';

export type { SimulationOptions } from './simulation-options.ts';
export type { SimulationStats } from './simulation-stats.ts';

export interface SimulationResult {
  readonly seed: number;
  /** Every checker passed. */
  readonly valid: boolean;
  readonly verdicts: readonly AnyVerdict[];
  readonly stats: SimulationStats;
  readonly history: readonly Op[];
  readonly faults: readonly FaultRecord[];
  readonly profile: FaultProfile;
  /** The coordinator settings drawn for this seed. */
  readonly coordinatorConfig: { readonly commitVisibilityWaitMs: number };
  /** The first error-level log lines of the nodes (JSON), for reading a failing seed. */
  readonly errorsLogged: readonly string[];
}

/** Error log lines kept per run (all are counted in the stats). */
const errorsKeptMax = 20;

/** Between two in-doubt polls, and empty polls after the first one (virtual ms), as chaos/in-doubt-poll.ts. */
const pollIntervalMs = 250;
const confirmPolls = 3;

export async function runSimulation(
  seed: number,
  options: SimulationOptions = {},
): Promise<SimulationResult> {
  const o = resolveSimulationOptions(options);
  const realStart = performance.now();
  const shards = Array.from({ length: o.shards }, (_, i) => `shard-${String.fromCharCode(97 + i)}`);
  const profileRandom = deriveRandom(seed, 'profile');
  const profile = drawProfile(profileRandom, o.faults);
  const errorLog = errorCollector(seed, o.verbose);
  // Both answer paths: at once when the decision is durable, or once the participants applied it.
  const coordinatorConfig = { commitVisibilityWaitMs: profileRandom.next() < 0.5 ? 0 : 2_000 };
  const cluster = new SimCluster({
    seed,
    shards,
    schemaSql:
      o.workload === 'bank' ? bankSchemaSql(o.accountsPerShard, o.initialBalance) : LIST_APPEND_SCHEMA,
    coordinatorConfig,
    eventsMax: o.eventsMax,
    logger: errorLog.logger,
    ...(o.dir === undefined ? {} : { dir: o.dir }),
    ...(o.mutant === undefined ? {} : { mutant: o.mutant }),
  });
  try {
    const { scheduler } = cluster;
    const clients = simWorkload(o.workload, shards, o, {
      scheduler,
      network: cluster.network,
      coordinator: cluster.coordinator,
      random: deriveRandom(seed, 'workload'),
      clients: o.clients,
      opsMax: o.ops,
      txnTimeoutMs: o.txnTimeoutMs,
      seed,
    });
    const nemesis = new Nemesis({
      scheduler,
      network: cluster.network,
      random: deriveRandom(seed, 'nemesis'),
      coordinator: cluster.coordinator,
      participants: cluster.participants,
      clients: Array.from({ length: o.clients }, (_, i) => `client-${i}`),
      profile,
    });
    cluster.start();
    nemesis.start();
    await runToEnd(cluster, 'the workload', clients.run(), o.workloadMsMax);
    nemesis.heal();
    const healedAtMs = scheduler.elapsedUs / 1000;
    const polls = await pollUntilResolved(cluster, o.resolutionBoundMs);
    const reSent = await runToEnd(cluster, 'the re-sends', clients.settle(), o.resolutionBoundMs);
    // The re-sends' phase two finishes in the background: let it, then look once more.
    await pollUntilResolved(cluster, o.resolutionBoundMs, 0);
    polls.push(cluster.pollInDoubt());
    const verdicts = [
      ...clients.check((s, sql) => cluster.rows(s, sql)),
      checkLiveness({ healedAtMs, resolutionBoundMs: o.resolutionBoundMs, polls }),
      checkInternalErrors(cluster.network.bugs),
    ];
    const stats: SimulationStats = {
      ops: countOps(clients.ops),
      reSent,
      faults: { ...nemesis.counts },
      crashes: {
        coordinator: cluster.coordinator.crashes,
        participants: sumOf(cluster.participants.map((p) => p.crashes)),
      },
      resolvedInDoubt: {
        committed: sumOf(cluster.participants.map((p) => p.resolved().committed)),
        aborted: sumOf(cluster.participants.map((p) => p.resolved().aborted)),
      },
      network: { ...cluster.network.stats },
      errorsLogged: errorLog.count(),
      events: scheduler.eventsRun,
      virtualMs: Math.round(scheduler.elapsedUs / 1000),
      realMs: Math.round(performance.now() - realStart),
    };
    return {
      seed,
      valid: verdicts.every((v) => v.valid),
      verdicts,
      stats,
      history: clients.ops,
      faults: nemesis.record,
      profile,
      coordinatorConfig,
      errorsLogged: errorLog.kept,
    };
  } finally {
    cluster.dispose(o.keepFiles);
  }
}

/**
 * The nodes' logger: error lines are counted and the first few kept (an error log is not a verdict:
 * some are expected, e.g. a one-phase outcome probed with Abort); with `verbose` every level goes to
 * stderr. Log timestamps are real time; the simulation's behaviour never depends on them.
 */
function errorCollector(
  seed: number,
  verbose: boolean,
): { logger: Logger; kept: string[]; count: () => number } {
  const kept: string[] = [];
  let count = 0;
  const logger = createLogger(`sim.${seed}`, verbose ? 'debug' : 'error', (line) => {
    if (verbose) process.stderr.write(line);
    if (!line.includes('"level":"error"')) return;
    count++;
    if (kept.length < errorsKeptMax) kept.push(line.trimEnd());
  });
  return { logger, kept, count: () => count };
}

/** A workload's clients as a run drives them. */
interface SimWorkload {
  readonly ops: readonly Op[];
  run(): Promise<void>;
  /** After the heal: settle unknown outcomes and take final reads; returns how many were unknown. */
  settle(): Promise<number>;
  /** The workload's checker and the durability checker over the final shard state. */
  check(rows: ShardRows): AnyVerdict[];
}

function simWorkload(
  name: ResolvedSimulationOptions['workload'],
  shards: readonly string[],
  o: ResolvedSimulationOptions,
  common: Omit<ListAppendClientsOptions, 'shards'>,
): SimWorkload {
  if (name === 'bank') {
    const ledger = new BankLedger(shards, o.accountsPerShard, o.initialBalance);
    const bank = new BankClients({ ...common, ledger });
    return {
      get ops() {
        return bank.ops;
      },
      run: () => bank.run(),
      settle: () => bank.settle(),
      check: (rows) => ledger.check(bank.ops, bank.commitRecords(), rows),
    };
  }
  const lists = new ListAppendClients({ ...common, shards });
  return {
    get ops() {
      return lists.ops;
    },
    run: () => lists.run(),
    settle: () => lists.settle(),
    check: (rows) => [
      checkListAppend(lists.ops as Op[]),
      checkDurability(lists.commitRecords(), lists.markers(rows)),
    ],
  };
}

/** Runs the simulation until `work` settles; a run that cannot finish within `limitMs` is a bug. */
async function runToEnd<T>(cluster: SimCluster, what: string, work: Promise<T>, limitMs: number): Promise<T> {
  let settled = false;
  const tracked = work.finally(() => (settled = true));
  const { scheduler } = cluster;
  if (!(await scheduler.run(() => settled, scheduler.elapsedUs + limitMs * 1000)))
    throw new Error(`simulation: ${what} did not finish within ${limitMs} virtual ms`);
  return tracked;
}

/**
 * Polls every shard for in-doubt transactions until none for `confirm` more polls, or `boundMs`
 * (plus one poll past it, which shows what is stuck) has passed.
 */
async function pollUntilResolved(
  cluster: SimCluster,
  boundMs: number,
  confirm = confirmPolls,
): Promise<InDoubtPoll[]> {
  const polls: InDoubtPoll[] = [];
  const deadlineMs = cluster.scheduler.elapsedUs / 1000 + boundMs;
  let empty = 0;
  for (;;) {
    const poll = cluster.pollInDoubt();
    polls.push(poll);
    empty = poll.inDoubt.length === 0 ? empty + 1 : 0;
    if (empty > confirm || (poll.timeMs > deadlineMs && empty === 0)) return polls;
    await cluster.scheduler.advance(pollIntervalMs);
  }
}

function sumOf(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
