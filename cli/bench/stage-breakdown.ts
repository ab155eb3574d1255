/**
 * Where twopc's time goes in a slice, read from the processes' own /metrics pages (docs/operations.md)
 * before and after the measured window: the mean of each two-phase-commit stage, how long the
 * participants' flushes took and how many messages each carried, how many COMMIT records shared
 * one decision-log fsync, and how busy each event loop was. The same figures an operator's dashboard
 * shows, so a bench row can be explained without a profiler.
 */

/** Samples of one /metrics page by series (`name{labels}` as printed). */
export type MetricsPage = ReadonlyMap<string, number>;

export interface ProcessScrape {
  readonly name: string;
  readonly page: MetricsPage;
}

/** A scrape of every process of a deployment at one moment. */
export interface DeploymentScrape {
  readonly atMs: number;
  readonly processes: readonly ProcessScrape[];
}

export interface StageBreakdown {
  /** Means over the transactions of the window, in ms. NaN when none went through the stage. */
  readonly protocolMs: number;
  readonly prepareMs: number;
  readonly decisionMs: number;
  readonly commitMs: number;
  /** Participants' flushes: mean duration (fsync included) and messages per flush, over all shards. */
  readonly flushMs: number;
  readonly messagesPerFlush: number;
  /** COMMIT records forced per forced decision-log batch (one fsync each): the log's group commit. */
  readonly commitsPerLogFsync: number;
  /** Event-loop utilisation (0..1) per process name. */
  readonly eventLoop: Readonly<Record<string, number>>;
}

/** A scrape must answer within this long, or the row's breakdown is left out (the slice still counts). */
export const scrapeTimeoutMs = 5_000;

export async function scrapePage(url: string): Promise<MetricsPage> {
  const res = await fetch(url, { signal: AbortSignal.timeout(scrapeTimeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return parseMetricsPage(await res.text());
}

export function parseMetricsPage(text: string): MetricsPage {
  const page = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    page.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return page;
}

/** Sum over every series of `name` whose labels contain `match` (e.g. `kind="prepare"`), after - before. */
function delta(before: MetricsPage, after: MetricsPage, name: string, match = ''): number {
  let total = 0;
  for (const [series, value] of after) {
    const brace = series.indexOf('{');
    const seriesName = brace < 0 ? series : series.slice(0, brace);
    if (seriesName !== name || !series.includes(match)) continue;
    total += value - (before.get(series) ?? 0);
  }
  return total;
}

/** Mean of a histogram over the window, in ms. */
function meanMs(before: MetricsPage, after: MetricsPage, name: string, match = ''): number {
  const count = delta(before, after, `${name}_count`, match);
  return count > 0 ? (1000 * delta(before, after, `${name}_sum`, match)) / count : Number.NaN;
}

export function stageBreakdown(before: DeploymentScrape, after: DeploymentScrape): StageBreakdown {
  const windowSec = (after.atMs - before.atMs) / 1000;
  const pairs = after.processes.flatMap((a) => {
    const b = before.processes.find((p) => p.name === a.name);
    return b === undefined ? [] : [{ name: a.name, before: b.page, after: a.page }];
  });
  const coordinator = pairs.find((p) => p.name === 'coordinator');
  const shards = pairs.filter((p) => p.name !== 'coordinator');
  const sumShards = (name: string, match = '') =>
    shards.reduce((t, s) => t + delta(s.before, s.after, name, match), 0);
  const flushes = sumShards('twopc_flushes_total');
  // Timed flushes: a batch that failed and was retried message by message is timed per message.
  const timedFlushes = sumShards('twopc_flush_duration_seconds_count');
  const flushSec = sumShards('twopc_flush_duration_seconds_sum');
  const messages = sumShards('twopc_prepares_total') + sumShards('twopc_decisions_total');
  const c = coordinator ?? { before: new Map(), after: new Map() };
  const stage = (s: string) => meanMs(c.before, c.after, 'twopc_stage_duration_seconds', `stage="${s}"`);
  const forcedBatches = delta(c.before, c.after, 'twopc_decision_log_forced_batches_total');
  const commitsForced = delta(c.before, c.after, 'twopc_stage_duration_seconds_count', 'stage="decision"');
  return {
    protocolMs: meanMs(c.before, c.after, 'twopc_protocol_duration_seconds', 'result="committed"'),
    prepareMs: stage('prepare'),
    decisionMs: stage('decision'),
    commitMs: stage('commit'),
    flushMs: timedFlushes > 0 ? (1000 * flushSec) / timedFlushes : Number.NaN,
    messagesPerFlush: flushes > 0 ? messages / flushes : Number.NaN,
    commitsPerLogFsync: forcedBatches > 0 ? commitsForced / forcedBatches : Number.NaN,
    eventLoop: Object.fromEntries(
      pairs.map((p) => [
        p.name,
        windowSec > 0
          ? delta(p.before, p.after, 'nodejs_eventloop_active_seconds_total') / windowSec
          : Number.NaN,
      ]),
    ),
  };
}

/** The mean of several slices' breakdowns, field by field (NaN fields left out of their mean). */
export function meanBreakdown(all: readonly StageBreakdown[]): StageBreakdown {
  const mean = (pick: (b: StageBreakdown) => number | undefined) => {
    const values = all.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
  };
  const names = [...new Set(all.flatMap((b) => Object.keys(b.eventLoop)))];
  return {
    protocolMs: mean((b) => b.protocolMs),
    prepareMs: mean((b) => b.prepareMs),
    decisionMs: mean((b) => b.decisionMs),
    commitMs: mean((b) => b.commitMs),
    flushMs: mean((b) => b.flushMs),
    messagesPerFlush: mean((b) => b.messagesPerFlush),
    commitsPerLogFsync: mean((b) => b.commitsPerLogFsync),
    eventLoop: Object.fromEntries(names.map((n) => [n, mean((b) => b.eventLoop[n])])),
  };
}
