/**
 * One chaos run, start to verdict:
 *
 *  1. proxies on every link, the cluster behind them (a fresh run dir: data/, logs/);
 *  2. the workload's clients and the nemesis for `durationMs` (the run clock starts here);
 *  3. heal: the nemesis undoes every fault; the workers finish their ops in flight;
 *  4. liveness: every participant is polled until nothing is in doubt, within `resolutionBoundMs`;
 *  5. settle: unknown outcomes sharpened, final reads taken (recorded in the history);
 *  6. the cluster stops; the shard files are read; every checker judges; the report is written.
 *     With WAL shipping, each shard is also verified and restored from its replica (replica-restore.ts)
 *     and the restored files are judged too.
 *
 * The history is on disk as it happens (history.jsonl), so an interrupted run still leaves it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MUTATION_BANNER, type MutationName } from '../common/mutations.ts';
import { TwopcClient } from '../client/twopc-client.ts';
import { checkDurability } from './checkers/durability.ts';
import { checkLiveness } from './checkers/liveness.ts';
import { ClusterRunner } from './cluster-runner.ts';
import {
  ClusterServices,
  S3RVER_CREDENTIALS,
  type ChaosDecisionLog,
  type ChaosReplication,
} from './cluster-services.ts';
import { judgeDecisionLogOutages, judgeReplica, resolveServices } from './service-verdicts.ts';
import { ShardFiles } from './final-state.ts';
import { HistoryFile, HistoryRecorder } from './history.ts';
import { pollInDoubt, resolutionBoundMsDefault, type PollOutcome } from './in-doubt-poll.ts';
import { Nemesis } from './nemesis.ts';
import { COORDINATOR, Network } from './network.ts';
import { checkProcessExits } from './process-exits.ts';
import { REPORT_FILES, buildSummary, writeReport, type ChaosSummary } from './report.ts';
import { planSchedule, type AvailableFaultKind } from './schedule.ts';
import { BankWorkload } from './workloads/bank.ts';
import { ListAppendWorkload } from './workloads/list-append.ts';
import {
  SETTLE_PROCESS,
  startWorkers,
  type AnyVerdict,
  type WorkerPool,
  type Workload,
  type WorkloadName,
} from './workloads/workload.ts';

export const shardCountDefault = 3;
/** Short transactions: a stuck one frees its locks sooner, and faults show up as aborts quickly. */
export const txnTimeoutMsDefault = 2_000;
export const clientsDefault = 6;
/** After an interrupt, how long the workers get to notice that the cluster is gone. */
const workersStopWaitMs = 10_000;

export interface ChaosOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly workload: WorkloadName;
  readonly faults: readonly AvailableFaultKind[];
  readonly outDir: string;
  readonly clients: number;
  readonly shards?: number;
  /** Only these fault targets (process names, shards, `clients`). */
  readonly targets?: readonly string[];
  /** Deliberately broken builds (common/mutations.ts), for the harness's own test. */
  readonly mutations?: readonly MutationName[];
  readonly txnTimeoutMs?: number;
  /** WAL shipping to an s3rver the harness runs; default service-verdicts.ts's resolveServices(). */
  readonly replication?: ChaosReplication;
  /** Where the coordinator keeps its decisions; default resolveServices(). */
  readonly decisionLog?: ChaosDecisionLog;
  readonly resolutionBoundMs?: number;
  readonly log?: (line: string) => void;
  /** Aborting ends the run early: everything is killed, the report says interrupted. */
  readonly signal?: AbortSignal;
}

export interface ChaosResult {
  readonly summary: ChaosSummary;
  readonly outDir: string;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const outDir = path.resolve(options.outDir);
  prepareOutDir(outDir);
  const resolved = { ...options, ...resolveServices(options), outDir };
  const network = await Network.create(shardNames(options));
  const services = new ClusterServices({ runDir: outDir, ...resolveServices(options) });
  let run: ChaosRun;
  try {
    await services.start();
    run = new ChaosRun(resolved, network, services);
  } catch (err) {
    services.killAllNow();
    await network.close();
    throw err;
  }
  const summary = await run.execute();
  writeReport(outDir, summary, run.history.ops);
  return { summary, outDir };
}

