/**
 * The human side of a bench run: a fixed-width table of the rows (grouped by scenario, then clients,
 * systems side by side), the per-process CPU/memory column, the target verdicts and twopc's memory
 * (the soak's RSS series, the regular slices' marks).
 */
import type { StageBreakdown } from './stage-breakdown.ts';
import type { BenchReport } from './report.ts';
import { SCENARIO_TITLES } from './workload.ts';
import type { BenchRow, ProcessFigures, RowScenario } from './results.ts';
import type { SoakRecord } from './soak.ts';
import type { TargetVerdict } from './targets.ts';

export function scenarioTitle(s: RowScenario): string {
  return SCENARIO_TITLES[s];
}

/** Milliseconds with two decimals below 10, one above. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}×`;
}

function formatProcess(p: ProcessFigures): string {
  const name = p.processCount > 1 ? `${p.name}(${p.processCount})` : p.name;
  const cpu = Number.isFinite(p.cpuPercent) ? `${p.cpuPercent.toFixed(0)}%` : '?%';
  const rss = Number.isFinite(p.rssPeakMb) ? `${p.rssPeakMb.toFixed(0)}M` : '?M';
  return `${name} ${cpu} ${rss}`;
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(
  headers: readonly string[],
  rows: readonly string[][],
  rightAligned: ReadonlySet<number>,
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function rowCells(r: BenchRow): string[] {
  const scenario = scenarioTitle(r.scenario);
  const isPg = r.system === 'postgres';
  return [
    scenario,
    String(r.clients ?? '-'),
    r.system,
    (r.txnPerSec ?? 0).toFixed(0),
    formatMs(r.latencyMs?.p50),
    formatMs(r.latencyMs?.p99),
    `${r.aborted ?? 0}/${r.errors ?? 0}`,
    isPg ? '1.00×' : formatRatio(r.vsPostgres?.throughput),
    isPg ? '1.00×' : formatRatio(r.vsPostgres?.p50),
    isPg ? '1.00×' : formatRatio(r.vsPostgres?.p99),
  ];
}

/** Throughput, latency and the ratios to PostgreSQL. */
export function formatRowsTable(rows: readonly BenchRow[]): string {
  const headers = [
    'scenario',
    'clients',
    'system',
    'txn/s',
    'p50 ms',
    'p99 ms',
    'abort/err',
    'txn/s ÷PG',
    'p50 ÷PG',
    'p99 ÷PG',
  ];
  return formatTable(headers, rows.map(rowCells), new Set([1, 3, 4, 5, 6, 7, 8, 9]));
}

/** The WAL shipping rows against the same twopc transfer without shipping. */
export function formatShippingTable(rows: readonly BenchRow[]): string {
  const wal = rows.filter((r) => r.status === 'measured' && r.vsNoShipping !== undefined);
  const cells = wal.map((r) => {
    const cost = r.vsNoShipping?.throughput;
    return [
      scenarioTitle(r.scenario),
      String(r.clients ?? '-'),
      (r.txnPerSec ?? 0).toFixed(0),
      formatMs(r.latencyMs?.p50),
      formatMs(r.latencyMs?.p99),
      formatRatio(cost),
      cost === undefined || !Number.isFinite(cost) ? '-' : `${((1 - cost) * 100).toFixed(0)} %`,
      formatRatio(r.vsNoShipping?.p50),
      formatRatio(r.vsNoShipping?.p99),
    ];
  });
  return formatTable(
    ['scenario', 'clients', 'txn/s', 'p50 ms', 'p99 ms', 'txn/s ÷none', 'cost', 'p50 ÷none', 'p99 ÷none'],
    cells,
    new Set([1, 2, 3, 4, 5, 6, 7, 8]),
  );
}

/** CPU and peak memory of every process, per measured row. */
export function formatProcessTable(rows: readonly BenchRow[]): string {
  const measured = rows.filter((r) => r.status === 'measured');
  const cells = measured.map((r) => [
    scenarioTitle(r.scenario),
    String(r.clients ?? '-'),
    r.system,
    (r.processes ?? []).map(formatProcess).join(', '),
    Number.isFinite(r.otherCpuPercent) ? `${(r.otherCpuPercent ?? 0).toFixed(0)}%` : '?',
  ]);
  return formatTable(
    ['scenario', 'clients', 'system', 'process CPU% (100 = one core) and peak RSS', 'others'],
    cells,
    new Set([1, 4]),
  );
}

/** Seconds with one decimal below 10 (a short soak samples sub-second), none above. */
function formatSec(sec: number): string {
  return sec < 10 ? sec.toFixed(1) : sec.toFixed(0);
}

/** The soak's load (constant, or the verdict means little) and each process's RSS at start, end and max. */
export function formatSoak(soak: SoakRecord): string[] {
  const rates = soak.samples.map((x) => x.txnPerSec).filter(Number.isFinite);
  const range =
    rates.length === 0
      ? ''
      : ` (between samples ${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)})`;
  return [
    `Soak: ${scenarioTitle(soak.scenario)}, ${soak.clients} clients, closed loop, ${formatSec(soak.measuredSec)} s; ` +
      `twopc RSS every ${formatSec(soak.sampleSec)} s, start = the sample at ${formatSec(soak.startAtSec)} s, ` +
      `end = the last, at ${formatSec(soak.endAtSec)} s (${soak.spanSec} s apart):`,
    `  load: ${soak.txnPerSec.toFixed(0)} txn/s${range}, p50 ${formatMs(soak.latencyMs.p50)} ms, ` +
      `p99 ${formatMs(soak.latencyMs.p99)} ms, ${soak.aborted} aborted, ${soak.errors} errors`,
    ...soak.processes.map(
      (p) =>
        `  ${p.name} (pid ${p.pid}): start ${p.rssStartMb.toFixed(0)} MB, end ${p.rssEndMb.toFixed(0)} MB, ` +
        `max ${p.rssMaxMb.toFixed(0)} MB`,
    ),
  ];
}

