/**
 * The coordinator's metrics as Prometheus families (common/metrics-text.ts), built on each scrape from
 * what the coordinator already counts: outcomes, aborts by reason, in-flight gauges, the decision
 * log's group commit, each participant session's batching, and where a transaction's time goes.
 * The names are the contract with dashboards: docs/operations.md lists them.
 */
import { counter, gauge, histogram, type MetricFamily, type Sample } from '../common/metrics-text.ts';
import { processMetricFamilies } from '../common/process-metrics.ts';
import { ABORT_REASONS } from '../common/protocol.ts';
import type { Coordinator } from './coordinator.ts';
import { PROTOCOL_STAGES } from './metrics.ts';
import type { SessionStats } from './participant-session.ts';

/** What a coordinator server exposes to the exporter. */
export interface CoordinatorMetricsSource {
  readonly coordinator: Coordinator;
  /** Session stats per shard (grpc-participant-client.ts). */
  readonly participants: ReadonlyMap<string, { stats(): SessionStats }>;
}

export function coordinatorMetricFamilies(source: CoordinatorMetricsSource): MetricFamily[] {
  const { coordinator } = source;
  const m = coordinator.metrics();
  const timings = coordinator.timings();
  const perShard = (pick: (s: SessionStats) => number): Sample[] =>
    [...source.participants].map(([shard, client]) => ({ labels: { shard }, value: pick(client.stats()) }));
  return [
    ...processMetricFamilies(),
    counter(
      'twopc_txns_committed_total',
      'Transactions committed, by how; the paths add up to every commit.',
      [
        { labels: { path: 'two_phase' }, value: m.committed - m.committedOnePhase - m.committedReadOnly },
        { labels: { path: 'one_phase' }, value: m.committedOnePhase },
        { labels: { path: 'read_only' }, value: m.committedReadOnly },
      ],
    ),
    counter(
      'twopc_txns_aborted_total',
      'Transactions aborted, by reason.',
      ABORT_REASONS.map((reason) => ({ labels: { reason }, value: m.abortedByReason[reason] })),
    ),
    counter('twopc_txns_invalid_total', 'Transactions a participant refused as malformed.', m.invalid),
    gauge('twopc_txns_in_flight', 'Transactions started and not decided yet.', m.inFlight),
    gauge(
      'twopc_interactive_open',
      'Interactive transactions begun and not committed or aborted.',
      m.interactiveOpen,
    ),
    counter(
      'twopc_decisions_resent_total',
      'Decision messages sent again after a failure or timeout.',
      m.decisionsResent,
    ),
    counter(
      'twopc_decisions_undelivered_total',
      'Aborts given up on (the participant learns the outcome by asking).',
      m.decisionsUndelivered,
    ),
    counter(
      'twopc_commit_log_failures_total',
      'COMMIT records that could not be forced (client told UNAVAILABLE; retried).',
      m.commitLogFailures,
    ),
    counter(
      'twopc_protocol_violations_total',
      'Participant replies that broke the protocol.',
      m.protocolViolations,
    ),
    counter(
      'twopc_decision_log_batches_total',
      'Decision log write batches, lazy-only ones (END records, no fsync) included.',
      m.decisionLog.batches,
    ),
    counter(
      'twopc_decision_log_forced_batches_total',
      'Decision log write batches holding a forced record (COMMIT, INTENT): one fsync each.',
      m.decisionLog.forcedBatches,
    ),
    counter(
      'twopc_decision_log_records_total',
      'Records written to the decision log.',
      m.decisionLog.records,
    ),
    gauge(
      'twopc_decision_log_batch_records_max',
      'Largest decision log batch so far.',
      m.decisionLog.batchRecordsMax,
    ),
    gauge('twopc_decision_log_epoch', "This coordinator's fencing epoch in the decision log.", [
      { value: coordinator.epoch },
    ]),
    counter(
      'twopc_participant_messages_sent_total',
      'Protocol messages sent to each participant.',
      perShard((s) => s.messagesSent),
    ),
    counter(
      'twopc_participant_batches_sent_total',
      'Stream writes to each participant (messages per batch = messages / batches).',
      perShard((s) => s.batchesSent),
    ),
    counter(
      'twopc_participant_sessions_opened_total',
      'Streams opened to each participant (the first on the first message, then after each break).',
      perShard((s) => s.sessionsOpened),
    ),
    counter(
      'twopc_participant_sessions_broken_total',
      'Streams to each participant that broke (messages on them failed UNAVAILABLE and were retried or aborted).',
      perShard((s) => s.sessionsBroken),
    ),
    histogram(
      'twopc_stage_duration_seconds',
      'Two-phase commit stages of transactions that committed: prepare (every vote in), decision (COMMIT forced), commit (every ack in).',
      PROTOCOL_STAGES.map((stage) => ({ labels: { stage }, histogram: timings.stages[stage] })),
    ),
    histogram(
      'twopc_protocol_duration_seconds',
      'The protocol run of a transaction, from its plan to its answer, by the shards it planned and its result.',
      [...timings.runs.values()].map((r) => ({
        labels: { shards: r.shards, result: r.result },
        histogram: r.histogram,
      })),
    ),
  ];
}