function shardNames(options: ChaosOptions): string[] {
  const count = options.shards ?? shardCountDefault;
  return Array.from({ length: count }, (_, i) => `shard-${String.fromCharCode(97 + i)}`);
}

/** The parts of one run and what they produced; `execute` runs the phases in order. */
class ChaosRun {
  readonly history: HistoryRecorder;
  readonly #options: ChaosOptions;
  readonly #log: (line: string) => void;
  readonly #historyFile: HistoryFile;
  readonly #shards: readonly string[];
  readonly #txnTimeoutMs: number;
  readonly #workload: Workload;
  readonly #network: Network;
  readonly #cluster: ClusterRunner;
  readonly #nemesis: Nemesis;
  readonly #verdicts: AnyVerdict[] = [];
  #epochMs = performance.now();
  #pool: WorkerPool | undefined;
  #polled: PollOutcome = { polls: [], incompleteRounds: 0 };
  #healedAtMs = 0;
  #clientRenewals = 0;

  constructor(options: ChaosOptions, network: Network, services: ClusterServices) {
    this.#options = options;
    this.#log = options.log ?? (() => {});
    this.#network = network;
    this.#shards = network.shards;
    this.#txnTimeoutMs = options.txnTimeoutMs ?? txnTimeoutMsDefault;
    this.#historyFile = new HistoryFile(path.join(options.outDir, REPORT_FILES.history));
    this.history = new HistoryRecorder(this.#clockMs, this.#historyFile.append);
    const env = {
      history: this.history,
      shards: this.#shards,
      seed: options.seed,
      txnTimeoutMs: this.#txnTimeoutMs,
      log: this.#log,
    };
    this.#workload = options.workload === 'bank' ? new BankWorkload(env) : new ListAppendWorkload(env);
    this.#cluster = new ClusterRunner({
      runDir: options.outDir,
      shards: this.#shards,
      schemaSql: this.#workload.schemaSql,
      network,
      txnTimeoutMs: this.#txnTimeoutMs,
      env: { TWOPC_MUTATION: (options.mutations ?? []).join(','), ...S3RVER_CREDENTIALS },
      clockMs: this.#clockMs,
      services,
    });
    const schedule = planSchedule({
      seed: options.seed,
      durationMs: options.durationMs,
      kinds: options.faults,
      shards: this.#shards,
      ...(options.targets ? { targets: options.targets } : {}),
    });
    const deps = { cluster: this.#cluster, network, history: this.history, clockMs: this.#clockMs };
    this.#nemesis = new Nemesis(schedule, { ...deps, log: this.#log });
  }

  /** Milliseconds since the workload started (before that: since the run began). */
  readonly #clockMs = (): number => Math.round(performance.now() - this.#epochMs);

