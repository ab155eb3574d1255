/**
 * The Redis decision log on a real three-master Redis Cluster: the shared DecisionLog contract (every
 * script must touch one slot, or the cluster refuses it with CROSSSLOT), and the slot groups really
 * spread over several masters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { KeyLayout, slotGroupsDefault } from '../../coordinator/decision-log/redis-keys.ts';
import { describeDecisionLogContract } from '../coordinator/decision-log-contract.ts';
import { RedisCluster } from './redis-cluster.ts';

const durable = { allowNonDurable: false } as const;
const layout = new KeyLayout(slotGroupsDefault);

let cluster: RedisCluster;

beforeAll(async () => {
  cluster = await RedisCluster.start();
});

afterAll(async () => {
  await cluster?.cleanup();
});

describeDecisionLogContract('Redis Cluster (3 masters)', {
  setup: async () => cluster.flushAll(),
  open: () => RedisDecisionLog.open(cluster.url, { durability: durable }),
  corruptShards: async (txnId) => {
    cluster.cli('HSET', layout.ofTxn(txnId).record(txnId), 'shards', '{"not":"a list"}');
  },
  teardown: async () => {},
});

describe('RedisDecisionLog on a Cluster', () => {
  it('spreads the slot groups over every master and checks durability on each', async () => {
    cluster.flushAll();
    const owners = new Set(layout.groups.map((g) => cluster.ownerPort(g.unfinished)));
    expect(owners.size).toBe(3);
    const log = await RedisDecisionLog.open(cluster.url, { durability: durable });
    try {
      expect(log.durability?.summary).toMatch(/AOF fsync always/);
      const seqs = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          log.logCommit({
            txnId: `tx_${i}`,
            shards: ['a', 'b'],
            readOnlyShards: [],
            idempotencyKey: `key-${i}`,
            startedAtMs: 1,
            atMs: 2,
          }),
        ),
      );
      expect(new Set(seqs).size).toBe(64);
      expect((await log.unfinished(0n, 100)).map((r) => r.decisionSeq)).toEqual(
        [...seqs].sort((a, b) => (a < b ? -1 : 1)),
      );
      for (let i = 0; i < 64; i += 7) expect((await log.byIdempotencyKey(`key-${i}`))?.txnId).toBe(`tx_${i}`);
    } finally {
      await log.close();
    }
  });

  it('refuses to start when any one master is not durable, and names it', async () => {
    const node = cluster.nodes[1]!;
    node.cli('CONFIG', 'SET', 'appendfsync', 'everysec');
    try {
      await expect(RedisDecisionLog.open(cluster.url, { durability: durable })).rejects.toThrow(
        new RegExp(`127\\.0\\.0\\.1:${node.port}: appendonly=yes, appendfsync=everysec`),
      );
    } finally {
      node.cli('CONFIG', 'SET', 'appendfsync', 'always');
    }
  });
});
