/**
 * Counters the coordinator keeps about itself, as one plain object the server can expose. Counters
 * only grow; gauges (in flight) are read from the live state when a snapshot is taken.
 */
import { LatencyHistogram } from '../common/metrics-text.ts';
import { ABORT_REASONS, type AbortReason } from '../common/protocol.ts';
import type { DecisionLogStats } from './decision-log.ts';

export interface MetricsSnapshot {
  readonly committed: number;
  readonly committedOnePhase: number;
  readonly committedReadOnly: number;
  readonly abortedByReason: Readonly<Record<AbortReason, number>>;
  readonly invalid: number;
  readonly inFlight: number;
  readonly interactiveOpen: number;
  readonly decisionsResent: number;
  readonly decisionsUndelivered: number;
  readonly commitLogFailures: number;
  readonly protocolViolations: number;
  readonly decisionLog: DecisionLogStats;
}

/** The stages of a two-phase commit, in order: votes collected, COMMIT forced, commit acknowledged. */
export const PROTOCOL_STAGES = ['prepare', 'decision', 'commit'] as const;
export type ProtocolStage = (typeof PROTOCOL_STAGES)[number];

/**
 * The shards a transaction's plan names: none (an interactive transaction that did nothing), one (the
 * one-phase path, unless the participant declines it), several (two-phase commit). A label of its
 * own, not `path`: twopc_txns_committed_total's `path` says how a commit ended up being made.
 */
export const PLAN_SHARDS = ['none', 'one', 'several'] as const;
export type PlanShards = (typeof PLAN_SHARDS)[number];
/** What the protocol returned: an outcome, or a throw (UNAVAILABLE: not known yet; INVALID_ARGUMENT). */
export const PROTOCOL_RESULTS = ['committed', 'aborted', 'error'] as const;
export type ProtocolResult = (typeof PROTOCOL_RESULTS)[number];

/**
 * Where a transaction's time goes (exported as seconds on /metrics). Measured with performance.now():
 * observations only, nothing in the protocol reads them, so they stay outside the Clock interface.
 */
export class ProtocolTimings {
  /** prepare: Prepare sent → every vote in; decision: the COMMIT record forced; commit: Commit sent → every ack. */
  readonly stages: Readonly<Record<ProtocolStage, LatencyHistogram>> = {
    prepare: new LatencyHistogram(),
    decision: new LatencyHistogram(),
    commit: new LatencyHistogram(),
  };
  /** The whole protocol run, from the plan to the answer, by the plan's shards and the result. */
  readonly runs = new Map<
    string,
    { shards: PlanShards; result: ProtocolResult; histogram: LatencyHistogram }
  >();

  observeRun(shards: PlanShards, result: ProtocolResult, ms: number): void {
    const key = `${shards}/${result}`;
    let run = this.runs.get(key);
    if (run === undefined) {
      run = { shards, result, histogram: new LatencyHistogram() };
      this.runs.set(key, run);
    }
    run.histogram.observeMs(ms);
  }
}

export class CoordinatorMetrics {
  readonly timings = new ProtocolTimings();
  /** Every commit; the next two count subsets of it. */
  committed = 0;
  /** Committed by the only participant in one phase: no decision record. */
  committedOnePhase = 0;
  /** Every participant voted READ_ONLY: no decision record, no phase two. */
  committedReadOnly = 0;
  /** Transactions a participant refused as malformed (also counted in abortedByReason). */
  invalid = 0;
  /** Decision messages sent again after a failure or a timeout. */
  decisionsResent = 0;
  /** Aborts given up on after abortSendAttemptsMax (the participant learns by asking). */
  decisionsUndelivered = 0;
  /** Forcing a COMMIT record failed (outcome unknown to the client; retried in the background). */
  commitLogFailures = 0;
  /** A participant broke the protocol (e.g. acknowledged a Commit with ABORTED). Loud in the log too. */
  protocolViolations = 0;
  readonly abortedByReason: Record<AbortReason, number> = Object.fromEntries(
    ABORT_REASONS.map((r) => [r, 0]),
  ) as Record<AbortReason, number>;

  countAbort(reason: AbortReason): void {
    this.abortedByReason[reason]++;
  }

  snapshot(live: {
    inFlight: number;
    interactiveOpen: number;
    decisionLog: DecisionLogStats;
  }): MetricsSnapshot {
    return {
      committed: this.committed,
      committedOnePhase: this.committedOnePhase,
      committedReadOnly: this.committedReadOnly,
      abortedByReason: { ...this.abortedByReason },
      invalid: this.invalid,
      inFlight: live.inFlight,
      interactiveOpen: live.interactiveOpen,
      decisionsResent: this.decisionsResent,
      decisionsUndelivered: this.decisionsUndelivered,
      commitLogFailures: this.commitLogFailures,
      protocolViolations: this.protocolViolations,
      decisionLog: live.decisionLog,
    };
  }
}
