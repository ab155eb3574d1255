/**
 * The `--metrics HOST:PORT` endpoint of the coordinator and the participant: plain HTTP, for a
 * Prometheus scraper (or curl). `GET /metrics` renders the process's families at that moment;
 * `GET /healthz` answers `ok` while the server runs. Anything else is a 404 or a 405, never a stack
 * trace. The endpoint reads counters only: it cannot change anything.
 */
import http from 'node:http';
import type net from 'node:net';
import { TwopcError, describeError } from './errors.ts';
import type { Logger } from './log.ts';
import { renderMetrics, type MetricFamily } from './metrics-text.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** A scrape that has not sent its request within this long is dropped (a stuck client holds a socket). */
export const metricsRequestTimeoutMs = 10_000;
/** Scrapers connected at once; Node drops connections beyond it. */
export const metricsConnectionsMax = 64;
/** How long close() waits for scrapes in flight before it cuts their sockets. */
export const metricsCloseGraceMs = 1_000;

export interface MetricsServer {
  /** HOST:PORT actually bound (port 0 resolved). */
  readonly address: string;
  close(): Promise<void>;
}

/** `collect` runs on every scrape; a throw becomes a 500 with its message (and a log line). */
export async function startMetricsServer(options: {
  readonly listen: string;
  readonly collect: () => readonly MetricFamily[];
  readonly logger: Logger;
}): Promise<MetricsServer> {
  const { listen, collect, logger } = options;
  const { host, port } = splitListen(listen);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== '/metrics' && url !== '/healthz') return reply(res, 404, `not found: ${url}; try /metrics\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'only GET\n');
    if (url === '/healthz') return reply(res, 200, 'ok\n');
    let body: string;
    try {
      body = renderMetrics(collect());
    } catch (err) {
      logger.error('collecting metrics failed', { error: describeError(err) });
      return reply(res, 500, `collecting metrics failed: ${describeError(err)}\n`);
    }
    reply(res, 200, body, METRICS_CONTENT_TYPE);
  });
  server.requestTimeout = metricsRequestTimeoutMs;
  server.maxConnections = metricsConnectionsMax;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new TwopcError('FAILED_PRECONDITION', `cannot serve metrics on ${listen}: ${describeError(err)}`, {
      hint: 'is another process using the port? pick another --metrics address',
      cause: err,
    });
  }
  server.on('error', (err) => logger.warn('metrics listener error', { listen, error: err }));
  const bound = server.address() as net.AddressInfo;
  const address = `${listen.slice(0, listen.lastIndexOf(':'))}:${bound.port}`;
  logger.info('metrics serving', { address });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), metricsCloseGraceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

function reply(
  res: http.ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** HOST:PORT (the CLI has validated it); [v6] loses its brackets for listen(). */
function splitListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(colon + 1)) };
}
