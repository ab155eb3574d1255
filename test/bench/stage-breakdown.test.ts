/**
 * The bench's stage breakdown: means and ratios over the window between two scrapes, from pages in
 * the format the processes serve (rendered here by the product's own renderer).
 */
import { describe, expect, it } from 'vitest';
import { parseMetricsPage, stageBreakdown, type DeploymentScrape } from '../../cli/bench/stage-breakdown.ts';
import { LatencyHistogram, counter, histogram, renderMetrics } from '../../common/metrics-text.ts';

function histogramOf(ms: number[]): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const v of ms) h.observeMs(v);
  return h;
}

function coordinatorPage(o: {
  prepare: number[];
  decision: number[];
  committed: number[];
  forcedBatches: number;
  activeSec: number;
}) {
  return parseMetricsPage(
    renderMetrics([
      histogram('twopc_stage_duration_seconds', 'x', [
        { labels: { stage: 'prepare' }, histogram: histogramOf(o.prepare) },
        { labels: { stage: 'decision' }, histogram: histogramOf(o.decision) },
      ]),
      histogram('twopc_protocol_duration_seconds', 'x', [
        { labels: { path: 'two_phase', result: 'committed' }, histogram: histogramOf(o.committed) },
        { labels: { path: 'two_phase', result: 'aborted' }, histogram: histogramOf([500]) },
      ]),
      counter('twopc_decision_log_forced_batches_total', 'x', o.forcedBatches),
      counter('nodejs_eventloop_active_seconds_total', 'x', o.activeSec),
    ]),
  );
}

function shardPage(
  shard: string,
  o: { flushes: number; flushMs: number[]; prepares: number; decisions: number },
) {
  return parseMetricsPage(
    renderMetrics([
      counter('twopc_flushes_total', 'x', [
        { labels: { shard, kind: 'prepare' }, value: o.flushes },
        { labels: { shard, kind: 'decision' }, value: 0 },
      ]),
      histogram('twopc_flush_duration_seconds', 'x', [
        { labels: { shard, kind: 'prepare' }, histogram: histogramOf(o.flushMs) },
      ]),
      counter('twopc_prepares_total', 'x', [{ labels: { shard }, value: o.prepares }]),
      counter('twopc_decisions_total', 'x', [{ labels: { shard }, value: o.decisions }]),
      counter('nodejs_eventloop_active_seconds_total', 'x', 0),
    ]),
  );
}

describe('stageBreakdown', () => {
  it('takes means over the window only, committed runs only, flushes over every shard', () => {
    const before: DeploymentScrape = {
      atMs: 1_000,
      processes: [
        {
          name: 'coordinator',
          page: coordinatorPage({
            prepare: [100],
            decision: [100],
            committed: [100],
            forcedBatches: 10,
            activeSec: 1,
          }),
        },
        {
          name: 'shard-a',
          page: shardPage('shard-a', { flushes: 5, flushMs: [50], prepares: 5, decisions: 0 }),
        },
        {
          name: 'shard-b',
          page: shardPage('shard-b', { flushes: 0, flushMs: [], prepares: 0, decisions: 0 }),
        },
      ],
    };
    const after: DeploymentScrape = {
      atMs: 3_000,
      processes: [
        {
          name: 'coordinator',
          page: coordinatorPage({
            prepare: [100, 2, 4],
            decision: [100, 1, 1],
            committed: [100, 4, 6],
            forcedBatches: 11,
            activeSec: 2.5,
          }),
        },
        {
          name: 'shard-a',
          page: shardPage('shard-a', { flushes: 7, flushMs: [50, 1, 3], prepares: 15, decisions: 0 }),
        },
        {
          name: 'shard-b',
          // Two flushes, three timings: one written whole, one batch of two that failed and was retried
          // message by message (each retry timed).
          page: shardPage('shard-b', { flushes: 2, flushMs: [2, 2, 2], prepares: 6, decisions: 4 }),
        },
      ],
    };
    const b = stageBreakdown(before, after);
    expect(b.prepareMs).toBeCloseTo(3, 6);
    expect(b.decisionMs).toBeCloseTo(1, 6);
    expect(b.commitMs).toBeNaN(); // no commit stage in these pages
    expect(b.protocolMs).toBeCloseTo(5, 6); // the aborted run (500 ms) is not in it
    expect(b.flushMs).toBeCloseTo(2, 6); // (1 + 3 + 2 + 2 + 2) ms over 5 timed store calls, not 4 flushes
    expect(b.messagesPerFlush).toBeCloseTo(20 / 4, 6);
    expect(b.commitsPerLogFsync).toBeCloseTo(2, 6); // two COMMITs forced in one fsync
    expect(b.eventLoop.coordinator).toBeCloseTo(0.75, 6);
    expect(b.eventLoop['shard-a']).toBe(0);
  });
});