  async execute(): Promise<ChaosSummary> {
    const { signal } = this.#options;
    const onAbort = () => this.#cluster.killAllNow();
    signal?.addEventListener('abort', onAbort, { once: true });
    let interrupted = false;
    try {
      interrupted = !(await this.#load());
      if (!interrupted) {
        await this.#liveness();
        await this.#settleAndJudge();
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
      interrupted = true;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.#tearDown();
    }
    return this.#summarize(interrupted);
  }

  /** Phases 1-3: cluster up, load and faults for the duration, heal. False if interrupted. */
  async #load(): Promise<boolean> {
    const o = this.#options;
    this.#log(`chaos: starting ${this.#shards.length} participants and a coordinator in ${o.outDir}`);
    await this.#cluster.start();
    this.#epochMs = performance.now();
    const planned = this.#nemesis.records.length;
    this.#log(
      `chaos: ${o.workload} with ${o.clients} clients for ${o.durationMs} ms; ${planned} fault window(s) planned`,
    );
    this.#pool = startWorkers(this.#workload, {
      clients: o.clients,
      address: this.#network.clientAddress,
      seed: o.seed,
    });
    this.#nemesis.start();
    if (!(await sleepUnlessAborted(o.durationMs, o.signal))) return false;
    this.#log('chaos: healing every fault');
    await this.#nemesis.stop();
    await this.#pool.stop();
    this.#clientRenewals = this.#pool.renewals();
    this.#pool = undefined;
    this.#healedAtMs = this.#clockMs();
    return true;
  }

  /** Phase 4: nothing may stay in doubt once the faults are healed and the clients are quiet. */
  async #liveness(): Promise<void> {
    const boundMs = this.#options.resolutionBoundMs ?? resolutionBoundMsDefault;
    this.#log(`chaos: liveness: polling every shard for in-doubt transactions (bound ${boundMs} ms)`);
    this.#polled = await pollInDoubt({
      participants: this.#shards.map((shard) => ({ shard, address: this.#cluster.address(shard) })),
      clockMs: this.#clockMs,
      boundMs,
    });
    const polls = this.#polled.polls;
    this.#verdicts.push(checkLiveness({ healedAtMs: this.#healedAtMs, resolutionBoundMs: boundMs, polls }));
  }

  /** Phases 5-6: sharpen unknown outcomes and read everything, stop, judge the files and the history. */
  async #settleAndJudge(): Promise<void> {
    const client = new TwopcClient(this.#cluster.address(COORDINATOR));
    try {
      await this.#workload.settle(client, SETTLE_PROCESS);
    } finally {
      client.close();
    }
    const replication = this.#cluster.spec.services.spec.replication;
    // Sync mode promises the replica holds every acknowledged commit without a closing flush: no flush.
    await this.#cluster.stop({ killParticipants: replication === 'sync' });
    const files = new ShardFiles((s) => this.#cluster.shardFile(s));
    this.#verdicts.unshift(...this.#workload.check(files));
    const markers = this.#workload.markers(files);
    this.#verdicts.push(checkDurability(this.#workload.commitRecords(), markers));
    this.#verdicts.push(checkProcessExits(this.#cluster.exits));
    this.#verdicts.push(...judgeDecisionLogOutages(this.#nemesis.records, this.#workload));
    if (replication !== 'off') {
      this.#log('chaos: verifying and restoring every shard from its replica');
      const replicaUrl = this.#cluster.spec.services.replicaUrl() as string;
      const { outDir } = this.#options;
      const o = { replicaUrl, shards: this.#shards, outDir, workload: this.#workload, shardMarkers: markers };
      this.#verdicts.push(...(await judgeReplica(o)));
    }
    await this.#cluster.spec.services.stop();
  }

  /** Whatever happened: no process, proxy or open file outlives the run. */
  async #tearDown(): Promise<void> {
    this.#nemesis.halt();
    this.#cluster.killAllNow();
    // Interrupted or failed: the workers' calls fail fast against a dead cluster; wait a bounded time.
    if (this.#pool) await Promise.race([this.#pool.stop().catch(() => {}), sleep(workersStopWaitMs)]);
    await this.#network.close();
    this.#historyFile.close();
  }

  #summarize(interrupted: boolean): ChaosSummary {
    return buildSummary({
      options: { ...this.#options, txnTimeoutMs: this.#txnTimeoutMs, shards: this.#shards },
      history: this.history.ops,
      faults: this.#nemesis.records,
      verdicts: this.#verdicts,
      healedAtMs: this.#healedAtMs,
      polled: this.#polled,
      exits: this.#cluster.exits,
      starts: { ...this.#cluster.starts(), ...this.#cluster.spec.services.starts() },
      workloadStats: { ...this.#workload.stats(), clientRenewals: this.#clientRenewals },
      mutationsSeen: mutationsSeen(this.#cluster),
      interrupted,
    });
  }
}

/** Removes what an earlier run with the same --out left (only the files a run writes). */
function prepareOutDir(outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  for (const name of ['data', 'logs', 'schema.sql', ...Object.values(REPORT_FILES)]) {
    const p = path.join(outDir, name);
    if (existsSync(p)) rmSync(p, { recursive: true, force: true });
  }
}

async function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
    return true;
  } catch {
    return false;
  }
}

/** Mutations some process announced in its log (a mutation nobody announced was not wired). */
function mutationsSeen(cluster: ClusterRunner): string[] {
  const seen = new Set<string>();
  for (const name of cluster.names()) {
    const file = cluster.logFile(name);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.startsWith(MUTATION_BANNER))
        seen.add(line.slice(MUTATION_BANNER.length).trim().split(':')[0]!);
    }
  }
  return [...seen];
}
