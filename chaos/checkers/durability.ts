/**
 * The durability (and atomicity) checker. During the run every transaction writes a marker row, named
 * by its id, on each shard it touches; after crashes, restarts and restores the harness lists the markers
 * each shard holds. Valid iff every transaction acknowledged committed has its marker on all of its
 * shards, no failed one has a marker anywhere, one of unknown outcome has it on all of its shards or
 * none, and no marker appears that no transaction wrote.
 */
import { HistoryError } from '../history.ts';
import { ANOMALIES_PER_TYPE_MAX_DEFAULT, AnomalyCollector, type Verdict } from './verdict.ts';

export interface CommitRecord {
  readonly id: string;
  /** What the client was told: ok = COMMITTED, fail = ABORTED, info = unknown. */
  readonly outcome: 'ok' | 'fail' | 'info';
  /** Every shard the transaction wrote a marker on. */
  readonly shards: readonly string[];
  /** For `ok`: when the invocation that was told COMMITTED started and ended (run clock, ms). */
  readonly acked?: { readonly invokedAtMs: number; readonly completedAtMs: number };
}

/** Shard → the marker ids it holds after recovery (each shard the run used must be listed). */
export type RecoveredMarkers = Readonly<Record<string, readonly string[]>>;

export type DurabilityAnomaly =
  | {
      readonly type: 'lost-commit' | 'partial-commit' | 'aborted-present';
      readonly message: string;
      readonly id: string;
      readonly outcome: CommitRecord['outcome'];
      readonly presentOn: readonly string[];
      readonly missingOn: readonly string[];
    }
  | { readonly type: 'unknown-marker'; readonly message: string; readonly id: string; readonly shard: string }
  | { readonly type: 'shard-unreadable'; readonly message: string; readonly shard: string };

export interface DurabilityStats {
  readonly commits: number;
  readonly acknowledged: number;
  readonly aborted: number;
  readonly unknown: number;
  /** Unknown-outcome transactions found committed everywhere after recovery. */
  readonly unknownCommitted: number;
  readonly markers: number;
}

export type DurabilityVerdict = Verdict<DurabilityAnomaly, DurabilityStats>;

export function checkDurability(
  commits: readonly CommitRecord[],
  recovered: RecoveredMarkers,
  options: { readonly anomaliesPerTypeMax?: number } = {},
): DurabilityVerdict {
  const collector = new AnomalyCollector<DurabilityAnomaly>(
    options.anomaliesPerTypeMax ?? ANOMALIES_PER_TYPE_MAX_DEFAULT,
  );
  const byId = new Map<string, CommitRecord>();
  for (const c of commits) {
    if (byId.has(c.id)) throw new HistoryError(`commit record ${c.id} listed twice`);
    if (c.shards.length === 0) throw new HistoryError(`commit record ${c.id} lists no shard`);
    byId.set(c.id, c);
  }
  const present = new Map<string, Set<string>>();
  for (const c of commits) for (const shard of c.shards) present.set(shard, new Set());
  let markers = 0;
  for (const [shard, ids] of Object.entries(recovered)) {
    present.set(shard, new Set(ids));
    markers += ids.length;
    for (const id of ids) {
      if (byId.get(id)?.shards.includes(shard)) continue;
      collector.add({
        type: 'unknown-marker',
        message: `shard ${shard} holds a marker for ${id}, which no transaction wrote there`,
        id,
        shard,
      });
    }
  }
  const unreadable = new Set<string>();
  for (const shard of present.keys()) {
    if (shard in recovered) continue;
    unreadable.add(shard);
    collector.add({
      type: 'shard-unreadable',
      message: `no markers were listed for shard ${shard}, so nothing on it can be checked`,
      shard,
    });
  }
  let unknownCommitted = 0;
  for (const c of commits) {
    const shards = c.shards.filter((s) => !unreadable.has(s));
    const presentOn = shards.filter((s) => present.get(s)?.has(c.id));
    const missingOn = shards.filter((s) => !present.get(s)?.has(c.id));
    const type = judge(c.outcome, presentOn.length, missingOn.length);
    if (c.outcome === 'info' && missingOn.length === 0 && presentOn.length > 0) unknownCommitted++;
    if (!type) continue;
    const message = `${c.id} (${c.outcome}) is present on [${presentOn.join(', ')}] and missing on [${missingOn.join(', ')}]`;
    collector.add({ type, message, id: c.id, outcome: c.outcome, presentOn, missingOn });
  }
  const count = (o: CommitRecord['outcome']): number => commits.filter((c) => c.outcome === o).length;
  const stats: DurabilityStats = {
    commits: commits.length,
    acknowledged: count('ok'),
    aborted: count('fail'),
    unknown: count('info'),
    unknownCommitted,
    markers,
  };
  return collector.verdict('durability', stats);
}

function judge(
  outcome: CommitRecord['outcome'],
  present: number,
  missing: number,
): 'lost-commit' | 'aborted-present' | 'partial-commit' | undefined {
  if (outcome === 'ok') return missing > 0 ? 'lost-commit' : undefined;
  if (outcome === 'fail') return present > 0 ? 'aborted-present' : undefined;
  return present > 0 && missing > 0 ? 'partial-commit' : undefined;
}
