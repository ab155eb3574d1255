/**
 * A participant's metrics as Prometheus families (common/metrics-text.ts), built on each scrape:
 * the batcher's group commit (messages, flushes, how long each local transaction took), what is
 * prepared and waiting for a decision (and for how long — the figure to alert on), the in-doubt
 * resolver, and WAL shipping when a replica is configured. Names: docs/operations.md.
 */
import { counter, gauge, histogram, withLabels, type MetricFamily } from '../common/metrics-text.ts';
import { processMetricFamilies } from '../common/process-metrics.ts';
import type { Batcher } from './batcher.ts';
import { FLUSH_KINDS } from './flush-writer.ts';
import type { InDoubtResolverStats } from './in-doubt-resolver.ts';
import type { ShardStore } from './shard-store.ts';
import type { WalShipping } from './wal/start-wal-shipping.ts';

export interface ParticipantMetricsSource {
  readonly shard: string;
  readonly store: ShardStore;
  readonly batcher: Batcher;
  readonly resolver: { stats(): InDoubtResolverStats };
  readonly shipping: WalShipping | undefined;
  readonly nowMs: () => number;
}

export function participantMetricFamilies(source: ParticipantMetricsSource): MetricFamily[] {
  const { batcher, store } = source;
  const b = batcher.stats();
  const r = source.resolver.stats();
  const timings = batcher.flushTimings();
  const prepared = store.preparedSummary();
  const families: MetricFamily[] = [
    counter(
      'twopc_prepares_total',
      'Prepare messages written (each voted YES, NO or READ_ONLY).',
      b.prepares,
    ),
    counter('twopc_decisions_total', 'Commit and Abort messages written.', b.decisions),
    counter('twopc_flushes_total', 'Local SQLite transactions written by the batcher, by kind.', [
      { labels: { kind: 'prepare' }, value: b.prepareBatches - b.sharedFlushes },
      { labels: { kind: 'decision' }, value: b.decisionBatches - b.sharedFlushes },
      { labels: { kind: 'shared' }, value: b.sharedFlushes },
    ]),
    gauge(
      'twopc_flush_messages_max',
      'Largest batch of one kind (prepares, or decisions) written so far.',
      b.batchMessagesPeak,
    ),
    gauge('twopc_batcher_queued', 'Messages waiting for the next flush.', batcher.queued),
    histogram(
      'twopc_flush_duration_seconds',
      'One flush: its local SQLite transaction, fsync included, by kind.',
      FLUSH_KINDS.map((kind) => ({ labels: { kind }, histogram: timings[kind] })),
    ),
    counter(
      'twopc_flushes_held_total',
      'Sync replication: flushes whose votes and acks waited for the replica.',
      b.heldFlushes,
    ),
    counter(
      'twopc_flushes_held_failed_total',
      'Held flushes the replica did not confirm in time.',
      b.heldFailures,
    ),
    gauge(
      'twopc_prepared_txns',
      'Transactions voted YES and not decided yet (in doubt if it lasts).',
      prepared.count,
    ),
    gauge(
      'twopc_prepared_oldest_age_seconds',
      'Age of the oldest undecided YES vote; 0 when there is none. Alert when it stays high.',
      prepared.oldestAtMs === undefined ? 0 : Math.max(0, (source.nowMs() - prepared.oldestAtMs) / 1000),
    ),
    counter('twopc_in_doubt_scans_total', 'Scans of the in-doubt resolver.', r.scans),
    counter('twopc_in_doubt_resolved_total', 'In-doubt transactions the resolver settled, by outcome.', [
      { labels: { outcome: 'committed' }, value: r.committed },
      { labels: { outcome: 'aborted' }, value: r.aborted },
    ]),
    counter(
      'twopc_in_doubt_unresolved_rounds_total',
      'Resolver attempts (one per in-doubt transaction per round) that ended without an answer.',
      r.unresolvedRounds,
    ),
    counter(
      'twopc_in_doubt_contradictions_total',
      'Decisions the resolver found that contradict what the shard holds: atomicity broken elsewhere.',
      r.contradictions,
    ),
  ];
  if (source.shipping !== undefined) families.push(...shippingFamilies(source.shipping));
  // Every series carries its shard, so several participants can share a dashboard.
  return [...processMetricFamilies(), ...families.map((f) => withLabels(f, { shard: source.shard }))];
}

function shippingFamilies(shipping: WalShipping): MetricFamily[] {
  const s = shipping.stats();
  return [
    counter('twopc_wal_segments_uploaded_total', 'WAL segments uploaded to the replica.', s.segmentsUploaded),
    counter('twopc_wal_snapshots_uploaded_total', 'Snapshots uploaded to the replica.', s.snapshotsUploaded),
    counter('twopc_wal_uploaded_bytes_total', 'Bytes stored in the replica (compressed).', s.bytesUploaded),
    counter('twopc_wal_shipped_bytes_total', 'WAL bytes the uploaded segments hold.', s.walBytesUploaded),
    counter('twopc_wal_upload_failures_total', 'Uploads that failed (retried).', s.uploadFailures),
    counter('twopc_wal_checkpoints_total', 'Checkpoints run by the shipper after shipping.', s.checkpoints),
    gauge(
      'twopc_wal_queue_bytes',
      'WAL read and not uploaded yet: the replica is this far behind.',
      s.queueBytes,
    ),
    gauge('twopc_wal_waiters', 'Sync replication: flushes waiting for the replica.', s.waiters),
    gauge('twopc_wal_generation_index', 'WAL index being shipped in the current generation.', s.index),
  ];
}