/** The stage breakdown of the twopc rows (stage-breakdown.ts). */
export function formatStagesTable(rows: readonly BenchRow[]): string {
  const staged = rows.filter((r) => r.stages !== undefined);
  const num = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
  const cells = staged.map((r) => {
    const st = r.stages as StageBreakdown;
    return [
      scenarioTitle(r.scenario),
      String(r.clients ?? '-'),
      num(st.protocolMs, 2),
      num(st.prepareMs, 2),
      num(st.decisionMs, 2),
      num(st.commitMs, 2),
      `${num(st.flushMs, 2)} / ${num(st.messagesPerFlush, 1)}`,
      num(st.commitsPerLogFsync, 1),
      Object.entries(st.eventLoop)
        .sort(([a], [b]) => Number(b === 'coordinator') - Number(a === 'coordinator'))
        .map(([name, u]) => `${name} ${num(100 * u, 0)}%`)
        .join(', '),
    ];
  });
  return formatTable(
    [
      'scenario',
      'clients',
      'protocol ms',
      'prepare',
      'decision',
      'commit',
      'flush ms / msgs',
      'log',
      'event loop busy',
    ],
    cells,
    new Set([1, 2, 3, 4, 5, 6, 7]),
  );
}

function formatVerdict(t: TargetVerdict): string {
  const mark = t.met === null ? 'NOT JUDGED' : t.met ? 'MET' : 'MISSED';
  return `  [${mark}] ${t.target}: ${t.measured}${t.margin ? ` — ${t.margin}` : ''}`;
}

export function formatReport(report: BenchReport): string {
  const m = report.machine;
  const s = report.settings;
  const out = [
    `twopc bench: ${m.cpus} × ${m.cpuModel}, ${m.memTotalMb} MB, Node ${m.node}, ${m.filesystem} at ${m.dir}`,
    `load average ${m.loadAvgStart.map((l) => l.toFixed(2)).join(' ')} at start, ` +
      `${m.loadAvgEnd.map((l) => l.toFixed(2)).join(' ')} at end; ` +
      `${s.durationMs / 1000} s per row in ${s.rounds} round(s), ${s.warmupMs / 1000} s warm-up per slice, ${s.prewarmMs / 1000} s pre-warm per system and scenario`,
    '',
    formatRowsTable(report.rows),
    '',
    'abort/err = aborted transactions / failed calls in the measured windows. ÷PG = this row over',
    "PostgreSQL's row of the same transfer and clients (txn/s: above 1 is better; latency: below 1).",
    '',
    formatProcessTable(report.rows),
    '',
    'CPU over the measured windows. bench = the load generator (for sqlite also SQLite itself).',
    'others = CPU used meanwhile by every other process on the machine (other jobs: noise).',
    'postgres(N) = the server and its N-1 child processes, memory as summed PSS (shared buffers once).',
  ];
  if (report.rows.some((r) => r.stages !== undefined))
    out.push(
      '',
      formatStagesTable(report.rows),
      '',
      "Where twopc's time goes, from its processes' /metrics over the measured windows (means):",
      'protocol = a committed transaction at the coordinator, from its plan to its answer; prepare =',
      'Prepare sent → every vote in; decision = the COMMIT record forced; commit = Commit sent → every',
      'ack in; flush = one participant local transaction (fsync included) and the messages it wrote;',
      'log = COMMIT records per decision-log fsync (group commit); event loop = share of the window',
      'each process was busy (fsyncs included: better-sqlite3 waits for them on the loop).',
    );
  if (report.rows.some((r) => r.vsNoShipping !== undefined))
    out.push(
      '',
      formatShippingTable(report.rows),
      '',
      "WAL shipping: ÷none = this row over twopc's 2-shard row of the same clients without shipping;",
      'cost = the throughput it loses. The replica is a local s3rver (loopback, no network latency).',
    );
  for (const r of report.restores ?? [])
    out.push(
      `restore of ${r.shard} (${r.cluster}) from s3rver with \`npx twopc shard restore\`: ${r.segments} segments, ` +
        `${r.downloadedMb.toFixed(1)} MB downloaded, ${(r.dbMb + r.walAppliedMb).toFixed(1)} MB of database + WAL ` +
        `applied in ${r.seconds.toFixed(2)} s = ${r.mbPerSec.toFixed(1)} MB/s`,
    );
  for (const sys of report.systems)
    if (sys.status === 'skipped') out.push(`${sys.name}: skipped (${sys.note})`);
  out.push('', 'Targets (issue 7):', ...report.targets.map(formatVerdict));
  if (report.soak) out.push('', ...formatSoak(report.soak));
  if (report.memory.length > 0) {
    out.push(
      '',
      'twopc RSS over the regular slices, whose load changes from slice to slice (not judged):',
      '(idle after start → 1 min into the first slice (or after it) → after the last slice)',
      ...report.memory.map(
        (mm) =>
          `  ${mm.name} (pid ${mm.pid}): ${mm.rssIdleMb.toFixed(0)} → ${mm.rssStartMb.toFixed(0)} → ${mm.rssEndMb.toFixed(0)} MB`,
      ),
    );
  }
  return `${out.join('\n')}\n`;
}
