/**
 * Metrics in Prometheus' text exposition format (version 0.0.4), the format every scraper reads:
 *
 *     # HELP twopc_txns_total Transactions decided, by outcome.
 *     # TYPE twopc_txns_total counter
 *     twopc_txns_total{outcome="committed"} 42
 *
 * A process builds its families on each scrape from the counters it already keeps (nothing is
 * registered globally, so two servers in one test process never share a number). Durations are in
 * seconds, as Prometheus expects; `LatencyHistogram` takes milliseconds and converts.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels?: Labels;
  readonly value: number | bigint;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Counters and gauges: one sample per label set. Histograms: use `LatencyHistogram.samples`. */
  readonly samples: readonly HistogramSeries[] | readonly Sample[];
}

/** One labelled series of a histogram family. */
export interface HistogramSeries {
  readonly labels?: Labels;
  readonly histogram: LatencyHistogram;
}

/**
 * Upper bounds (seconds) of the latency buckets: 100 µs to 10 s, about three per decade — fine enough
 * to tell a fsync (~0.2 ms here) from a network round trip and a convoy (~10 ms) from a timeout.
 */
export const LATENCY_BUCKETS_SEC: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Counts of durations per bucket, plus their sum; cheap enough for every transaction (no allocation). */
export class LatencyHistogram {
  private readonly counts = new Float64Array(LATENCY_BUCKETS_SEC.length + 1);
  private sumSec = 0;
  private total = 0;

  observeMs(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const sec = ms / 1000;
    let i = 0;
    while (i < LATENCY_BUCKETS_SEC.length && sec > (LATENCY_BUCKETS_SEC[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sumSec += sec;
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  /** Seconds observed in all. */
  get sum(): number {
    return this.sumSec;
  }

  /** Cumulative counts per upper bound, the last one for +Inf. */
  cumulative(): number[] {
    let running = 0;
    return Array.from(this.counts, (c) => (running += c));
  }
}

/** Renders the families; a family without samples still gets its HELP and TYPE (it exists, at zero). */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') {
      for (const series of f.samples as readonly HistogramSeries[]) pushHistogram(lines, f.name, series);
    } else {
      for (const s of f.samples as readonly Sample[])
        lines.push(`${f.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

function pushHistogram(lines: string[], name: string, series: HistogramSeries): void {
  const cumulative = series.histogram.cumulative();
  LATENCY_BUCKETS_SEC.forEach((le, i) =>
    lines.push(`${name}_bucket${formatLabels(series.labels, String(le))} ${cumulative[i]}`),
  );
  lines.push(`${name}_bucket${formatLabels(series.labels, '+Inf')} ${series.histogram.count}`);
  lines.push(`${name}_sum${formatLabels(series.labels)} ${formatValue(series.histogram.sum)}`);
  lines.push(`${name}_count${formatLabels(series.labels)} ${series.histogram.count}`);
}

function formatLabels(labels: Labels | undefined, le?: string): string {
  const pairs = Object.entries(labels ?? {}).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (le !== undefined) pairs.push(`le="${le}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function formatValue(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Shorthands for the common cases. */
export function counter(name: string, help: string, samples: readonly Sample[] | number): MetricFamily {
  return {
    name,
    help,
    type: 'counter',
    samples: typeof samples === 'number' ? [{ value: samples }] : samples,
  };
}

export function gauge(name: string, help: string, samples: readonly Sample[] | number): MetricFamily {
  return { name, help, type: 'gauge', samples: typeof samples === 'number' ? [{ value: samples }] : samples };
}

export function histogram(name: string, help: string, series: readonly HistogramSeries[]): MetricFamily {
  return { name, help, type: 'histogram', samples: series };
}

/** The same family with `labels` added to every series (e.g. a participant's shard). */
export function withLabels(family: MetricFamily, labels: Labels): MetricFamily {
  if (family.type === 'histogram')
    return histogram(
      family.name,
      family.help,
      (family.samples as readonly HistogramSeries[]).map((s) => ({
        ...s,
        labels: { ...labels, ...s.labels },
      })),
    );
  return {
    ...family,
    samples: (family.samples as readonly Sample[]).map((s) => ({ ...s, labels: { ...labels, ...s.labels } })),
  };
}
