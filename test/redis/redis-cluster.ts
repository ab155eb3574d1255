/**
 * A real Redis Cluster for tests: three masters (no replicas), each a RedisServer (test/redis/
 * redis-server.ts) with `cluster-enabled yes`, joined by `redis-cli --cluster create`. Every master
 * has AOF with fsync always. Stopped by the PIDs of its servers.
 */
import { spawnSync } from 'node:child_process';
import { RedisServer } from './redis-server.ts';

/** How long the cluster may take to agree on its slots after creation. */
const clusterOkTimeoutMs = 20_000;
const clusterMasters = 3;

export class RedisCluster {
  private constructor(readonly nodes: readonly RedisServer[]) {}

  static async start(): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < clusterMasters; i++) {
        nodes.push(
          await RedisServer.start({
            extraArgs: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-node-timeout',
              '2000',
            ],
          }),
        );
      }
      const create = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((n) => `127.0.0.1:${n.port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { encoding: 'utf8' },
      );
      if (create.status !== 0)
        throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
      const deadline = Date.now() + clusterOkTimeoutMs;
      while (!nodes.every((n) => n.cli('CLUSTER', 'INFO').includes('cluster_state:ok'))) {
        if (Date.now() > deadline) throw new Error('the test cluster never reached cluster_state:ok');
        await new Promise((r) => setTimeout(r, 100));
      }
      return new RedisCluster(nodes);
    } catch (err) {
      await Promise.all(nodes.map((n) => n.cleanup()));
      throw err;
    }
  }

  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  /** Empties every master. */
  flushAll(): void {
    for (const n of this.nodes) n.cli('FLUSHALL');
  }

  /** redis-cli in cluster mode (follows redirects) against the first node. */
  cli(...args: string[]): string {
    return (this.nodes[0] as RedisServer).cli('-c', ...args);
  }

  /** Which master holds `key`'s slot. */
  ownerPort(key: string): number {
    const slot = Number((this.nodes[0] as RedisServer).cli('CLUSTER', 'KEYSLOT', key));
    const owner = this.nodes.find((n) => ownsSlot(n, slot));
    if (owner === undefined) throw new Error(`no node owns slot ${slot}`);
    return owner.port;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.cleanup()));
  }
}

function ownsSlot(node: RedisServer, slot: number): boolean {
  const lines = node.cli('CLUSTER', 'NODES').split('\n');
  const myself = lines.find((l) => l.includes('myself'));
  if (myself === undefined) return false;
  return myself
    .split(' ')
    .slice(8)
    .some((range) => {
      const [lo, hi = lo] = range.split('-').map(Number);
      return lo !== undefined && hi !== undefined && slot >= lo && slot <= hi;
    });
}
