/**
 * The participant's one entry point to WAL shipping: parse the replica URL, open the replica, start
 * the shipper on the shard file. The shard store's own connection must run with
 * `wal_autocheckpoint=0` (the shipper owns checkpoints; see docs/replication.md).
 */
import type { Logger } from '../../common/log.ts';
import { silentLogger } from '../../common/log.ts';
import { openReplicaClient, parseReplicaUrl } from '../replica/replica-url.ts';
import type { S3ReplicaConfig } from '../replica/s3.ts';
import { ShardReplica } from '../replica/shard-replica.ts';
import { resolveShipperConfig, type ReplicationMode, type WalShipperConfig } from './config.ts';
import { WalShipper, type ShipperStats } from './wal-shipper.ts';

export interface WalShippingOptions {
  /** The shard file (its WAL is `${dbPath}-wal`); the shard store must have opened it first. */
  readonly dbPath: string;
  readonly shard: string;
  /** `file://DIR` or `s3://BUCKET/PREFIX?endpoint=…&region=…`. */
  readonly replicaUrl: string;
  readonly mode?: ReplicationMode;
  readonly syncIntervalMs?: number;
  /** Any other tunable (tests shrink intervals and sizes). */
  readonly config?: Partial<WalShipperConfig>;
  /** S3 client overrides (tests: request timeout, list page size). */
  readonly s3?: Partial<S3ReplicaConfig>;
  readonly logger?: Logger;
}

export interface WalShipping {
  readonly mode: ReplicationMode;
  readonly replicaUrl: string;
  /**
   * Resolves once everything committed to the shard before the call is in the replica; rejects with
   * UNAVAILABLE after `timeoutMs` (or when `signal` aborts). Cheap to call often: concurrent calls
   * share uploads.
   */
  waitDurable(options?: { readonly timeoutMs?: number; readonly signal?: AbortSignal }): Promise<void>;
  stats(): ShipperStats;
  /** Stops shipping (flushing first unless `flush: false`) and releases the replica. Idempotent. */
  close(options?: { readonly flush?: boolean }): Promise<void>;
}

export async function startWalShipping(options: WalShippingOptions): Promise<WalShipping> {
  const config = resolveShipperConfig({
    ...options.config,
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(options.syncIntervalMs === undefined ? {} : { syncIntervalMs: options.syncIntervalMs }),
  });
  const location = parseReplicaUrl(options.replicaUrl);
  const client = await openReplicaClient(location, options.s3);
  const logger = (options.logger ?? silentLogger).child('wal-shipper');
  let shipper: WalShipper;
  try {
    shipper = await WalShipper.start({
      dbPath: options.dbPath,
      replica: new ShardReplica(client, options.shard),
      config,
      logger,
    });
  } catch (err) {
    client.close();
    throw err;
  }
  logger.info('WAL shipping started', {
    replica: client.url,
    mode: config.mode,
    syncIntervalMs: config.syncIntervalMs,
  });
  let closing: Promise<void> | undefined;
  return {
    mode: config.mode,
    replicaUrl: client.url,
    waitDurable: (o) => shipper.waitDurable(o),
    stats: () => shipper.stats(),
    close: (o) =>
      (closing ??= shipper.close(o).finally(() => {
        client.close();
      })),
  };
}
