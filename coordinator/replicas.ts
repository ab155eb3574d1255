/**
 * Coordinator replicas sharing one decision log (Redis; docs/redis.md, "Several coordinators"). Each
 * replica holds a lease in the log, renewed every `leaseRenewMs`, expiring `leaseTtlMs` after the last
 * renewal. Every `leaseRenewMs` a replica also looks for replicas whose lease expired and claims them
 * (replica-registry.ts: atomic, one claimer wins). A claim:
 *
 *   1. fences the dead replica's epoch: from then on every log write it attempts is refused, in the
 *      same Lua script that would write (decision-log/redis-scripts.ts), so a replica that was only
 *      paused (SIGSTOP, a long GC, a partition from Redis) can never log a decision again;
 *   2. moves its unfinished COMMITs and open INTENTs to the claimer ("adopt"), which re-drives the
 *      COMMITs and settles the INTENTs (presumed abort), and takes over its coordinator ids, so the
 *      in-doubt sweep aborts its prepares that never reached the log (in-doubt-sweep.ts);
 *   3. the claim takes a fresh epoch (INCR of the log's counter) that the claimer's messages carry
 *      from then on, higher than any the dead replica used; a participant records the highest epoch
 *      that decided each transaction and refuses a decision with a lower one
 *      (participant/epoch-fence.ts), so a late message of the old owner changes nothing the new
 *      owner decided.
 *
 * A replica that learns it was claimed (a renewal answers "not registered", or a log write is refused
 * as fenced) stops at once: `onLost` is called once, and the process exits (coordinator-server.ts).
 * Safety does not depend on clocks: the claim and the fence are atomic in Redis, and the leases only
 * decide how soon a takeover happens. A replica that cannot reach Redis keeps its lease until it
 * expires; it cannot write decisions meanwhile anyway.
 */
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { ReplicaRegistry } from './replica-registry.ts';

/** 5 s: a replica dead for this long is taken over. Long enough to ride out a short Redis failover. */
export const leaseTtlMsDefault = 5_000;
/** 1 s: five renewals per lease, so a few slow round trips never lose it. */
export const leaseRenewMsDefault = 1_000;
/** Bounds of the flags: below 100 ms a busy event loop could miss its own lease. */
export const leaseTtlMsMin = 100;
export const leaseTtlMsMax = 600_000;
export const leaseRenewMsMin = 20;

export interface LeaseConfig {
  readonly leaseTtlMs: number;
  readonly leaseRenewMs: number;
}

/** Checks that a renewal interval leaves room for at least two renewals per lease. */
export function checkLeaseConfig(c: LeaseConfig): string | undefined {
  if (c.leaseRenewMs * 2 > c.leaseTtlMs)
    return `--lease-renew-ms ${c.leaseRenewMs} must be at most half of --lease-ttl-ms ${c.leaseTtlMs}`;
  return undefined;
}

export interface ReplicaDeps {
  readonly registry: ReplicaRegistry;
  readonly coordinatorId: string;
  readonly address: string;
  readonly config: LeaseConfig;
  readonly logger: Logger;
  /** Records moved to this replica: re-drive the COMMITs, settle the INTENTs, sweep the prepares. */
  readonly onAdopted: (txnIds: readonly string[]) => Promise<void>;
  /** This replica was taken over: stop. Called at most once. */
  readonly onLost: (why: string) => void;
}

export class ReplicaLease {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private owned = new Set<string>();
  private lost = false;
  private stopped = false;
  /** A claim succeeded but its adoption has not (yet): retried every round until it does. */
  private adoptPending = false;
  private lastRenewedMs = 0;

  constructor(private readonly deps: ReplicaDeps) {}

  /** Registers, adopts whatever fenced replicas left behind, then renews and watches on a timer. */
  async start(): Promise<void> {
    const { registry, config } = this.deps;
    await registry.register(this.deps.coordinatorId, this.deps.address, config.leaseTtlMs);
    this.lastRenewedMs = Date.now();
    await this.adopt();
    this.timer = setInterval(() => {
      this.round ??= this.tick().finally(() => (this.round = undefined));
    }, config.leaseRenewMs);
    this.timer.unref();
  }

  /** The coordinator ids whose in-doubt prepares this replica settles (its own and adopted ones). */
  ownsCoordinatorId(coordinatorId: string): boolean {
    return this.owned.has(coordinatorId);
  }

  /** The process learnt it was fenced some other way (a refused log write). */
  fenced(why: string): void {
    this.lose(why);
  }

  /** Stops renewing and gives the lease up, so another replica takes over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.round;
    if (!this.lost) {
      await this.deps.registry
        .resign()
        .catch((err: unknown) =>
          this.deps.logger.warn('giving up the lease failed', { error: describeError(err) }),
        );
    }
  }

  private async tick(): Promise<void> {
    const { registry, config, logger } = this.deps;
    if (this.stopped || this.lost) return;
    try {
      if (!(await registry.renew(config.leaseTtlMs))) {
        this.lose('another replica took this one over (its lease had expired)');
        return;
      }
      this.lastRenewedMs = Date.now();
    } catch (err) {
      logger.warn('lease renewal failed', {
        error: describeError(err),
        sinceRenewedMs: Date.now() - this.lastRenewedMs,
      });
      return;
    }
    try {
      await this.claimExpired();
    } catch (err) {
      logger.warn('takeover round failed; the next round retries', { error: describeError(err) });
    }
  }

  private async claimExpired(): Promise<void> {
    const { registry, logger } = this.deps;
    let claimed = false;
    for (const r of await registry.replicas()) {
      if (r.alive || this.stopped || this.lost) continue;
      if (!(await registry.claim(r.epoch))) continue;
      claimed = true;
      logger.warn('took over a coordinator replica whose lease expired', {
        epoch: r.epoch,
        coordinatorId: r.coordinatorId,
        address: r.address,
      });
    }
    if (claimed || this.adoptPending) await this.adopt();
  }

  private async adopt(): Promise<void> {
    const { registry, logger } = this.deps;
    this.adoptPending = true;
    const moved = await registry.adoptOrphans();
    this.owned = new Set([this.deps.coordinatorId, ...(await registry.ownedCoordinatorIds())]);
    if (moved.length > 0) logger.info('adopted transactions of fenced replicas', { count: moved.length });
    await this.deps.onAdopted(moved);
    this.adoptPending = false;
  }

  private lose(why: string): void {
    if (this.lost) return;
    this.lost = true;
    clearInterval(this.timer);
    this.deps.onLost(why);
  }
}
