/**
 * Decision records as Redis hashes, and heuristic records as JSON list entries. Every record read back
 * is verified (verifyDecisionRecord): a hash that fails is corruption or a bug and stops the caller
 * with an AssertionError, as the SQLite backend does.
 *
 * Hash fields (all strings): state, shards (JSON list), ro (read-only shards, JSON list), key ('' =
 * none), seq (decimal, '0' = none), ar (abort reason, '' = none), reason, invalid ('0'/'1'),
 * started, decided, ended (wall-clock ms, '0' = not yet), owner (the epoch of the replica that owns
 * the transaction; absent on heuristic records and records written before replicas existed).
 */
import { assert } from '../../common/assert.ts';
import { ABORT_REASONS, type AbortReason } from '../../common/protocol.ts';
import {
  LOG_STATES,
  verifyDecisionRecord,
  type DecisionRecord,
  type HeuristicRecord,
  type LogState,
} from '../decision-log.ts';

/** Seqs and times are sorted-set scores (doubles): they must stay exact. */
export const scoreMax = Number.MAX_SAFE_INTEGER;

function shardList(text: string | undefined, where: string): string[] {
  assert(text !== undefined, `${where}: missing shards`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  assert(
    Array.isArray(parsed) && parsed.every((s) => typeof s === 'string'),
    `${where}: shards are not a list of names`,
  );
  return parsed as string[];
}

function msField(fields: Record<string, string>, name: string, where: string): number {
  const value = Number(fields[name]);
  assert(Number.isSafeInteger(value) && value >= 0, `${where}: bad ${name} ${String(fields[name])}`);
  return value;
}

/** HGETALL reply -> record; undefined for a missing hash (HGETALL of a missing key is `{}`). */
export function recordFromHash(txnId: string, fields: Record<string, string>): DecisionRecord | undefined {
  if (Object.keys(fields).length === 0) return undefined;
  const where = `decision log record ${txnId}`;
  const state = fields.state;
  assert(state !== undefined && (LOG_STATES as readonly string[]).includes(state), `${where}: bad state`);
  const ar = fields.ar ?? '';
  assert(ar === '' || (ABORT_REASONS as readonly string[]).includes(ar), `${where}: bad abort reason`);
  const seqText = fields.seq ?? '';
  assert(/^[0-9]+$/.test(seqText), `${where}: bad seq`);
  const record: DecisionRecord = {
    txnId,
    state: state as LogState,
    shards: shardList(fields.shards, where),
    readOnlyShards: shardList(fields.ro, where),
    idempotencyKey: fields.key ?? '',
    decisionSeq: BigInt(seqText),
    ...(ar === '' ? {} : { abortReason: ar as AbortReason }),
    reason: fields.reason ?? '',
    invalid: fields.invalid === '1',
    startedAtMs: msField(fields, 'started', where),
    decidedAtMs: msField(fields, 'decided', where),
    endedAtMs: msField(fields, 'ended', where),
    ...(fields.owner === undefined || fields.owner === ''
      ? {}
      : { ownerEpoch: ownerField(fields.owner, where) }),
  };
  return verifyDecisionRecord(record);
}

function ownerField(text: string, where: string): bigint {
  assert(/^[0-9]+$/.test(text), `${where}: bad owner ${text}`);
  return BigInt(text);
}

/** A heuristic record as stored in the per-transaction and per-group lists. */
export function heuristicJson(r: HeuristicRecord): string {
  assert(Number.isSafeInteger(r.atMs) && r.atMs >= 0, `heuristic record ${r.txnId}: bad time`);
  return JSON.stringify({
    txnId: r.txnId,
    outcome: r.outcome,
    operator: r.operator,
    note: r.note,
    atMs: r.atMs,
  });
}

export function heuristicFromJson(text: string): HeuristicRecord {
  let parsed: Partial<Record<keyof HeuristicRecord, unknown>> | undefined;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  assert(
    parsed !== undefined &&
      typeof parsed.txnId === 'string' &&
      (parsed.outcome === 'COMMITTED' || parsed.outcome === 'ABORTED') &&
      typeof parsed.operator === 'string' &&
      typeof parsed.note === 'string' &&
      typeof parsed.atMs === 'number',
    `heuristic record is malformed: ${text.slice(0, 100)}`,
  );
  return {
    txnId: parsed.txnId,
    outcome: parsed.outcome,
    operator: parsed.operator,
    note: parsed.note,
    atMs: parsed.atMs,
  };
}

/** A seq from Redis (INCRBY reply or a script's string) as a bigint, checked. */
export function seqFromReply(value: unknown, what: string): bigint {
  const text = typeof value === 'number' ? String(value) : value;
  assert(typeof text === 'string' && /^[0-9]+$/.test(text), `${what}: bad seq reply ${String(value)}`);
  const seq = BigInt(text);
  assert(seq > 0n && seq <= BigInt(scoreMax), `${what}: seq ${seq} out of range`);
  return seq;
}
