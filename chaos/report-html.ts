/**
 * report.html: one self-contained page (no script, no external asset) — verdicts first, then
 * throughput and latency over time as inline SVG with every fault window shaded, then the faults and
 * process exits. Everything from the history and the summary; nothing measured twice.
 */
import type { Op } from './history.ts';
import { NEMESIS_F } from './nemesis.ts';
import type { ChaosSummary } from './report.ts';

const width = 960;
const height = 230;
const margin = { left: 56, right: 16, top: 34, bottom: 28 } as const;
/** The fault band above each plot: one row per nemesis lane. */
const bandRowPx = 13;
const PROCESS_KINDS: ReadonlySet<string> = new Set(['kill', 'pause', 'failpoints']);
/** Short labels, shown inside a fault's bar when it is wide enough. */
const SHORT_TARGET: Readonly<Record<string, string>> = { coordinator: 'coord', clients: 'clients' };
/** Time buckets per chart, at most: a long run gets wider buckets, not a heavier page. */
const bucketsMax = 200;

const KIND_COLORS: Readonly<Record<string, string>> = {
  kill: '#d62728',
  pause: '#9467bd',
  failpoints: '#8c564b',
  partition: '#1f77b4',
  delay: '#ff7f0e',
};
const OUTCOME_COLORS = { ok: '#2ca02c', fail: '#ff7f0e', info: '#7f7f7f' } as const;

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export function renderReportHtml(s: ChaosSummary, history: readonly Op[]): string {
  const endMs = Math.max(s.durationMs, history.at(-1)?.timeMs ?? 0, 1);
  const bucketMs = Math.max(1_000, Math.ceil(endMs / bucketsMax / 1_000) * 1_000);
  const buckets = Math.ceil(endMs / bucketMs);
  const counts = {
    ok: new Array<number>(buckets).fill(0),
    fail: new Array<number>(buckets).fill(0),
    info: new Array<number>(buckets).fill(0),
  };
  const latencies: number[][] = Array.from({ length: buckets }, () => []);
  const invoked = new Map<number, Op>();
  for (const op of history) {
    if (op.f === NEMESIS_F) continue;
    if (op.type === 'invoke') {
      invoked.set(op.process, op);
      continue;
    }
    const b = Math.min(buckets - 1, Math.floor(op.timeMs / bucketMs));
    counts[op.type][b]!++;
    const start = invoked.get(op.process);
    if (op.type === 'ok' && start) latencies[b]!.push(op.timeMs - start.timeMs);
  }
  const perSecond = 1_000 / bucketMs;
  const x = (b: number) => (b + 0.5) * bucketMs;
  const throughput: Series[] = (['ok', 'fail', 'info'] as const).map((t) => ({
    name: t,
    color: OUTCOME_COLORS[t],
    points: counts[t].map((n, b) => [x(b), n * perSecond] as const),
  }));
  const quantile = (q: number) =>
    latencies.flatMap((l, b) => {
      if (l.length === 0) return [];
      const sorted = [...l].sort((a, c) => a - c);
      return [[x(b), sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!] as const];
    });
  const latency: Series[] = [
    { name: 'p50', color: '#1f77b4', points: quantile(0.5) },
    { name: 'p99', color: '#d62728', points: quantile(0.99) },
  ];
  const title = `twopc chaos — ${s.workload}, seed ${s.seed}: ${s.valid ? 'VALID' : s.interrupted ? 'INTERRUPTED' : 'INVALID'}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:${width + 40}px}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.valid{color:#2ca02c;font-weight:bold} .invalid{color:#d62728;font-weight:bold}
code,pre{background:#f4f4f4;padding:1px 4px} pre{padding:8px;overflow:auto;max-height:320px}
svg text{font:11px system-ui,sans-serif}
</style></head><body>
<h1>${esc(title)}</h1>
<p>Reproduce: <code>${esc(s.reproduce)}</code><br>
${s.faults.injected} fault(s) injected (${
    Object.entries(s.faults.byKind)
      .map(([k, n]) => `${esc(k)} ${n}`)
      .join(', ') || 'none'
  }),
${s.clients} clients, ${s.shards.length} shards, ${s.okPerSecond} ok ops/s; ok latency p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms.
${s.mutations.length > 0 ? `<br><b>Mutation (deliberately broken build): ${esc(s.mutations.join(', '))}</b>` : ''}</p>
<h2>Checkers</h2>
${checkerTable(s)}
<p>Faults (top band: process faults, then network faults): ${Object.entries(KIND_COLORS)
    .map(([k, c]) => `<span style="color:${c}">■</span> ${esc(k)}`)
    .join(' &nbsp; ')}. Hover a bar for its details.</p>
<h2>Throughput (completions per second)</h2>
${chart(throughput, s, endMs)}
<h2>Latency of ok operations (ms, per second of completion)</h2>
${chart(latency, s, endMs)}
<h2>Operations</h2>
${table(
  ['f', 'ok', 'fail', 'info'],
  Object.entries(s.ops).map(([f, c]) => [f, String(c.ok), String(c.fail), String(c.info)]),
)}
<h2>Faults</h2>
${table(
  ['#', 'kind', 'target', 'detail', 'planned', 'applied → healed (ms)', 'notes'],
  s.faults.windows.map((w) => [
    String(w.id),
    w.kind,
    w.target,
    JSON.stringify(w.detail),
    `${w.startMs} +${w.durationMs}`,
    `${w.appliedAtMs ?? '-'} → ${w.healedAtMs ?? '-'}`,
    w.notes.join('; '),
  ]),
)}
<h2>Processes</h2>
<p>Starts: ${Object.entries(s.processes.starts)
    .map(([n, k]) => `${esc(n)} ${k}`)
    .join(', ')}.
Liveness: healed at ${s.liveness.healedAtMs} ms, ${s.liveness.polls} in-doubt poll(s).</p>
${table(
  ['process', 'at ms', 'status', 'failpoint'],
  s.processes.exits.map((e) => [e.name, String(e.atMs), e.status, e.failpoint ?? '(none: unexpected)']),
)}
</body></html>
`;
}

