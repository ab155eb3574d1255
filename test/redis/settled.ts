/**
 * The convergence check of the Redis end-to-end tests: nothing pending, locked or PREPARED on any
 * shard of `cluster`, and no COMMIT without END in the Redis decision log at `redisUrl`.
 */
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import type { Cluster } from '../integration/cluster.ts';
import { readAll } from '../recovery/shard-files.ts';

export async function settledOnRedis(cluster: Cluster, redisUrl: string): Promise<boolean> {
  for (const snap of readAll(cluster).values())
    if (snap.pendingRows > 0 || snap.locks > 0 || snap.prepared.length > 0) return false;
  const log = await RedisDecisionLog.open(redisUrl, { mode: 'read-only' });
  try {
    return (await log.unfinished(0n, 1)).length === 0;
  } finally {
    await log.close();
  }
}
