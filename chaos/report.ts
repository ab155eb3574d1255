/**
 * A run's report, in the run dir:
 *   history.jsonl  every op (written as it happened, by the recorder's HistoryFile)
 *   summary.json   seed, faults injected, ops by outcome, every checker's verdict with its
 *                  counterexample, liveness and process figures — what CI and people read first
 *   report.html    one self-contained page: verdicts, throughput and latency over time (inline SVG)
 *                  with the fault windows shaded, the fault table
 * plus the processes' logs in logs/ and their data in data/.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MutationName } from '../common/mutations.ts';
import type { ChaosDecisionLog, ChaosReplication } from './cluster-services.ts';
import type { ProcessExit } from './cluster-runner.ts';
import type { Op } from './history.ts';
import type { PollOutcome } from './in-doubt-poll.ts';
import { NEMESIS_F, type FaultRecord } from './nemesis.ts';
import { renderReportHtml } from './report-html.ts';
import type { AvailableFaultKind, FaultWindow } from './schedule.ts';
import type { AnyVerdict, WorkloadName } from './workloads/workload.ts';

export const REPORT_FILES = Object.freeze({
  history: 'history.jsonl',
  summary: 'summary.json',
  report: 'report.html',
});

export interface ChaosSummary {
  readonly seed: number;
  readonly workload: WorkloadName;
  readonly durationMs: number;
  readonly clients: number;
  readonly shards: readonly string[];
  readonly faultKinds: readonly AvailableFaultKind[];
  readonly targets: readonly string[] | null;
  readonly txnTimeoutMs: number;
  /** WAL shipping of the participants to the harness's s3rver (off: none). */
  readonly replication: ChaosReplication;
  readonly decisionLog: ChaosDecisionLog;
  readonly mutations: readonly MutationName[];
  /** Mutations some process announced: a mutation asked for but not seen was not wired. */
  readonly mutationsSeen: readonly string[];
  /** True iff the run finished and every checker passed. */
  readonly valid: boolean;
  readonly interrupted: boolean;
  readonly reproduce: string;
  readonly faults: {
    readonly injected: number;
    readonly byKind: Readonly<Record<string, number>>;
    readonly windows: ReadonlyArray<
      FaultWindow & { appliedAtMs?: number; healedAtMs?: number; notes: string[] }
    >;
  };
  /** Client ops by f and outcome (nemesis entries excluded). */
  readonly ops: Readonly<Record<string, { ok: number; fail: number; info: number }>>;
  readonly okPerSecond: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  };
  readonly liveness: {
    readonly healedAtMs: number;
    readonly polls: number;
    readonly incompleteRounds: number;
  };
  readonly processes: {
    readonly starts: Readonly<Record<string, number>>;
    readonly exits: readonly Omit<ProcessExit, 'tail'>[];
  };
  readonly workloadStats: Readonly<Record<string, number>>;
  readonly checkers: readonly AnyVerdict[];
  readonly files: Readonly<Record<string, string>>;
}

export interface SummaryInput {
  readonly options: {
    readonly seed: number;
    readonly workload: WorkloadName;
    readonly durationMs: number;
    readonly clients: number;
    readonly faults: readonly AvailableFaultKind[];
    readonly targets?: readonly string[];
    readonly mutations?: readonly MutationName[];
    readonly outDir: string;
    readonly txnTimeoutMs: number;
    readonly shards: readonly string[];
    readonly replication?: ChaosReplication;
    readonly decisionLog?: ChaosDecisionLog;
  };
  readonly history: readonly Op[];
  readonly faults: readonly FaultRecord[];
  readonly verdicts: readonly AnyVerdict[];
  readonly healedAtMs: number;
  readonly polled: PollOutcome;
  readonly exits: readonly ProcessExit[];
  readonly starts: Readonly<Record<string, number>>;
  readonly workloadStats: Readonly<Record<string, number>>;
  readonly mutationsSeen: readonly string[];
  readonly interrupted: boolean;
}