function checkerTable(s: ChaosSummary): string {
  const rows = s.checkers.map((v) => {
    const cls = v.valid ? 'valid' : 'invalid';
    const counts = Object.entries(v.anomalyCounts)
      .map(([t, n]) => `${t}: ${n}`)
      .join(', ');
    const example = v.counterexample ? `<pre>${esc(JSON.stringify(v.counterexample, null, 1))}</pre>` : '';
    return `<tr><td>${esc(v.checker)}</td><td class="${cls}">${v.valid ? 'valid' : 'INVALID'}</td><td>${esc(counts)}${example}</td><td><code>${esc(JSON.stringify(v.stats))}</code></td></tr>`;
  });
  return `<table><tr><th>checker</th><th>verdict</th><th>anomalies (counterexample)</th><th>stats</th></tr>${rows.join('')}</table>`;
}

function chart(series: readonly Series[], s: ChaosSummary, endMs: number): string {
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const yMax = niceMax(Math.max(1, ...series.flatMap((se) => se.points.map((p) => p[1]))));
  const sx = (ms: number) => margin.left + (ms / endMs) * plotW;
  const sy = (v: number) => margin.top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];
  for (const w of s.faults.windows) {
    const from = w.appliedAtMs ?? w.startMs;
    const to = w.healedAtMs ?? w.startMs + w.durationMs;
    const color = KIND_COLORS[w.kind] ?? '#999';
    const x0 = sx(from);
    const barW = Math.max(2, sx(to) - x0);
    const rowY = 4 + (PROCESS_KINDS.has(w.kind) ? 0 : bandRowPx);
    const label = `${w.kind} ${SHORT_TARGET[w.target] ?? w.target.replace(/^shard-/, '')}`;
    const tip = `<title>${esc(`#${w.id} ${w.kind} ${w.target} ${JSON.stringify(w.detail)} ${from}→${to} ms`)}</title>`;
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${margin.top}" width="${barW.toFixed(1)}" height="${plotH}" fill="${color}" fill-opacity="0.08">${tip}</rect>`,
      `<rect x="${x0.toFixed(1)}" y="${rowY}" width="${barW.toFixed(1)}" height="${bandRowPx - 2}" fill="${color}" fill-opacity="0.7">${tip}</rect>`,
    );
    // About 6 px per character at 11 px: draw the label only where it fits.
    if (barW > label.length * 6 + 4)
      parts.push(
        `<text x="${(x0 + 2).toFixed(1)}" y="${rowY + bandRowPx - 4}" fill="#fff">${esc(label)}</text>`,
      );
  }
  if (s.liveness.healedAtMs > 0) {
    const hx = sx(s.liveness.healedAtMs).toFixed(1);
    parts.push(
      `<line x1="${hx}" x2="${hx}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#000" stroke-dasharray="4 3"/><text x="${hx}" y="${margin.top + 12}" text-anchor="end">heal </text>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${sy(v)}" y2="${sy(v)}" stroke="#eee"/><text x="${margin.left - 6}" y="${sy(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  for (let i = 0; i <= 10; i++) {
    const ms = (endMs * i) / 10;
    parts.push(
      `<text x="${sx(ms)}" y="${height - 8}" text-anchor="${i === 10 ? 'end' : 'middle'}">${(ms / 1000).toFixed(1)}s</text>`,
    );
  }
  for (const [i, se] of series.entries()) {
    if (se.points.length > 0) {
      const d = se.points.map(([px, py]) => `${sx(px).toFixed(1)},${sy(py).toFixed(1)}`).join(' ');
      parts.push(`<polyline fill="none" stroke="${se.color}" stroke-width="1.6" points="${d}"/>`);
    }
    parts.push(
      `<text x="${margin.left + 8 + i * 50}" y="${margin.top + 12}" fill="${se.color}">■ ${esc(se.name)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#ccc"/>${parts.join('')}</svg>`;
}

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  if (rows.length === 0) return '<p>(none)</p>';
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('');
  return `<table><tr>${th}</tr>${trs}</table>`;
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
