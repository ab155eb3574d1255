/**
 * The in-doubt sweep: the coordinator's side of "every transaction not in the log is aborted"
 * (DESIGN.md, Recovery; invariant 5). A participant started with `--coordinator` asks about its
 * in-doubt transactions itself; one started without it can only ask its peers, and when every peer
 * voted YES and the coordinator died before logging COMMIT, nobody would ever abort. So, at start and
 * then every `inDoubtSweepIntervalMs`, the coordinator asks every participant what it holds PREPARED
 * (ListInDoubt, one deadline each; an unreachable participant is skipped this round) and settles each
 * transaction that THIS coordinator prepared (by coordinator id), that is older than
 * `inDoubtSweepGraceMs`, and that is not live in memory:
 *
 *   - a COMMIT in the log: make sure its delivery runs (commit-delivery.ts; the re-drive would too);
 *   - an INTENT (keyed, undecided): settled as a keyed retry would settle it (txn-resolution.ts),
 *     which presumes abort and records the outcome for the key;
 *   - nothing, or ABORTED: presumed abort, Abort delivered to every shard the transaction touched
 *     (the reporting shards and the peers they name; a READ_ONLY voter holds nothing, and an Abort
 *     it never needed only leaves a tombstone). Best effort: a shard that misses it is still listed
 *     next round.
 *
 * Safety: a transaction in memory is this process's own, still deciding or decided; only an ABORTED
 * one is re-sent its Abort. Ids enter memory before their first Prepare, so a transaction absent from
 * memory before the log lookup can never be decided COMMIT by this process afterwards. Aborting a
 * transaction with a COMMIT record, or a live one, is a bug: asserted, and the assertion is not
 * swallowed by the loop. Like txn-resolution.ts, this assumes one live coordinator per coordinator
 * id (as the embedded log implies): two processes sharing an id would abort each other's prepares.
 */
import { AssertionError, assert } from '../common/assert.ts';
import { describeError } from '../common/errors.ts';
import type { InDoubtTxn, ParticipantClient } from '../common/protocol.ts';
import type { DecisionRecord } from './decision-log.ts';
import { callParticipant, pause, settle } from './participant-call.ts';
import type { ProtocolContext } from './protocol-context.ts';
import type { Transaction } from './transaction.ts';

export interface InDoubtSweepDeps {
  readonly ctx: ProtocolContext;
  /** The transaction as this coordinator holds it in memory (deciding, or decided recently). */
  readonly inMemory: (txnId: string) => Transaction | undefined;
  /** Settles a keyed transaction's INTENT that has no outcome (presumed abort, outcome recorded). */
  readonly settleIntent: (record: DecisionRecord) => Promise<unknown>;
  /**
   * Replicas (replicas.ts): the other coordinator ids whose prepares this process settles — those of
   * replicas it took over. Absent: only its own.
   */
  readonly ownsCoordinatorId?: (coordinatorId: string) => boolean;
}

/** What one round saw and did. */
export interface SweepRound {
  /** Participants that did not answer ListInDoubt in time (skipped this round). */
  readonly unreachable: readonly string[];
  /** Transactions of this coordinator past the grace period. */
  readonly due: number;
  readonly aborted: readonly string[];
  readonly redriven: readonly string[];
  /** Live in memory, or already being settled by an earlier round. */
  readonly skipped: readonly string[];
}

interface Orphan {
  readonly txnId: string;
  /** The shards that reported it PREPARED, and the peers they named. */
  readonly shards: Set<string>;
  preparedAtMs: number;
}

type Action = 'aborted' | 'redriven' | 'skipped';

