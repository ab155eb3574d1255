/**
 * Phase one: Prepare messages and votes. `collectVotes` sends every Prepare in parallel and resolves
 * as soon as the answer is known: at the first refusal (a NO, a timeout, an unreachable shard; the
 * others need not be waited for, and aborting early frees their locks sooner), when the transaction
 * is aborted from outside, or when every vote is in.
 */
import type { PrepareMessage, Vote, AbortReason } from '../common/protocol.ts';
import type { TwopcError } from '../common/errors.ts';
import type { TxnPlan } from './op-validation.ts';
import { participantFor, type ProtocolContext } from './protocol-context.ts';
import { callParticipant, settle, type Settled } from './participant-call.ts';
import type { Transaction } from './transaction.ts';

export interface Refusal {
  readonly shard: string;
  readonly abortReason: AbortReason;
  readonly reason: string;
  readonly invalid: boolean;
}

export type VoteTally =
  | { readonly kind: 'yes'; readonly yes: readonly string[]; readonly readOnly: readonly string[] }
  | { readonly kind: 'refused'; readonly refusal: Refusal }
  | { readonly kind: 'aborted' };

export function prepareMessage(
  ctx: ProtocolContext,
  txn: Transaction,
  plan: TxnPlan,
  shard: string,
  onePhase: boolean,
): PrepareMessage {
  const work = plan.work.get(shard);
  return {
    txnId: txn.id,
    ops: work?.ops ?? [],
    reads: work?.reads ?? [],
    onePhase,
    readOnlyOk: !plan.writes,
    peers: plan.shards
      .filter((s) => s !== shard)
      .map((s) => ({ shard: s, address: participantFor(ctx, s).address })),
    coordinatorId: ctx.coordinatorId,
    epoch: ctx.log.epoch,
    deadlineMs: txn.deadlineMs,
  };
}

/** How long phase one may take: the prepare timeout, cut short by the transaction's deadline. */
export function prepareTimeoutMs(ctx: ProtocolContext, txn: Transaction): number {
  return Math.min(ctx.config.prepareTimeoutMs, txn.deadlineMs - ctx.clock.nowMs());
}

/** A failed call as a refusal: a timeout is TIMEOUT, a malformed request INVALID, the rest UNAVAILABLE. */
export function refusalFromError(shard: string, error: TwopcError, timeoutMs: number): Refusal {
  switch (error.code) {
    case 'DEADLINE_EXCEEDED':
      return {
        shard,
        abortReason: 'TIMEOUT',
        reason: `shard ${shard} did not vote within ${timeoutMs} ms`,
        invalid: false,
      };
    case 'INVALID_ARGUMENT':
      return { shard, abortReason: 'CONSTRAINT', reason: `shard ${shard}: ${error.message}`, invalid: true };
    default:
      return {
        shard,
        abortReason: 'UNAVAILABLE',
        reason: `shard ${shard} unreachable: ${error.message}`,
        invalid: false,
      };
  }
}

export function refusalFromVote(shard: string, vote: Vote & { vote: 'NO' }): Refusal {
  return {
    shard,
    abortReason: vote.reasonCode,
    reason: vote.reason || `shard ${shard} voted NO`,
    invalid: vote.invalid,
  };
}

export function sendPrepare(
  ctx: ProtocolContext,
  message: PrepareMessage,
  shard: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Settled<Vote>> {
  const what = `Prepare ${message.txnId} to ${shard}`;
  const client = participantFor(ctx, shard);
  return settle(
    callParticipant(ctx.clock, what, timeoutMs, signal, (t) => client.prepare(message, t)),
    what,
  );
}

export function collectVotes(
  ctx: ProtocolContext,
  txn: Transaction,
  plan: TxnPlan,
  timeoutMs: number,
): Promise<VoteTally> {
  return new Promise<VoteTally>((resolve) => {
    const yes: string[] = [];
    const readOnly: string[] = [];
    let pending = plan.shards.length;
    const onAbort = () => resolve({ kind: 'aborted' });
    txn.abortSignal.addEventListener('abort', onAbort, { once: true });
    const done = (tally: VoteTally) => {
      txn.abortSignal.removeEventListener('abort', onAbort);
      resolve(tally);
    };
    for (const shard of plan.shards) {
      const message = prepareMessage(ctx, txn, plan, shard, false);
      void sendPrepare(ctx, message, shard, timeoutMs, txn.abortSignal).then((settled) => {
        if (!settled.ok)
          return done({ kind: 'refused', refusal: refusalFromError(shard, settled.error, timeoutMs) });
        const vote = settled.value;
        if (vote.vote === 'NO') return done({ kind: 'refused', refusal: refusalFromVote(shard, vote) });
        const violation = checkVote(vote, txn, plan, shard);
        if (violation !== undefined) {
          ctx.metrics.protocolViolations++;
          ctx.logger.error('participant broke the protocol in its vote', { txnId: txn.id, shard, violation });
          return done({
            kind: 'refused',
            refusal: { shard, abortReason: 'UNAVAILABLE', reason: violation, invalid: false },
          });
        }
        if (vote.vote === 'COMMITTED_ONE_PHASE') {
          // It committed alone, which it must not: committing the others is the only way left to
          // keep the transaction atomic, and a Commit to it is acknowledged idempotently.
          ctx.metrics.protocolViolations++;
          ctx.logger.error('participant committed in one phase during two-phase commit', {
            txnId: txn.id,
            shard,
          });
        }
        (vote.vote === 'READ_ONLY' ? readOnly : yes).push(shard);
        if (--pending === 0) done({ kind: 'yes', yes: yes.sort(), readOnly: readOnly.sort() });
      });
    }
  });
}

/** A vote that makes no sense for this prepare (a bug or a misrouted answer at the participant). */
function checkVote(vote: Vote, txn: Transaction, plan: TxnPlan, shard: string): string | undefined {
  if (vote.txnId !== txn.id) return `shard ${shard} answered for ${vote.txnId}`;
  if (vote.vote === 'READ_ONLY' && plan.writes)
    return `shard ${shard} voted READ_ONLY, but the transaction writes`;
  return undefined;
}
