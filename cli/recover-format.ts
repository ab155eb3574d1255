/**
 * How `npx twopc recover …` prints things: ages, times, verdicts, aligned columns, and JSON (with
 * 64-bit integers as decimal strings, as in the gRPC API's JSON mapping).
 */
import type { Verdict } from '../coordinator/recovery/verdict.ts';
import type { DecisionRecord, HeuristicRecord } from '../coordinator/decision-log.ts';
import { logStatus } from '../coordinator/decision-log.ts';

/** One JSON document (or line) with bigints as strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** A duration for people: 450ms, 12s, 2m03s, 1h02m, 3d04h. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1_000) return `${Math.floor(ms)}ms`;
  const s = Math.floor(ms / 1_000);
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3_600) % 24)}h`;
}

/** Wall-clock ms as ISO 8601 (UTC); 0 means "not yet" and prints as "-". */
export function formatTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-';
}

/** The verdict in a few words, for a table cell. */
export function verdictShort(v: Verdict): string {
  switch (v.kind) {
    case 'COMMIT':
      if (v.source === 'heuristic') return `heuristic COMMIT seq ${v.decisionSeq}`;
      return `COMMIT seq ${v.decisionSeq}${v.source === 'coordinator' ? ' (coordinator)' : ''}`;
    case 'ABORT':
      if (v.source === 'presumed-abort') return 'no COMMIT: presumed abort';
      if (v.source === 'heuristic') return 'heuristic ABORT';
      return v.source === 'coordinator' ? 'ABORTED (coordinator)' : 'ABORTED in log';
    case 'LIVE':
      return 'live at coordinator: left alone';
    case 'UNKNOWN':
      return 'unknown';
  }
}

export function verdictJson(v: Verdict): Record<string, unknown> {
  return {
    kind: v.kind,
    ...(v.kind === 'COMMIT' ? { decisionSeq: v.decisionSeq } : {}),
    ...(v.kind === 'COMMIT' || v.kind === 'ABORT' ? { source: v.source } : {}),
    why: v.why,
  };
}

export function recordJson(r: DecisionRecord): Record<string, unknown> {
  return { ...r, status: logStatus(r) };
}

export function heuristicText(h: HeuristicRecord): string {
  return `${h.outcome} by ${h.operator} at ${formatTime(h.atMs)}: ${h.note}`;
}

/** One line describing a decision record. */
export function recordText(r: DecisionRecord): string {
  const parts: string[] = [logStatus(r)];
  if (r.decisionSeq > 0n) parts.push(`decision_seq ${r.decisionSeq}`);
  if (r.abortReason !== undefined) parts.push(`reason ${r.abortReason}${r.reason ? `: ${r.reason}` : ''}`);
  parts.push(`shards ${[...r.shards, ...r.readOnlyShards].join(', ') || '-'}`);
  if (r.idempotencyKey !== '') parts.push(`key ${r.idempotencyKey}`);
  parts.push(`started ${formatTime(r.startedAtMs)}`, `decided ${formatTime(r.decidedAtMs)}`);
  parts.push(r.endedAtMs > 0 ? `ended ${formatTime(r.endedAtMs)}` : 'not ended');
  return parts.join(', ');
}

/** Rows as left-aligned columns, two spaces apart; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Text written to stdout, with a final newline. */
export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A warning line on stderr, in the CLI's `twopc: …` form. */
export function warn(text: string): void {
  process.stderr.write(`twopc: ${text}\n`);
}
