/**
 * Each DecisionLog write of the Redis backend as a RedisWrite for the batch (redis-batch.ts): its
 * script call (redis-scripts.ts), whether it is forced and needs a decisionSeq, which idempotency key
 * it claims afterwards, and what it resolves with. Every write's record is verified before it is
 * sent (verifyDecisionRecord), as SQLite verifies rows before inserting them. `epoch` is the writer's
 * fencing epoch as the scripts check it ('' for an operator's tool: unchecked, see redis-scripts.ts).
 */
import { assert } from '../../common/assert.ts';
import {
  verifyDecisionRecord,
  type CommitRecord,
  type DecisionRecord,
  type HeuristicDecision,
  type HeuristicRecord,
  type IntentRecord,
  type OutcomeRecord,
} from '../decision-log.ts';
import type { RedisWrite } from './redis-batch.ts';
import { heuristicJson, seqFromReply } from './redis-records.ts';

/** A record with only the fields every check needs, for verifying a write before it is sent. */
function blank(txnId: string, shards: readonly string[], startedAtMs: number): DecisionRecord {
  return {
    txnId,
    state: 'INTENT',
    shards,
    readOnlyShards: [],
    idempotencyKey: '',
    decisionSeq: 0n,
    reason: '',
    invalid: false,
    startedAtMs,
    decidedAtMs: 0,
    endedAtMs: 0,
  };
}

/** Forced; resolves with the key's owner. */
export function intentWrite(r: IntentRecord, epoch: string): RedisWrite {
  assert(r.idempotencyKey !== '', 'logIntent needs a key');
  verifyDecisionRecord({
    ...blank(r.txnId, r.shards, r.atMs),
    state: 'INTENT',
    idempotencyKey: r.idempotencyKey,
  });
  return {
    txnId: r.txnId,
    forced: true,
    needsSeq: false,
    record: (p, keys) =>
      p.twopcIntent(keys.length, ...keys, r.txnId, r.idempotencyKey, JSON.stringify(r.shards), r.atMs, epoch),
    claimAfter: () => r.idempotencyKey,
    dropIfClaimLost: true,
    result: (_reply, _seq, owner) => owner,
  };
}

/** Forced, with a seq; resolves with the first COMMIT's seq. */
export function commitWrite(r: CommitRecord, epoch: string): RedisWrite {
  verifyDecisionRecord({
    ...blank(r.txnId, r.shards, r.startedAtMs),
    state: 'COMMITTED',
    readOnlyShards: r.readOnlyShards,
    decisionSeq: 1n,
    decidedAtMs: r.atMs,
  });
  return {
    txnId: r.txnId,
    forced: true,
    needsSeq: true,
    record: (p, keys, seq) =>
      p.twopcCommit(
        keys.length,
        ...keys,
        r.txnId,
        JSON.stringify(r.shards),
        JSON.stringify(r.readOnlyShards),
        r.idempotencyKey,
        r.startedAtMs,
        r.atMs,
        seq.toString(),
        epoch,
      ),
    claimAfter: (reply) => String((reply as unknown[])[1] ?? ''),
    result: (reply) => seqFromReply((reply as unknown[])[0], `COMMIT ${r.txnId}`),
  };
}

/** Lazy. */
export function outcomeWrite(r: OutcomeRecord, epoch: string): RedisWrite {
  const abortReason = r.outcome === 'ABORTED' ? (r.abortReason ?? 'UNAVAILABLE') : undefined;
  verifyDecisionRecord({
    ...blank(r.txnId, r.shards, r.startedAtMs),
    state: r.outcome,
    ...(abortReason === undefined ? {} : { abortReason }),
    decidedAtMs: r.atMs,
    endedAtMs: r.outcome === 'COMMITTED' ? r.atMs : 0,
  });
  return {
    txnId: r.txnId,
    forced: false,
    needsSeq: false,
    record: (p, keys) =>
      p.twopcOutcome(
        keys.length,
        ...keys,
        r.txnId,
        r.outcome,
        JSON.stringify(r.shards),
        r.idempotencyKey,
        abortReason ?? '',
        r.reason,
        r.invalid ? '1' : '0',
        r.startedAtMs,
        r.atMs,
        epoch,
      ),
    claimAfter: (reply) => String(reply ?? ''),
    result: () => undefined,
  };
}

/** Lazy. */
export function endWrite(txnId: string, atMs: number, epoch: string): RedisWrite {
  assert(atMs > 0, 'logEnd needs a time');
  return {
    txnId,
    forced: false,
    needsSeq: false,
    record: (p, keys) => p.twopcEnd(keys.length, ...keys, txnId, atMs, epoch),
    result: () => undefined,
  };
}

/** Forced: the audit record only. */
export function heuristicWrite(r: HeuristicRecord): RedisWrite {
  assert(r.txnId !== '' && r.operator !== '', 'heuristic record needs a txn id and an operator');
  const json = heuristicJson(r);
  return {
    txnId: r.txnId,
    forced: true,
    needsSeq: false,
    record: (p, keys) => p.twopcHeuristic(keys.length, ...keys, json),
    result: () => undefined,
  };
}

/** Forced; resolves with the decision's seq (0n for an abort), or undefined when refused. */
export function heuristicDecisionWrite(r: HeuristicDecision): RedisWrite {
  assert(
    r.txnId !== '' && r.operator !== '' && r.shards.length > 0,
    'heuristic decision needs a txn id, an operator and shards',
  );
  const json = heuristicJson(r);
  const reason = `heuristic abort by ${r.operator}: ${r.note}`;
  return {
    txnId: r.txnId,
    forced: true,
    needsSeq: r.outcome === 'COMMITTED',
    record: (p, keys, seq) =>
      p.twopcHeuristicDecision(
        keys.length,
        ...keys,
        r.txnId,
        json,
        r.outcome,
        JSON.stringify(r.shards),
        r.startedAtMs,
        r.atMs,
        seq.toString(),
        reason,
      ),
    result: (reply, seq) => (reply === 1 ? seq : undefined),
  };
}
