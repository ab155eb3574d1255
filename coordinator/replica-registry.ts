/**
 * What coordinator replicas sharing one decision log need from it (replicas.ts drives it; the Redis
 * log implements it in decision-log/redis-lease.ts; the SQLite log has none: one coordinator per
 * file). Every replica has an epoch (the log's, unique per start) and a lease that expires unless
 * renewed. A replica whose lease expired can be claimed by any other: the claim is atomic (exactly one
 * claimer wins), fences the dead epoch (every later log write of it is refused) and hands its
 * coordinator ids, and the transactions it owned, to the claimer.
 */
import { TwopcError } from '../common/errors.ts';

export interface ReplicaInfo {
  readonly epoch: bigint;
  readonly coordinatorId: string;
  /** The replica's Transactions API address, for operators and participants' lists. */
  readonly address: string;
  /** Its lease has not expired. */
  readonly alive: boolean;
}

export interface ReplicaRegistry {
  /** Registers this replica (the log's epoch) and takes its lease. Forced. */
  register(coordinatorId: string, address: string, leaseTtlMs: number): Promise<void>;
  /** Extends the lease. False: this replica was claimed by another and must stop. */
  renew(leaseTtlMs: number): Promise<boolean>;
  /** Every registered replica (this one included). */
  replicas(): Promise<readonly ReplicaInfo[]>;
  /**
   * Claims a replica whose lease expired. False: it is alive, or another replica claimed it. Forced.
   * A claim also takes a fresh epoch for this replica's messages (the log's `epoch` rises to it), so
   * that its decisions about adopted transactions outrank the dead owner's at the participants.
   */
  claim(deadEpoch: bigint): Promise<boolean>;
  /**
   * In every slot group: fences every claimed epoch and moves the unfinished COMMITs and open INTENTs
   * they own to this replica. Idempotent; resolves with the moved txn ids. Forced.
   */
  adoptOrphans(): Promise<readonly string[]>;
  /** The coordinator ids (in prepares) whose in-doubt transactions this replica settles. */
  ownedCoordinatorIds(): Promise<readonly string[]>;
  /** Gives up the lease at a clean stop, so another replica takes over at once. */
  resign(): Promise<void>;
}

/** A log write refused because this replica was taken over (or the record belongs to another). */
export class FencedError extends TwopcError {
  override name = 'FencedError';
  constructor(detail: string) {
    super('FAILED_PRECONDITION', `fenced: ${detail}`, {
      hint: 'another coordinator replica took over this one; it must stop',
    });
  }
}