export class InDoubtSweep {
  /** Transactions with an Abort loop or an INTENT settlement started by the sweep and not done. */
  private readonly settling = new Map<string, Promise<void>>();
  private sweeping: Promise<SweepRound> | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly deps: InDoubtSweepDeps) {}

  /** Sweeps now, then every `inDoubtSweepIntervalMs` until the coordinator stops. */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.loop;
  }

  /** One round; concurrent calls share it. Rejects only on a broken invariant (AssertionError). */
  sweep(): Promise<SweepRound> {
    this.sweeping ??= this.round().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async run(): Promise<void> {
    const { ctx } = this.deps;
    do {
      await this.sweep().catch((err: unknown) => {
        if (err instanceof AssertionError) throw err;
        ctx.logger.warn('in-doubt sweep failed; next round retries', { error: describeError(err) });
      });
    } while (await pause(ctx.clock, ctx.config.inDoubtSweepIntervalMs, ctx.stopSignal));
    // Stopping: what is still settling ends at its next wait; let it, before the log is closed.
    await Promise.all([...this.settling.values()]);
  }

  private async round(): Promise<SweepRound> {
    const { ctx } = this.deps;
    const clients = [...ctx.participants];
    const lists = await Promise.all(clients.map(([shard, client]) => this.listInDoubt(shard, client)));
    const unreachable = clients.filter((_, i) => lists[i] === undefined).map(([shard]) => shard);
    const now = ctx.clock.nowMs();
    const found = this.orphans(
      clients.map(([shard]) => shard),
      lists,
    );
    const due = [...found.values()]
      .filter((o) => now - o.preparedAtMs >= ctx.config.inDoubtSweepGraceMs)
      .sort((a, b) => a.preparedAtMs - b.preparedAtMs)
      .slice(0, ctx.config.inDoubtSweepTxnsMax);
    const actions = await Promise.all(due.map((o) => this.settleOrphan(o)));
    const pick = (a: Action) => due.filter((_, i) => actions[i] === a).map((o) => o.txnId);
    const result: SweepRound = {
      unreachable,
      due: due.length,
      aborted: pick('aborted'),
      redriven: pick('redriven'),
      skipped: pick('skipped'),
    };
    if (result.aborted.length + result.redriven.length > 0)
      ctx.logger.info('in-doubt sweep settled orphaned prepares', {
        aborted: result.aborted.length,
        redriven: result.redriven.length,
      });
    return result;
  }

  /** Undefined when the participant cannot answer in time: skipped this round. */
  private async listInDoubt(
    shard: string,
    client: ParticipantClient,
  ): Promise<readonly InDoubtTxn[] | undefined> {
    const { ctx } = this.deps;
    const what = `listInDoubt at ${shard}`;
    const r = await settle(
      callParticipant(ctx.clock, what, ctx.config.rpcTimeoutMs, ctx.stopSignal, (t) => client.listInDoubt(t)),
      what,
    );
    if (r.ok) return r.value;
    ctx.logger.debug('in-doubt sweep: participant skipped this round', { shard, error: r.error.message });
    return undefined;
  }

  /** This coordinator's PREPARED transactions, one entry per transaction over every shard's list. */
  private orphans(
    shards: readonly string[],
    lists: ReadonlyArray<readonly InDoubtTxn[] | undefined>,
  ): Map<string, Orphan> {
    const { ctx } = this.deps;
    const out = new Map<string, Orphan>();
    lists.forEach((list, i) => {
      for (const t of list ?? []) {
        if (t.coordinatorId !== ctx.coordinatorId && this.deps.ownsCoordinatorId?.(t.coordinatorId) !== true)
          continue;
        let o = out.get(t.txnId);
        if (o === undefined) {
          o = { txnId: t.txnId, shards: new Set(), preparedAtMs: t.preparedAtMs };
          out.set(t.txnId, o);
        }
        o.shards.add(shards[i] as string);
        for (const peer of t.peers) o.shards.add(peer.shard);
        o.preparedAtMs = Math.min(o.preparedAtMs, t.preparedAtMs);
      }
    });
    return out;
  }

  private async settleOrphan(o: Orphan): Promise<Action> {
    const { ctx, inMemory } = this.deps;
    if (this.settling.has(o.txnId) || isLive(inMemory(o.txnId))) return 'skipped';
    const record = await ctx.log.get(o.txnId);
    // Not live before the lookup means never live again; but the resolver may have settled it meanwhile.
    const held = inMemory(o.txnId);
    if (isLive(held) || this.settling.has(o.txnId)) return 'skipped';
    if (record?.state === 'COMMITTED') return this.redrive(record);
    if (record?.state === 'INTENT' && held === undefined) {
      this.track(o.txnId, this.deps.settleIntent(record));
      return 'aborted';
    }
    this.presumeAborted(o.txnId, [...o.shards, ...(record?.shards ?? []), ...(held?.shards ?? [])], record);
    return 'aborted';
  }

  private redrive(record: DecisionRecord): Action {
    const { ctx } = this.deps;
    if (record.decisionSeq === 0n) {
      // A one-phase commit never leaves a shard PREPARED: a shard or the log is damaged.
      ctx.logger.error('a shard holds PREPARED a transaction logged as committed in one phase', {
        txnId: record.txnId,
        hint: 'inspect it with `npx twopc recover show`',
      });
      return 'skipped';
    }
    if (ctx.delivery.isDelivering(record.txnId)) return 'skipped';
    void ctx.delivery.drive(record.txnId, record.shards, record.decisionSeq);
    return 'redriven';
  }

  private presumeAborted(
    txnId: string,
    touched: readonly string[],
    record: DecisionRecord | undefined,
  ): void {
    const { ctx, inMemory } = this.deps;
    assert(record?.state !== 'COMMITTED', `in-doubt sweep: abort of ${txnId}, which has a COMMIT record`);
    assert(!isLive(inMemory(txnId)), `in-doubt sweep: abort of ${txnId}, which is live in memory`);
    const shards = [...new Set(touched)].filter((s) => ctx.participants.has(s)).sort();
    const unknown = [...new Set(touched)].filter((s) => !ctx.participants.has(s));
    if (unknown.length > 0)
      ctx.logger.warn('in-doubt transaction names shards this coordinator does not know', { txnId, unknown });
    ctx.logger.info('in-doubt sweep: presumed abort', { txnId, shards, logged: record?.state ?? 'none' });
    this.track(
      txnId,
      ctx.sender.deliver({ txnId, commit: false, decisionSeq: 0n, epoch: ctx.log.epoch }, shards),
    );
  }

  private track(txnId: string, work: Promise<unknown>): void {
    const { ctx } = this.deps;
    const done = work
      .then(
        () => undefined,
        (err: unknown) =>
          ctx.logger.warn('in-doubt sweep: settling failed; next round retries', {
            txnId,
            error: describeError(err),
          }),
      )
      .finally(() => this.settling.delete(txnId));
    this.settling.set(txnId, done);
  }
}

/** In memory and not decided ABORTED: deciding now, or committed (its delivery is the normal path's). */
function isLive(txn: Transaction | undefined): boolean {
  return txn !== undefined && txn.outcome?.outcome !== 'ABORTED';
}
