/**
 * One ioredis client (standalone, Sentinel or Cluster) and the one way the log talks through it:
 * `exec`, which sends a list of commands, each bound to a slot group's hash tag, as pipelines — one
 * pipeline in all for a single server, one per hash tag on a Cluster (ioredis refuses a pipeline
 * whose keys span nodes) — and optionally appends `WAIT replicas timeout` to each, so a write counts
 * only once that many replicas have it. Every pipeline sent is one round trip, counted in
 * `pipelines` (the group-commit test reads it).
 *
 * Timeouts: every command fails after `redisCommandTimeoutMs` (its outcome then unknown: the log's
 * writes are idempotent, callers retry). While the server is unreachable ioredis queues commands and
 * reconnects with backoff; a queued command still fails at its timeout.
 */
import { Cluster, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { TwopcError, describeError, unavailable } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { defineScripts } from './redis-scripts.ts';
import type { RedisLogUrl } from './redis-url.ts';

/** 5 s: a healthy Redis answers in well under a millisecond; five seconds means it is down or stuck. */
export const redisCommandTimeoutMs = 5_000;
/** 5 s to open a TCP (and TLS) connection. */
export const redisConnectTimeoutMs = 5_000;
/** Reconnect backoff: 50 ms growing to 1 s, so a restarted Redis is found again quickly. */
const reconnectDelayMsMax = 1_000;
/** Connection errors logged per outage: the first says it all, the rest would flood the log. */
const connectionErrorsLoggedMax = 1;

export interface SlotCommand {
  /** The hash tag (`{…}`) of every key the command touches. */
  readonly tag: string;
  readonly add: (pipeline: ChainableCommander) => void;
}

export type CommandResult = readonly [error: Error | null, reply: unknown];

export interface WaitPolicy {
  readonly replicas: number;
  readonly timeoutMs: number;
}

export class RedisConnection {
  pipelines = 0;
  private errorsLogged = 0;

  private constructor(
    readonly client: Redis | Cluster,
    readonly url: RedisLogUrl,
    private readonly logger: Logger,
  ) {
    client.on('error', (err: unknown) => {
      if (this.errorsLogged++ < connectionErrorsLoggedMax)
        logger.warn('redis connection error; reconnecting', { url: url.display, error: describeError(err) });
    });
    client.on('ready', () => {
      if (this.errorsLogged > 0) logger.info('redis connection restored', { url: url.display });
      this.errorsLogged = 0;
    });
  }

  get isCluster(): boolean {
    return this.client instanceof Cluster;
  }

  /** Connects (failing with UNAVAILABLE and a hint if the server cannot be reached) and loads the scripts. */
  static async open(
    url: RedisLogUrl,
    logger: Logger,
    commandTimeoutMs = redisCommandTimeoutMs,
  ): Promise<RedisConnection> {
    const client = createClient(url, commandTimeoutMs);
    defineScripts(client);
    const connection = new RedisConnection(client, url, logger);
    try {
      await client.connect();
      if (client instanceof Cluster) await client.cluster('INFO');
      else await client.ping();
    } catch (err) {
      client.disconnect();
      throw new TwopcError(
        'UNAVAILABLE',
        `cannot reach the Redis decision log at ${url.display}: ${describeError(err)}`,
        {
          hint: 'is redis-server running there, and are the address, password and database right?',
          cause: err,
        },
      );
    }
    return connection;
  }

  /** The master nodes, for checks that must run on every one of them (durability). */
  masters(): Redis[] {
    return this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
  }

  /**
   * Sends `commands` (one pipeline, or one per hash tag on a Cluster, in parallel) and resolves with
   * one result per command, in order; never rejects. With `wait`, each pipeline ends with WAIT: if
   * fewer replicas acknowledge in time, every command of that pipeline gets an UNAVAILABLE error
   * (it is applied on the master, but not known to survive a failover).
   */
  async exec(commands: readonly SlotCommand[], wait?: WaitPolicy): Promise<CommandResult[]> {
    if (commands.length === 0) return [];
    const parts = new Map<string, number[]>();
    commands.forEach((c, i) => {
      const tag = this.isCluster ? c.tag : '';
      const list = parts.get(tag);
      if (list === undefined) parts.set(tag, [i]);
      else list.push(i);
    });
    const results: CommandResult[] = new Array<CommandResult>(commands.length);
    await Promise.all(
      [...parts.values()].map(async (indexes) => {
        const replies = await this.execOne(
          indexes.map((i) => commands[i] as SlotCommand),
          wait,
        );
        indexes.forEach((commandIndex, j) => (results[commandIndex] = replies[j] as CommandResult));
      }),
    );
    return results;
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private async execOne(
    commands: readonly SlotCommand[],
    wait: WaitPolicy | undefined,
  ): Promise<CommandResult[]> {
    const pipeline = this.client.pipeline();
    for (const c of commands) c.add(pipeline);
    const waiting = wait !== undefined && wait.replicas > 0;
    if (waiting) pipeline.wait(wait.replicas, wait.timeoutMs);
    this.pipelines++;
    let raw: [Error | null, unknown][] | null;
    try {
      raw = await pipeline.exec();
    } catch (err) {
      raw = null;
      return commands.map(
        () => [unavailable(`redis pipeline failed: ${describeError(err)}`, err), undefined] as const,
      );
    }
    if (raw === null || raw.length !== commands.length + (waiting ? 1 : 0)) {
      return commands.map(() => [unavailable('redis pipeline returned no replies'), undefined] as const);
    }
    if (waiting) {
      const [waitError, acked] = raw[raw.length - 1] as [Error | null, unknown];
      if (waitError !== null || typeof acked !== 'number' || acked < wait.replicas) {
        const why =
          waitError !== null
            ? `WAIT failed: ${describeError(waitError)}`
            : `only ${String(acked)} of ${wait.replicas} replicas acknowledged within ${wait.timeoutMs} ms`;
        const error = unavailable(`decision log write not replicated: ${why}; its outcome is unknown`);
        return commands.map(() => [error, undefined] as const);
      }
    }
    return raw.slice(0, commands.length) as CommandResult[];
  }
}

function createClient(url: RedisLogUrl, commandTimeoutMs: number): Redis | Cluster {
  const auth = {
    ...(url.username === undefined ? {} : { username: url.username }),
    ...(url.password === undefined ? {} : { password: url.password }),
    ...(url.tls ? { tls: {} } : {}),
  };
  const common: RedisOptions = {
    ...auth,
    lazyConnect: true,
    connectTimeout: redisConnectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    // Commands wait for a reconnect, bounded by commandTimeout rather than a count of attempts.
    maxRetriesPerRequest: null,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), reconnectDelayMsMax),
    // A master demoted by a failover answers writes with READONLY: reconnect (Sentinel then finds the
    // new master) and resend. Every write of the log is idempotent, so a resend is safe.
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
  };
  const first = url.nodes[0];
  switch (url.topology) {
    case 'standalone':
      return new Redis({ ...common, host: first?.host, port: first?.port, db: url.db });
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: url.nodes.map((n) => ({ host: n.host, port: n.port })),
        name: url.masterName,
        db: url.db,
        // Listen for Sentinel's +switch-master and reconnect at once, not at the next error.
        failoverDetector: true,
      });
    case 'cluster':
      return new Cluster(
        url.nodes.map((n) => ({ host: n.host, port: n.port })),
        {
          lazyConnect: true,
          scaleReads: 'master',
          clusterRetryStrategy: (attempt: number) => Math.min(100 * attempt, reconnectDelayMsMax),
          redisOptions: {
            ...auth,
            connectTimeout: redisConnectTimeoutMs,
            commandTimeout: commandTimeoutMs,
            maxRetriesPerRequest: null,
          },
        },
      );
  }
}
