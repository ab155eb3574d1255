/**
 * One simulated participant: a real ShardStore on a real SQLite file, its in-doubt resolver, and the
 * group commit of the participant's Batcher played as simulator steps. Prepares and decisions wait
 * in a queue; a "flush" event, one simulated fsync later, writes every queued decision with one
 * `decideBatch` and then every queued prepare with one `prepareBatch` (the Batcher's order: decisions
 * free locks the prepares may need), and answers them. The real Batcher is not used: it flushes on
 * setImmediate, which would tie its batches to real time.
 *
 * A crash kills the incarnation (its queue, timers, in-flight messages and resolver die with it) and
 * closes the SQLite file; what the store committed survives, as after SIGKILL. A restart reopens the
 * file and starts a new resolver, as a restarted participant process does.
 */
import { TwopcError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type {
  Ack,
  DecisionMessage,
  InDoubtTxn,
  PrepareMessage,
  QueryResult,
  ReadResult,
  TableInfo,
  TxnStateInfo,
  Vote,
} from '../../common/protocol.ts';
import type { Random } from '../../common/random.ts';
import type { Row, SqlValue } from '../../common/value.ts';
import { BATCHER_DEFAULTS } from '../../participant/batcher.ts';
import type { DecisionSource } from '../../participant/decision-lookup.ts';
import { InDoubtResolver, type InDoubtResolverStats } from '../../participant/in-doubt-resolver.ts';
import { ShardStore } from '../../participant/shard-store.ts';
import type { SimEvent } from './event-queue.ts';
import { Incarnation } from './incarnation.ts';
import { NodeClock } from './node-clock.ts';
import type { ParticipantEndpoint } from './participant-link.ts';
import type { Scheduler } from './scheduler.ts';
import { uniformInt } from './sim-random.ts';

/** Simulated fsync latency of a healthy disk, and of one the nemesis made slow (µs). */
export const FSYNC_US = Object.freeze({ min: 100, max: 600, slowMin: 5_000, slowMax: 80_000 });

interface Queued<M, R> {
  readonly message: M;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

export interface ParticipantNodeOptions {
  readonly shard: string;
  readonly path: string;
  readonly schemaSql: string;
  readonly scheduler: Scheduler;
  /** Disk latency and resolver jitter. */
  readonly random: Random;
  readonly logger: Logger;
  /** The DecisionSource of one incarnation (asking over the network, as that incarnation). */
  readonly decisionSource: (clock: NodeClock) => DecisionSource;
  /** Mutant: vote YES on receipt, before the prepare is checked or durable (breaks invariant 3). */
  readonly voteBeforeDurable?: boolean;
}

export class ParticipantNode implements ParticipantEndpoint {
  readonly shard: string;
  /** Set by the nemesis: fsyncs take tens of ms. */
  slowDisk = false;
  crashes = 0;
  private life = 0;
  private incarnation: Incarnation | undefined;
  private store: ShardStore | undefined;
  private prepares: Queued<PrepareMessage, Vote>[] = [];
  private decisions: Queued<DecisionMessage, Ack>[] = [];
  private flushEvent: SimEvent | undefined;
  /** Every incarnation's resolver, for the run's stats. */
  private readonly resolvers: InDoubtResolver[] = [];

  constructor(private readonly options: ParticipantNodeOptions) {
    this.shard = options.shard;
  }

  /** The live incarnation, undefined while down. */
  current(): Incarnation | undefined {
    return this.incarnation?.alive ? this.incarnation : undefined;
  }

  get up(): boolean {
    return this.current() !== undefined;
  }

  start(): void {
    if (this.up) return;
    const o = this.options;
    const incarnation = new Incarnation(this.shard, ++this.life);
    const clock = new NodeClock(o.scheduler, incarnation);
    const store = ShardStore.open({
      path: o.path,
      shard: this.shard,
      schemaSql: o.schemaSql,
      clock,
      logger: o.logger,
    });
    this.incarnation = incarnation;
    this.store = store;
    const resolver = new InDoubtResolver({
      // Bound to this incarnation's store and queue: a zombie resolver cannot touch the next life.
      store: { listInDoubt: () => store.listInDoubt(), decide: (m) => this.enqueueDecision(incarnation, m) },
      source: o.decisionSource(clock),
      clock,
      logger: o.logger.child(`in-doubt.${this.shard}`),
      random: () => o.random.next(),
    });
    resolver.start();
    this.resolvers.push(resolver);
  }

  /** In-doubt transactions this shard's resolvers settled, over every incarnation. */
  resolved(): Pick<InDoubtResolverStats, 'committed' | 'aborted'> {
    const sum = { committed: 0, aborted: 0 };
    for (const r of this.resolvers) {
      const s = r.stats();
      sum.committed += s.committed;
      sum.aborted += s.aborted;
    }
    return sum;
  }

  /** SIGKILL: queued messages, timers, in-flight messages and the resolver die; the file stays. */
  crash(): void {
    const incarnation = this.current();
    if (incarnation === undefined) return;
    this.crashes++;
    incarnation.alive = false;
    this.prepares = [];
    this.decisions = [];
    this.flushEvent = undefined;
    this.store?.close();
    this.store = undefined;
  }

  prepare(message: PrepareMessage): Promise<Vote> {
    const incarnation = this.live();
    const staged = new Promise<Vote>((resolve, reject) => {
      this.prepares.push({ message, resolve, reject });
      this.scheduleFlush(incarnation);
    });
    if (this.options.voteBeforeDurable && !message.onePhase && !message.readOnlyOk) {
      staged.catch(() => {}); // the mutant never looks at the real vote
      return Promise.resolve({ txnId: message.txnId, vote: 'YES' });
    }
    return staged;
  }

  decide(message: DecisionMessage): Promise<Ack> {
    return this.enqueueDecision(this.live(), message);
  }

  read(table: string, key: Row): ReadResult {
    return this.liveStore().read(table, key);
  }

  query(sql: string, params: readonly SqlValue[]): QueryResult {
    return this.liveStore().query(sql, params);
  }

  txnState(txnId: string, abortIfUnknown: boolean): TxnStateInfo {
    return this.liveStore().txnState(txnId, { abortIfUnknown });
  }

  listInDoubt(): InDoubtTxn[] {
    return this.liveStore().listInDoubt();
  }

  describe(): TableInfo[] {
    return this.liveStore().describe();
  }

  private enqueueDecision(incarnation: Incarnation, message: DecisionMessage): Promise<Ack> {
    // A dead incarnation's callers wait forever, as a killed process never answers.
    if (!incarnation.alive) return new Promise<Ack>(() => {});
    return new Promise<Ack>((resolve, reject) => {
      this.decisions.push({ message, resolve, reject });
      this.scheduleFlush(incarnation);
    });
  }

  private scheduleFlush(incarnation: Incarnation): void {
    if (this.flushEvent !== undefined) return;
    const r = this.options.random;
    const fsyncUs = this.slowDisk
      ? uniformInt(r, FSYNC_US.slowMin, FSYNC_US.slowMax)
      : uniformInt(r, FSYNC_US.min, FSYNC_US.max);
    this.flushEvent = this.options.scheduler.after(fsyncUs, incarnation, () => this.flush(incarnation));
  }

  /** One group commit: decisions first, then prepares, each as one store call (one fsync). */
  private flush(incarnation: Incarnation): void {
    this.flushEvent = undefined;
    const store = this.liveStore();
    const max = BATCHER_DEFAULTS.batchMessagesMax;
    write(this.decisions.splice(0, max), (ms) => store.decideBatch(ms));
    write(this.prepares.splice(0, max), (ms) => store.prepareBatch(ms));
    if (this.prepares.length > 0 || this.decisions.length > 0) this.scheduleFlush(incarnation);
  }

  private live(): Incarnation {
    const incarnation = this.current();
    if (incarnation === undefined) throw new TwopcError('UNAVAILABLE', `participant ${this.shard} is down`);
    return incarnation;
  }

  private liveStore(): ShardStore {
    this.live();
    return this.store as ShardStore;
  }
}

/**
 * Writes a batch with one store call; if the call throws, its local transaction rolled back as a
 * whole, so each message is retried alone and only a poisonous one fails (as the Batcher does).
 */
function write<M, R>(batch: readonly Queued<M, R>[], call: (messages: readonly M[]) => R[]): void {
  if (batch.length === 0) return;
  let results: R[];
  try {
    results = call(batch.map((q) => q.message));
  } catch (error) {
    if (batch.length === 1) (batch[0] as Queued<M, R>).reject(error);
    else for (const q of batch) write([q], call);
    return;
  }
  batch.forEach((q, i) => q.resolve(results[i] as R));
}
