/**
 * The Prometheus text format and the metrics endpoint: what a scraper parses must be exactly right
 * (cumulative buckets, `le` inclusive, escaped labels), and the endpoint must answer bad requests
 * with a status, not a crash.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { silentLogger } from '../../common/log.ts';
import { METRICS_CONTENT_TYPE, startMetricsServer, type MetricsServer } from '../../common/metrics-server.ts';
import {
  LATENCY_BUCKETS_SEC,
  LatencyHistogram,
  counter,
  gauge,
  histogram,
  renderMetrics,
  withLabels,
} from '../../common/metrics-text.ts';
import { processMetricFamilies } from '../../common/process-metrics.ts';

describe('renderMetrics', () => {
  it('writes HELP, TYPE and one line per sample, labels escaped', () => {
    const text = renderMetrics([
      counter('t_total', 'Things.\nTwo lines.', [
        { labels: { kind: 'a"b\\c\nd' }, value: 3 },
        { labels: { kind: 'plain' }, value: 12345678901234567890n },
      ]),
      gauge('t_gauge', 'A gauge.', 0.5),
      gauge('t_empty', 'Nothing yet.', []),
    ]);
    expect(text).toBe(
      [
        '# HELP t_total Things.\\nTwo lines.',
        '# TYPE t_total counter',
        't_total{kind="a\\"b\\\\c\\nd"} 3',
        't_total{kind="plain"} 12345678901234567890',
        '# HELP t_gauge A gauge.',
        '# TYPE t_gauge gauge',
        't_gauge 0.5',
        '# HELP t_empty Nothing yet.',
        '# TYPE t_empty gauge',
        '',
      ].join('\n'),
    );
  });

  it('writes a histogram as cumulative buckets, +Inf, sum and count; a bound is inclusive', () => {
    const h = new LatencyHistogram();
    h.observeMs(0.05); // 50 µs: first bucket
    h.observeMs(1); // exactly 1 ms: the le="0.001" bucket, not the next
    h.observeMs(3); // 3 ms: le="0.005"
    h.observeMs(60_000); // past the last bound: only +Inf
    h.observeMs(-1); // ignored: a clock step, not a duration
    h.observeMs(Number.NaN);
    const lines = renderMetrics([
      histogram('t_seconds', 'Durations.', [{ labels: { stage: 'x' }, histogram: h }]),
    ])
      .trim()
      .split('\n');
    const bucket = (le: string) => {
      const line = lines.find((l) => l.startsWith(`t_seconds_bucket{stage="x",le="${le}"} `));
      expect(line, le).toBeDefined();
      return Number(line!.split(' ')[1]);
    };
    expect(bucket('0.0001')).toBe(1);
    expect(bucket('0.0005')).toBe(1);
    expect(bucket('0.001')).toBe(2);
    expect(bucket('0.0025')).toBe(2);
    expect(bucket('0.005')).toBe(3);
    expect(bucket('10')).toBe(3);
    expect(bucket('+Inf')).toBe(4);
    expect(lines.filter((l) => l.startsWith('t_seconds_bucket'))).toHaveLength(
      LATENCY_BUCKETS_SEC.length + 1,
    );
    expect(lines).toContain('t_seconds_count{stage="x"} 4');
    const sum = Number(lines.find((l) => l.startsWith('t_seconds_sum'))!.split(' ')[1]);
    expect(sum).toBeCloseTo(60.00405, 6);
  });

  it('withLabels adds labels to every series, counters and histograms alike', () => {
    const h = new LatencyHistogram();
    h.observeMs(2);
    const text = renderMetrics([
      withLabels(counter('c_total', 'C.', [{ labels: { kind: 'k' }, value: 1 }]), { shard: 's1' }),
      withLabels(histogram('h_seconds', 'H.', [{ histogram: h }]), { shard: 's1' }),
    ]);
    expect(text).toContain('c_total{shard="s1",kind="k"} 1');
    expect(text).toContain('h_seconds_bucket{shard="s1",le="0.0025"} 1');
    expect(text).toContain('h_seconds_count{shard="s1"} 1');
  });

  it('process metrics carry the standard names', () => {
    const text = renderMetrics(processMetricFamilies());
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_active_seconds_total',
    ])
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
  });
});

describe('metrics endpoint', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const start = async (collect: () => ReturnType<typeof counter>[]) => {
    server = await startMetricsServer({ listen: '127.0.0.1:0', collect, logger: silentLogger });
    return `http://${server.address}`;
  };

  it('serves /metrics fresh on every scrape, and /healthz', async () => {
    let n = 0;
    const base = await start(() => [counter('scrapes_total', 'Scrapes.', ++n)]);
    const first = await fetch(`${base}/metrics`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe(METRICS_CONTENT_TYPE);
    expect(await first.text()).toContain('scrapes_total 1\n');
    expect(await (await fetch(`${base}/metrics?x=1`)).text()).toContain('scrapes_total 2\n');
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
  });

  it('answers unknown paths 404, other methods 405, and a failing collector 500', async () => {
    let fail = false;
    const base = await start(() => {
      if (fail) throw new Error('store closed');
      return [];
    });
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    fail = true;
    const broken = await fetch(`${base}/metrics`);
    expect(broken.status).toBe(500);
    expect(await broken.text()).toContain('store closed');
    fail = false;
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });

  it('a port in use is a FAILED_PRECONDITION naming the address, and close frees the port', async () => {
    const base = await start(() => []);
    const address = server!.address;
    const err = await startMetricsServer({ listen: address, collect: () => [], logger: silentLogger }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TwopcError);
    expect((err as TwopcError).code).toBe('FAILED_PRECONDITION');
    expect((err as TwopcError).message).toContain(`cannot serve metrics on ${address}`);
    await fetch(`${base}/metrics`); // a keep-alive connection must not hold close()
    await server!.close();
    server = undefined;
    const port = Number(address.split(':')[1]);
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer().once('error', reject);
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
  });
});
