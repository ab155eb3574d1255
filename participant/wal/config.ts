/**
 * Named defaults and limits of WAL shipping (`--replication`, `--sync-interval`, …). Each bounds
 * something that would otherwise grow or wait without limit; units and qualifiers go last. Config
 * is validated once by `resolveShipperConfig` and frozen.
 */
import { invalidArgument } from '../../common/errors.ts';

export const REPLICATION_MODES = ['async', 'sync'] as const;
export type ReplicationMode = (typeof REPLICATION_MODES)[number];

export interface WalShipperConfig {
  /**
   * `async` (default): ship every `syncIntervalMs`; a lost disk loses at most about that much.
   * `sync`: `waitDurable()` resolves only once everything committed before it is uploaded; the
   * participant holds YES votes and commit acks on it (RPO 0).
   */
  readonly mode: ReplicationMode;
  /** Default 1 s. Async: how often new WAL frames are shipped. Sync: background cadence for frames nobody waits on. */
  readonly syncIntervalMs: number;
  /** Default 4 MiB. Raw WAL bytes per segment; a single larger transaction gets a segment of its own. */
  readonly segmentBytesMax: number;
  /**
   * Default 64 MiB. WAL bytes read but not yet uploaded, kept in memory. Past it the shipper stops
   * reading (and so stops checkpointing): while the store is down the WAL grows on local disk instead.
   */
  readonly queueBytesMax: number;
  /** Default 4 MiB (SQLite's own 1000 pages of 4 KiB). Checkpoint once the shipped WAL is this big. */
  readonly checkpointWalBytesMin: number;
  /** Default 1 min. Checkpoint a smaller, fully shipped WAL after this long, so it does not linger. */
  readonly checkpointIntervalMs: number;
  /**
   * Default 1 h; 0 = only the snapshot that starts a generation. A restore replays every segment
   * since the last snapshot, so this bounds restore time.
   */
  readonly snapshotIntervalMs: number;
  /**
   * Default 24 h; 0 = keep everything. Any point in the last `retentionMs` stays restorable; older
   * snapshots, segments and generations are deleted.
   */
  readonly retentionMs: number;
  /** Default 10 min. How often retention runs. */
  readonly retentionCheckIntervalMs: number;
  /** Default 100 ms. First retry delay after a failed upload (then doubling, with jitter). */
  readonly retryBackoffMsBase: number;
  /** Default 5 s. Longest delay between upload retries: a store that comes back is used within this. */
  readonly retryBackoffMsMax: number;
  /** Default 10 s. How long `close()` keeps trying to upload what is committed before giving up. */
  readonly closeFlushTimeoutMs: number;
}

export const WAL_SHIPPER_DEFAULTS: WalShipperConfig = Object.freeze({
  mode: 'async',
  syncIntervalMs: 1_000,
  segmentBytesMax: 4 * 2 ** 20,
  queueBytesMax: 64 * 2 ** 20,
  checkpointWalBytesMin: 4 * 2 ** 20,
  checkpointIntervalMs: 60_000,
  snapshotIntervalMs: 60 * 60_000,
  retentionMs: 24 * 60 * 60_000,
  retentionCheckIntervalMs: 10 * 60_000,
  retryBackoffMsBase: 100,
  retryBackoffMsMax: 5_000,
  closeFlushTimeoutMs: 10_000,
});

/** Bounds of the tunables: sanity limits, so a typo is an error rather than a 10-year interval. */
const LIMITS: Readonly<Record<Exclude<keyof WalShipperConfig, 'mode'>, readonly [number, number]>> = {
  syncIntervalMs: [1, 3_600_000],
  segmentBytesMax: [64 * 1024, 1024 * 2 ** 20],
  queueBytesMax: [64 * 1024, 16 * 2 ** 30],
  checkpointWalBytesMin: [0, 16 * 2 ** 30],
  checkpointIntervalMs: [0, 7 * 24 * 3_600_000],
  snapshotIntervalMs: [0, 365 * 24 * 3_600_000],
  retentionMs: [0, 10 * 365 * 24 * 3_600_000],
  retentionCheckIntervalMs: [1, 7 * 24 * 3_600_000],
  retryBackoffMsBase: [1, 60_000],
  retryBackoffMsMax: [1, 3_600_000],
  closeFlushTimeoutMs: [0, 3_600_000],
};

export function resolveShipperConfig(overrides: Partial<WalShipperConfig> = {}): WalShipperConfig {
  const config: WalShipperConfig = { ...WAL_SHIPPER_DEFAULTS, ...overrides };
  if (!(REPLICATION_MODES as readonly string[]).includes(config.mode))
    throw invalidArgument(`replication mode "${config.mode}" is not one of ${REPLICATION_MODES.join(', ')}`);
  for (const [name, [min, max]] of Object.entries(LIMITS)) {
    const value = config[name as keyof typeof LIMITS];
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw invalidArgument(`WAL shipping: ${name} = ${value} is not an integer from ${min} to ${max}`);
  }
  if (config.queueBytesMax < config.segmentBytesMax)
    throw invalidArgument('WAL shipping: queueBytesMax must be at least segmentBytesMax');
  if (config.retryBackoffMsMax < config.retryBackoffMsBase)
    throw invalidArgument('WAL shipping: retryBackoffMsMax must be at least retryBackoffMsBase');
  return Object.freeze(config);
}
