/**
 * Shape checks on a PrepareMessage's envelope (everything but the ops and reads, which validate.ts
 * checks against the schema). The gRPC layer decodes messages; these checks keep a malformed one
 * from reaching SQLite as a RangeError or a NaN.
 */
import type { Peer, PrepareMessage } from '../common/protocol.ts';
import { INT64_MAX } from '../common/value.ts';
import {
  coordinatorIdBytesMax,
  opsPerTxnMax,
  peersPerTxnMax,
  readsPerTxnMax,
  txnIdBytesMax,
} from './config.ts';
import { invalidInput, type Refusal } from './refusal.ts';
import type { PreparedFields } from './txn-records.ts';

/** The envelope fields stored with the transaction, before its writes and locks are counted. */
export type Envelope = Omit<PreparedFields, 'pendingCount' | 'lockCount'>;

/** A txn id twopc can key records by; anything else cannot even be answered for durably. */
export function checkTxnId(txnId: unknown): string | undefined {
  if (typeof txnId !== 'string' || txnId === '') return 'txn id missing';
  if (Buffer.byteLength(txnId) > txnIdBytesMax) return `txn id longer than ${txnIdBytesMax} bytes`;
  return undefined;
}

/** The envelope, or the refusal for a malformed one (stored with harmless defaults). */
export function checkEnvelope(m: PrepareMessage): Envelope | Refusal {
  const problem = envelopeProblem(m);
  if (problem !== undefined) return invalidInput(`prepare ${m.txnId}: ${problem}`);
  if (!Array.isArray(m.peers) || !m.peers.every(isPeer))
    return invalidInput(`prepare ${m.txnId}: peers must be {shard, address} pairs`);
  if (m.peers.length > peersPerTxnMax)
    return invalidInput(`prepare ${m.txnId}: more than ${peersPerTxnMax} peers`);
  return {
    txnId: m.txnId,
    coordinatorId: m.coordinatorId,
    epoch: m.epoch,
    peers: m.peers.map((p) => ({ shard: p.shard, address: p.address })),
  };
}

/** Defaults stored with a refused envelope: the record must still be writable. */
export function fallbackEnvelope(txnId: string): Envelope {
  return { txnId, coordinatorId: '', epoch: 0n, peers: [] };
}

function envelopeProblem(m: PrepareMessage): string | undefined {
  if (typeof m.coordinatorId !== 'string') return 'coordinator id missing';
  if (Buffer.byteLength(m.coordinatorId) > coordinatorIdBytesMax)
    return `coordinator id longer than ${coordinatorIdBytesMax} bytes`;
  if (typeof m.epoch !== 'bigint' || m.epoch < 0n || m.epoch > INT64_MAX)
    return 'epoch must be an integer in [0, 2^63)';
  if (typeof m.deadlineMs !== 'number' || !Number.isFinite(m.deadlineMs)) return 'deadline missing';
  if (typeof m.onePhase !== 'boolean' || typeof m.readOnlyOk !== 'boolean')
    return 'one_phase and read_only_ok must be booleans';
  if (!Array.isArray(m.ops) || !Array.isArray(m.reads)) return 'ops and reads must be lists';
  if (m.ops.length > opsPerTxnMax)
    return `${m.ops.length} ops; at most ${opsPerTxnMax} per transaction per shard`;
  if (m.reads.length > readsPerTxnMax)
    return `${m.reads.length} reads; at most ${readsPerTxnMax} per transaction per shard`;
  return undefined;
}

function isPeer(p: unknown): p is Peer {
  const peer = p as Partial<Peer> | null;
  return (
    peer !== null &&
    typeof peer === 'object' &&
    typeof peer.shard === 'string' &&
    typeof peer.address === 'string'
  );
}