export function buildSummary(input: SummaryInput): ChaosSummary {
  const o = input.options;
  const applied = input.faults.filter((f) => f.appliedAtMs !== undefined);
  const byKind: Record<string, number> = {};
  for (const f of applied) byKind[f.window.kind] = (byKind[f.window.kind] ?? 0) + 1;
  const { ops, latencies, okCount } = tallyOps(input.history);
  const seconds = Math.max(o.durationMs / 1000, 0.001);
  const valid = !input.interrupted && input.verdicts.length > 0 && input.verdicts.every((v) => v.valid);
  return {
    seed: o.seed,
    workload: o.workload,
    durationMs: o.durationMs,
    clients: o.clients,
    shards: o.shards,
    faultKinds: o.faults,
    targets: o.targets ?? null,
    txnTimeoutMs: o.txnTimeoutMs,
    replication: o.replication ?? 'off',
    decisionLog: o.decisionLog ?? 'sqlite',
    mutations: o.mutations ?? [],
    mutationsSeen: input.mutationsSeen,
    valid,
    interrupted: input.interrupted,
    reproduce: reproduceCommand(o),
    faults: {
      injected: applied.length,
      byKind,
      windows: input.faults.map((f) => ({
        ...f.window,
        ...(f.appliedAtMs === undefined ? {} : { appliedAtMs: f.appliedAtMs }),
        ...(f.healedAtMs === undefined ? {} : { healedAtMs: f.healedAtMs }),
        notes: f.notes,
      })),
    },
    ops,
    okPerSecond: Math.round((okCount / seconds) * 10) / 10,
    latencyMs: percentiles(latencies),
    liveness: {
      healedAtMs: input.healedAtMs,
      polls: input.polled.polls.length,
      incompleteRounds: input.polled.incompleteRounds,
    },
    processes: { starts: input.starts, exits: input.exits.map(({ tail: _tail, ...e }) => e) },
    workloadStats: input.workloadStats,
    checkers: input.verdicts,
    files: {
      history: path.join(o.outDir, REPORT_FILES.history),
      summary: path.join(o.outDir, REPORT_FILES.summary),
      report: path.join(o.outDir, REPORT_FILES.report),
      logs: path.join(o.outDir, 'logs'),
    },
  };
}

export function writeReport(outDir: string, summary: ChaosSummary, history: readonly Op[]): void {
  const json = JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
  writeFileSync(path.join(outDir, REPORT_FILES.summary), json + '\n');
  writeFileSync(path.join(outDir, REPORT_FILES.report), renderReportHtml(summary, history));
}

/** The one-line verdict the CLI prints. */
export function verdictLine(s: ChaosSummary): string {
  if (s.interrupted) return 'INTERRUPTED: no verdict';
  const bad = s.checkers.filter((v) => !v.valid);
  if (bad.length === 0) return `VALID: ${s.checkers.map((v) => v.checker).join(', ')} passed`;
  return `INVALID: ${bad.map((v) => `${v.checker} (${v.counterexample?.type ?? '?'}: ${v.counterexample?.message ?? ''})`).join('; ')}`;
}

function tallyOps(history: readonly Op[]) {
  const ops: Record<string, { ok: number; fail: number; info: number }> = {};
  const invoked = new Map<number, Op>();
  const latencies: number[] = [];
  let okCount = 0;
  for (const op of history) {
    if (op.f === NEMESIS_F) continue;
    if (op.type === 'invoke') {
      invoked.set(op.process, op);
      continue;
    }
    const counts = (ops[op.f] ??= { ok: 0, fail: 0, info: 0 });
    counts[op.type]++;
    const start = invoked.get(op.process);
    if (op.type === 'ok') {
      okCount++;
      if (start) latencies.push(op.timeMs - start.timeMs);
    }
  }
  return { ops, latencies, okCount };
}

export function percentiles(values: readonly number[]): ChaosSummary['latencyMs'] {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1)! };
}

function reproduceCommand(o: SummaryInput['options']): string {
  const parts = [
    'npx twopc chaos',
    `--seed ${o.seed}`,
    `--duration ${o.durationMs}ms`,
    `--workload ${o.workload}`,
    `--faults ${o.faults.join(',') || 'none'}`,
    `--clients ${o.clients}`,
  ];
  if ((o.replication ?? 'off') !== 'off') parts.push(`--replication ${o.replication}`);
  if ((o.decisionLog ?? 'sqlite') !== 'sqlite') parts.push(`--decision-log ${o.decisionLog}`);
  if (o.targets) parts.push(`--targets ${o.targets.join(',')}`);
  if (o.mutations && o.mutations.length > 0) parts.push(`--mutation ${o.mutations.join(',')}`);
  return parts.join(' ');
}
