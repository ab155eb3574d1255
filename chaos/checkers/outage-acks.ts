/**
 * While the decision log is down, no transaction that needs a forced decision can be told COMMITTED:
 * its COMMIT record cannot be written. The checker gets the windows in which the log was certainly
 * unreachable (from the moment the outage was in place until its heal began) and every transaction
 * told COMMITTED with the times of that invocation; valid iff no transaction writing on two or more
 * shards (so: never a one-phase commit) was invoked and answered COMMITTED entirely inside a window.
 *
 * It catches what the durability checker may miss: a coordinator that answers before forcing, and whose
 * late write happens to land once the log is back.
 */
import type { CommitRecord } from './durability.ts';
import { ANOMALIES_PER_TYPE_MAX_DEFAULT, AnomalyCollector, type Verdict } from './verdict.ts';

export interface OutageWindow {
  readonly id: number;
  /** The log was unreachable from here (the outage in place)… */
  readonly fromMs: number;
  /** …until here (its heal began). */
  readonly toMs: number;
}

export interface OutageAckAnomaly {
  readonly type: 'acknowledged-during-outage';
  readonly message: string;
  readonly id: string;
  readonly window: number;
}

export interface OutageAckStats {
  readonly windows: number;
  /** Multi-shard commits acknowledged (all of them, in or out of the windows). */
  readonly acknowledged: number;
}

export type OutageAckVerdict = Verdict<OutageAckAnomaly, OutageAckStats>;

export function checkOutageAcks(
  commits: readonly CommitRecord[],
  windows: readonly OutageWindow[],
  options: { readonly checker?: string; readonly anomaliesPerTypeMax?: number } = {},
): OutageAckVerdict {
  const collector = new AnomalyCollector<OutageAckAnomaly>(
    options.anomaliesPerTypeMax ?? ANOMALIES_PER_TYPE_MAX_DEFAULT,
  );
  let acknowledged = 0;
  for (const c of commits) {
    if (c.outcome !== 'ok' || c.acked === undefined || new Set(c.shards).size < 2) continue;
    acknowledged++;
    const { invokedAtMs, completedAtMs } = c.acked;
    const w = windows.find((x) => invokedAtMs >= x.fromMs && completedAtMs <= x.toMs);
    if (w === undefined) continue;
    collector.add({
      type: 'acknowledged-during-outage',
      message:
        `${c.id} (on ${c.shards.join(', ')}) was invoked at ${invokedAtMs} ms and told COMMITTED at ` +
        `${completedAtMs} ms, while the decision log was down (outage #${w.id}: ${w.fromMs}-${w.toMs} ms)`,
      id: c.id,
      window: w.id,
    });
  }
  return collector.verdict(options.checker ?? 'outage-acks', { windows: windows.length, acknowledged });
}
