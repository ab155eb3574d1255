/**
 * Everything recovery works on, opened from a target description:
 *
 * - offline (processes down): shard files and the decision log file, read and written directly
 *   (data-dir.ts finds them in a `twopc dev`-style data dir);
 * - online (processes up): participants over gRPC, optionally the coordinator over its public API,
 *   and optionally the decision log file (read-only, and for recording heuristic decisions).
 */
import { invalidArgument } from '../../common/errors.ts';
import { CoordinatorView, type CoordinatorSource } from './coordinator-view.ts';
import { LogView } from './log-view.ts';
import { OfflineShard } from './offline-shard.ts';
import { OnlineShard } from './online-shard.ts';
import type { NamedLocation } from './data-dir.ts';
import type { ShardView } from './shard-view.ts';

export type ClusterTarget =
  | { readonly mode: 'offline'; readonly logFile?: string; readonly shards: readonly NamedLocation[] }
  | {
      readonly mode: 'online';
      readonly coordinator?: string;
      readonly logFile?: string;
      readonly participants: readonly NamedLocation[];
    };

export interface RecoveryCluster {
  readonly mode: 'offline' | 'online';
  /** In shard-name order. */
  readonly shards: readonly ShardView[];
  /** Undefined when no log file was named (online without --log). */
  readonly log: LogView | undefined;
  readonly coordinator: CoordinatorSource | undefined;
  shard(name: string): ShardView | undefined;
  close(): Promise<void>;
}

export async function openCluster(target: ClusterTarget): Promise<RecoveryCluster> {
  const shards: ShardView[] = [];
  let log: LogView | undefined;
  let coordinator: CoordinatorView | undefined;
  const closeAll = async () => {
    await Promise.all(shards.map((s) => s.close()));
    await log?.close();
    await coordinator?.close();
  };
  try {
    const named = target.mode === 'offline' ? target.shards : target.participants;
    for (const { name, location } of [...named].sort((a, b) => a.name.localeCompare(b.name))) {
      shards.push(
        target.mode === 'offline' ? OfflineShard.open(name, location) : new OnlineShard(name, location),
      );
    }
    if (target.logFile !== undefined) log = await LogView.openAt(target.logFile);
    if (target.mode === 'online' && target.coordinator !== undefined)
      coordinator = new CoordinatorView(target.coordinator);
    if (shards.length === 0) throw invalidArgument('no shards to work on');
  } catch (err) {
    await closeAll();
    throw err;
  }
  const byName = new Map(shards.map((s) => [s.shard, s]));
  return {
    mode: target.mode,
    shards,
    log,
    coordinator,
    shard: (name) => byName.get(name),
    close: closeAll,
  };
}
