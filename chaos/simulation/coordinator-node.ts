/**
 * The simulated coordinator: a real Coordinator over a real SQLite decision log file, talking to the
 * participants through SimParticipantClients, on its own NodeClock and seeded randomness (jitter and
 * transaction ids). A crash kills the incarnation (timers, in-flight calls and unflushed log writes
 * die with it) and closes the log file without any shutdown code of the Coordinator running; a
 * restart reopens the log (a new epoch) and starts a new Coordinator, which re-drives logged commits
 * and sweeps the participants, as a restarted coordinator process does.
 */
import { TwopcError } from '../../common/errors.ts';
import type { TxnView } from '../../common/api.ts';
import type { Logger } from '../../common/log.ts';
import type { ParticipantClient } from '../../common/protocol.ts';
import type { Random } from '../../common/random.ts';
import type { CoordinatorConfig } from '../../coordinator/config.ts';
import { Coordinator } from '../../coordinator/coordinator.ts';
import type { DecisionLog } from '../../coordinator/decision-log.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import type { CoordinatorEndpoint } from './decision-link.ts';
import { COORDINATOR_NODE, Incarnation } from './incarnation.ts';
import { LogFlushControl } from './log-flush.ts';
import { EagerCommitLog, mutantClient, type Mutant } from './mutants.ts';
import type { SimNetwork } from './network.ts';
import { NodeClock } from './node-clock.ts';
import { FSYNC_US } from './participant-node.ts';
import { SimParticipantClient, type ParticipantEndpoint } from './participant-link.ts';
import type { Scheduler } from './scheduler.ts';
import { entropyFrom, uniformInt } from './sim-random.ts';

/** Stable across restarts, as a coordinator's id is (its prepares are its own after a restart). */
export const SIM_COORDINATOR_ID = 'sim-coordinator';

export interface CoordinatorNodeOptions {
  readonly logPath: string;
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  /** Backoff jitter and log fsync latency. */
  readonly random: Random;
  /** The random part of transaction ids. */
  readonly idRandom: Random;
  readonly logger: Logger;
  readonly config: Partial<CoordinatorConfig>;
  readonly participants: ReadonlyMap<string, ParticipantEndpoint>;
  readonly mutant?: Mutant;
}

export class CoordinatorNode implements CoordinatorEndpoint {
  crashes = 0;
  private life = 0;
  private incarnation: Incarnation | undefined;
  private coordinator: Coordinator | undefined;
  private log: SqliteDecisionLog | undefined;
  private flush: LogFlushControl | undefined;

  constructor(private readonly options: CoordinatorNodeOptions) {}

  current(): Incarnation | undefined {
    return this.incarnation?.alive ? this.incarnation : undefined;
  }

  get up(): boolean {
    return this.current() !== undefined;
  }

  start(): void {
    if (this.up) return;
    const o = this.options;
    const incarnation = new Incarnation(COORDINATOR_NODE, ++this.life);
    const clock = new NodeClock(o.scheduler, incarnation);
    const log = SqliteDecisionLog.open(o.logPath);
    this.flush = new LogFlushControl(log, o.scheduler, incarnation, () =>
      uniformInt(o.random, FSYNC_US.min, FSYNC_US.max),
    );
    const eager = o.mutant === 'answer-before-forced' ? new EagerCommitLog(log, clock) : undefined;
    const firstShard = [...o.participants.keys()][0];
    const participants = new Map<string, ParticipantClient>();
    for (const [shard, endpoint] of o.participants) {
      const client = new SimParticipantClient(shard, endpoint, clock, o.network);
      const broken = o.mutant !== undefined && (o.mutant !== 'commit-dropped-acked' || shard === firstShard);
      participants.set(shard, broken ? mutantClient(o.mutant as Mutant, client, eager) : client);
    }
    const decisionLog: DecisionLog = eager ?? log;
    this.coordinator = new Coordinator({
      coordinatorId: SIM_COORDINATOR_ID,
      log: decisionLog,
      participants,
      config: o.config,
      clock,
      random: () => o.random.next(),
      txnIdEntropy: entropyFrom(o.idRandom),
      logger: o.logger,
    });
    this.incarnation = incarnation;
    this.log = log;
    void this.coordinator.start();
  }

  /**
   * SIGKILL. `loseQueued`: the log's queued, unflushed writes are lost (the kill came before their
   * fsync); otherwise they reach the file (it came just after). No Coordinator code runs.
   */
  crash(loseQueued: boolean): void {
    const incarnation = this.current();
    if (incarnation === undefined) return;
    this.crashes++;
    incarnation.alive = false;
    this.flush?.crash(loseQueued);
    void this.log?.close();
    this.coordinator = undefined;
    this.log = undefined;
  }

  /** The live Coordinator, for requests the network delivered to this incarnation. */
  api(): Coordinator {
    if (this.coordinator === undefined || !this.up)
      throw new TwopcError('UNAVAILABLE', 'the coordinator is down');
    return this.coordinator;
  }

  getTransaction(txnId: string): Promise<TxnView> {
    return this.api().getTransaction(txnId);
  }

  /** Transactions decided by the live incarnation and other counters, for the run's stats. */
  metrics(): Readonly<Record<string, unknown>> | undefined {
    return this.coordinator?.metrics() as Readonly<Record<string, unknown>> | undefined;
  }
}
