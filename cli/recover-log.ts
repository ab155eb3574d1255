/**
 * `npx twopc recover log`: inspect or export the decision log file, read-only (safe while the
 * coordinator runs). Records in txn-id order (= start time), filtered by status and start time;
 * with --heuristics, the audit trail of operator decisions instead. --json prints JSON lines.
 */
import path from 'node:path';
import { invalidArgument } from '../common/errors.ts';
import { LOG_STATUSES, logStatus, type DecisionRecord, type LogStatus } from '../coordinator/decision-log.ts';
import { DEV_COORDINATOR_DIR, LOG_FILE_NAME } from '../coordinator/recovery/data-dir.ts';
import { parseDecisionLogSpec } from '../coordinator/decision-log/spec.ts';
import { logPageRecordsMax } from '../coordinator/recovery/config.ts';
import { formatUsage, parseFlags, parseIntFlag } from './args.ts';
import { EXIT_OK } from './exit.ts';
import { formatTime, heuristicText, print, recordJson, table, toJson } from './recover-format.ts';

/** Records printed when --limit is not given. */
export const logLimitDefault = 100;
/** The largest --limit (0 means no limit at all, for an export). */
const logLimitMax = 1_000_000_000;

const FLAGS = {
  log: {
    kind: 'string',
    value: 'FILE|URL',
    description: "the coordinator's decision log: a file, sqlite:PATH, or a Redis log redis://HOST:PORT/DB",
  },
  'data-dir': {
    kind: 'string',
    value: 'DIR',
    description: 'a `twopc dev` data dir: reads DIR/coordinator/decisions.db',
  },
  state: {
    kind: 'list',
    value: 'STATUS',
    description: `only records in these statuses: ${LOG_STATUSES.join(', ')} (comma-separated too)`,
  },
  since: {
    kind: 'string',
    value: 'TIME',
    description:
      'only transactions started at or after TIME: ISO 8601 (2025-01-31T12:00:00Z) or an age (90s, 15m, 2h, 3d)',
  },
  limit: {
    kind: 'string',
    value: 'N',
    description: `at most N records; 0 = all (default ${logLimitDefault})`,
  },
  heuristics: { kind: 'boolean', description: 'print the audit trail of heuristic decisions instead' },
  json: { kind: 'boolean', description: 'print JSON lines (one record per line) instead of a table' },
} as const;

export const summary = 'inspect or export the decision log (JSON lines with --json)';

export const usage = formatUsage({
  synopsis:
    'npx twopc recover log (--log FILE|URL | --data-dir DIR) [--state STATUS] [--since TIME] [--limit N] [--json]',
  summary:
    "Prints the decision log's records, oldest transaction first: INTENT (a keyed transaction begun),\n" +
    'COMMITTING (COMMIT logged, not yet acknowledged everywhere), COMMITTED, ABORTED, with any heuristic\n' +
    'decision noted. Read-only: safe while the coordinator runs.',
  flags: FLAGS,
  notes: 'Example (export): npx twopc recover log --data-dir .twopc-dev --limit 0 --json > decisions.jsonl',
});

export async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('recover log', argv, FLAGS);
  const file = logFile(flags.log, flags['data-dir']);
  const statuses = parseStatuses(flags.state);
  const sinceMs = flags.since === undefined ? undefined : parseSince(flags.since, Date.now());
  const limitRaw =
    flags.limit === undefined ? logLimitDefault : parseIntFlag('--limit', flags.limit, 0, logLimitMax);
  const limit = limitRaw === 0 ? Number.MAX_SAFE_INTEGER : limitRaw;
  const { LogView } = await import('../coordinator/recovery/log-view.ts');
  const log = await LogView.openAt(file);
  try {
    if (!log.exists) throw invalidArgument(`recover log: decision log ${file} does not exist`);
    if (flags.heuristics) {
      const rows = await log.listHeuristics(limit);
      if (flags.json) for (const h of rows) print(toJson(h));
      else
        print(
          rows.length === 0
            ? 'No heuristic decisions.'
            : rows.map((h) => `${h.txnId}  ${heuristicText(h)}`).join('\n'),
        );
      return EXIT_OK;
    }
    const rows: string[][] = [['TXN', 'STATUS', 'SEQ', 'SHARDS', 'STARTED', 'DECIDED', 'ENDED', 'NOTE']];
    let count = 0;
    let after =
      sinceMs === undefined
        ? ''
        : `tx_${Math.max(0, sinceMs - 1)
            .toString(16)
            .padStart(12, '0')}g`;
    while (count < limit) {
      const page = await log.list({
        statuses,
        afterTxnId: after,
        limit: Math.min(logPageRecordsMax, limit - count),
      });
      for (const r of page) {
        after = r.txnId;
        if (sinceMs !== undefined && r.startedAtMs < sinceMs) continue;
        count++;
        const heuristics = await log.heuristics(r.txnId);
        if (flags.json) print(toJson({ ...recordJson(r), heuristics }));
        else
          rows.push(
            recordRow(
              r,
              heuristics.length > 0 ? `heuristic: ${heuristics.map(heuristicText).join('; ')}` : '',
            ),
          );
      }
      if (page.length < logPageRecordsMax) break;
    }
    if (!flags.json) print(count === 0 ? 'No matching records.' : table(rows));
    return EXIT_OK;
  } finally {
    await log.close();
  }
}

function recordRow(r: DecisionRecord, heuristic: string): string[] {
  const note = [r.abortReason ? `${r.abortReason}${r.reason ? `: ${r.reason}` : ''}` : '', heuristic]
    .filter((s) => s !== '')
    .join('; ');
  return [
    r.txnId,
    logStatus(r),
    r.decisionSeq > 0n ? String(r.decisionSeq) : '-',
    [...r.shards, ...r.readOnlyShards].join(',') || '-',
    formatTime(r.startedAtMs),
    formatTime(r.decidedAtMs),
    formatTime(r.endedAtMs),
    note || '-',
  ];
}

function logFile(log: string | undefined, dataDir: string | undefined): string {
  if (log !== undefined && dataDir !== undefined)
    throw invalidArgument('recover log: give --log FILE or --data-dir DIR, not both');
  if (log !== undefined) {
    const isSpec = log.startsWith('sqlite:') || /^[a-z+]+:\/\//.test(log);
    if (!isSpec) return log;
    const spec = parseDecisionLogSpec(log);
    return spec.kind === 'sqlite' ? spec.path : log;
  }
  if (dataDir !== undefined) return path.join(dataDir, DEV_COORDINATOR_DIR, LOG_FILE_NAME);
  throw invalidArgument(
    'recover log: which log? --log FILE or --data-dir DIR',
    "the coordinator's log is <data-dir>/decisions.db",
  );
}

function parseStatuses(raw: readonly string[]): LogStatus[] {
  const out = new Set<LogStatus>();
  for (const s of raw.flatMap((r) => r.split(','))) {
    const status = s.trim().toUpperCase();
    if (!(LOG_STATUSES as readonly string[]).includes(status))
      throw invalidArgument(`--state: "${s}" is not one of ${LOG_STATUSES.join(', ')}`);
    out.add(status as LogStatus);
  }
  return [...out];
}

const AGE = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO 8601 time, or an age before `nowMs`. */
export function parseSince(raw: string, nowMs: number): number {
  const age = AGE.exec(raw);
  if (age) return nowMs - Number(age[1]) * (UNIT_MS[age[2] as string] as number);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(ms))
    throw invalidArgument(
      `--since: "${raw}" is not a time`,
      'use ISO 8601 (2025-01-31T12:00:00Z) or an age such as 15m, 2h, 3d',
    );
  return ms;
}
