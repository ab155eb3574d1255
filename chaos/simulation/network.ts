/**
 * The simulated network between node incarnations. Every message takes a seeded one-way delay (so
 * messages overtake each other: reordering), and may be dropped or duplicated; a blocked link
 * (partition) drops everything on it, one way or both. A message is delivered to the incarnation it
 * was sent to, and dropped if that one has crashed meanwhile; a dead incarnation sends nothing.
 *
 * `call` is a request/response over two such messages, with the caller's deadline in virtual time.
 * A node that is down (and not behind a partition) refuses the connection: the caller learns it
 * after one round trip, with a ConnectionRefusedError, which proves the request was never delivered.
 */
import { TwopcError, describeError } from '../../common/errors.ts';
import type { Random } from '../../common/random.ts';
import type { Incarnation } from './incarnation.ts';
import type { NodeClock } from './node-clock.ts';
import type { Scheduler } from './scheduler.ts';

/** How a link treats messages. Delays are one way, in microseconds. */
export interface LinkCondition {
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayUsMin: number;
  readonly delayUsMax: number;
  /** Share of messages that take a long detour (`slowUsMax`), so late messages overtake nothing. */
  readonly slowRate: number;
  readonly slowUsMax: number;
}

/** A healthy LAN: 50 µs to 1.5 ms, one message in fifty delayed up to 50 ms, one in a hundred doubled. */
export const HEALTHY_LINK: LinkCondition = Object.freeze({
  dropRate: 0,
  duplicateRate: 0.01,
  delayUsMin: 50,
  delayUsMax: 1_500,
  slowRate: 0.02,
  slowUsMax: 50_000,
});

export interface NetworkStats {
  sent: number;
  dropped: number;
  duplicated: number;
  refused: number;
}

/** The request was never delivered: its target was down. */
export class ConnectionRefusedError extends TwopcError {
  constructor(what: string) {
    super('UNAVAILABLE', `${what}: connection refused`);
  }
}

export class SimNetwork {
  readonly stats: NetworkStats = { sent: 0, dropped: 0, duplicated: 0, refused: 0 };
  /**
   * Errors other than TwopcError that a handler threw (an AssertionError, a TypeError): bugs by the
   * code base's own rule (expected failures are TwopcErrors). The caller sees INTERNAL, which a client
   * would record as an unknown outcome, so they are kept here for the run's verdict.
   */
  readonly bugs: string[] = [];
  private readonly nodes = new Map<string, () => Incarnation | undefined>();
  private readonly blocked = new Set<string>();
  private readonly degraded = new Map<string, LinkCondition>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly healthy: LinkCondition = HEALTHY_LINK,
  ) {}

  /** `current` answers the node's live incarnation, or undefined while it is down. */
  register(node: string, current: () => Incarnation | undefined): void {
    this.nodes.set(node, current);
  }

  block(from: string, to: string): void {
    this.blocked.add(linkKey(from, to));
  }

  degrade(from: string, to: string, condition: LinkCondition): void {
    this.degraded.set(linkKey(from, to), condition);
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(linkKey(from, to));
  }

  restore(from: string, to: string): void {
    this.degraded.delete(linkKey(from, to));
  }

  /** Every link healthy again: partitions and degradations lifted. */
  healAll(): void {
    this.blocked.clear();
    this.degraded.clear();
  }

  /** One message: `deliver` runs at `to` after a seeded delay, possibly twice, possibly never. */
  send(from: Incarnation, to: Incarnation, deliver: () => void): void {
    if (!from.alive) return;
    this.stats.sent++;
    const key = linkKey(from.node, to.node);
    const link = this.degraded.get(key) ?? this.healthy;
    if (this.blocked.has(key) || this.random.next() < link.dropRate) {
      this.stats.dropped++;
      return;
    }
    const copies = this.random.next() < link.duplicateRate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) this.scheduler.after(this.delayUs(link), to, deliver);
  }

  /**
   * A request to node `to`, answered by `handle` there (which may be async). Rejects with
   * DEADLINE_EXCEEDED after `timeoutMs` of the caller's virtual time, with ConnectionRefusedError if
   * `to` is down, or with the error `handle` threw (a TwopcError travels as itself).
   */
  call<T>(
    caller: NodeClock,
    to: string,
    what: string,
    timeoutMs: number,
    handle: (target: Incarnation) => T | Promise<T>,
  ): Promise<T> {
    const from = caller.incarnation;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        this.scheduler.cancel(deadline);
        settle();
      };
      // A plain event rather than caller.sleep with an AbortSignal: same semantics, a fraction of the cost.
      const deadline = this.scheduler.after(timeoutMs * 1000, from, () =>
        finish(() =>
          reject(new TwopcError('DEADLINE_EXCEEDED', `${what}: no answer within ${timeoutMs} ms`)),
        ),
      );
      const target = this.nodes.get(to)?.();
      if (target === undefined) {
        if (this.blocked.has(linkKey(from.node, to)) || !from.alive) return;
        this.stats.refused++;
        const roundTripUs = 2 * this.delayUs(this.healthy);
        this.scheduler.after(roundTripUs, from, () => finish(() => reject(new ConnectionRefusedError(what))));
        return;
      }
      this.send(from, target, () => {
        let answer: Promise<T>;
        try {
          answer = Promise.resolve(handle(target));
        } catch (err) {
          answer = Promise.reject(err);
        }
        answer.then(
          (value) => this.send(target, from, () => finish(() => resolve(value))),
          (err: unknown) => {
            if (!(err instanceof TwopcError))
              this.bugs.push(`${what} at ${target.label}: ${describeError(err)}`);
            this.send(target, from, () => finish(() => reject(asTwopcError(err, what))));
          },
        );
      });
    });
  }

  private delayUs(link: LinkCondition): number {
    const r = this.random.next();
    if (r < link.slowRate) return link.delayUsMax + (r / link.slowRate) * (link.slowUsMax - link.delayUsMax);
    return link.delayUsMin + this.random.next() * (link.delayUsMax - link.delayUsMin);
  }
}

function linkKey(from: string, to: string): string {
  return `${from}>${to}`;
}

/** What a remote failure looks like to the caller: a TwopcError; anything else is a bug there. */
function asTwopcError(err: unknown, what: string): TwopcError {
  if (err instanceof TwopcError) return err;
  return new TwopcError('INTERNAL', `${what}: ${describeError(err)}`, { cause: err });
}
