/**
 * Downloading a restore's segments ahead of the one being applied, so the store's latency is hidden
 * behind the work, with a bound on how many are held.
 */
import { assert } from '../../common/assert.ts';
import { TwopcError } from '../../common/errors.ts';
import type { SegmentRef } from '../replica/layout.ts';
import type { Segment, ShardReplica } from '../replica/shard-replica.ts';
import type { RestorePlan } from './restore-plan.ts';

/** Objects downloaded ahead of the one being applied: hides the store's latency, bounds memory. */
export const RESTORE_PREFETCH_OBJECTS = 8;

/** Downloads segments in plan order, up to RESTORE_PREFETCH_OBJECTS ahead of the consumer. */
export class Prefetcher {
  private readonly refs: SegmentRef[];
  private readonly inflight: Promise<Segment>[] = [];
  private started = 0;
  private consumed = 0;
  private readonly replica: ShardReplica;
  private readonly signal: AbortSignal | undefined;

  constructor(replica: ShardReplica, plan: RestorePlan, signal?: AbortSignal) {
    this.replica = replica;
    this.signal = signal;
    this.refs = plan.incarnations.flatMap((i) => [...i.segments]);
  }

  async next(ref: SegmentRef): Promise<Segment> {
    assert(this.refs[this.consumed] === ref, 'segments are consumed in plan order');
    while (this.started < this.refs.length && this.started < this.consumed + RESTORE_PREFETCH_OBJECTS) {
      const r = this.refs[this.started++] as SegmentRef;
      const p = this.replica.getSegment(r, this.signal).then((s) => s ?? Promise.reject(gone(r.key)));
      p.catch(() => {}); // observed when consumed; an early failure must not be an unhandled rejection
      this.inflight.push(p);
    }
    this.consumed++;
    return (await this.inflight.shift()) as Segment;
  }
}

export function gone(key: string): TwopcError {
  return new TwopcError(
    'FAILED_PRECONDITION',
    `replica object ${key} was listed but cannot be read: segment missing`,
    {
      hint: "is retention or another process deleting objects? run 'npx twopc shard replica verify'",
    },
  );
}
