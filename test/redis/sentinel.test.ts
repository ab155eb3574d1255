/**
 * The Redis decision log behind Redis Sentinel, over real processes (a master, a replica, one
 * Sentinel; each started by the test on a free port, killed by PID): the log finds the master through
 * Sentinel, every forced write waits for the replica (`--redis-durability aof-always,wait:1`), and
 * after a failover to the replica every acknowledged decision is there, and seqs go on increasing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { parseDurabilityAssertion } from '../../coordinator/decision-log/redis-durability.ts';
import { RedisServer } from './redis-server.ts';

const master = 'twopc-test';
/** How long a manual failover may take to complete and be seen. */
const failoverMsMax = 30_000;

const servers: RedisServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.cleanup()));
});

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + failoverMsMax;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('RedisDecisionLog behind Sentinel', () => {
  it('keeps every acknowledged decision across a failover when writes WAIT for the replica', async () => {
    const primary = await RedisServer.start({ extraArgs: ['--repl-diskless-sync-delay', '0'] });
    servers.push(primary);
    const replica = await RedisServer.start({
      extraArgs: ['--replicaof', '127.0.0.1', String(primary.port), '--repl-diskless-sync-delay', '0'],
    });
    servers.push(replica);
    await until('the replica to sync', () => primary.cli('INFO', 'replication').includes('state=online'));
    const sentinel = await RedisServer.startSentinel(master, primary.port);
    servers.push(sentinel);
    await until('Sentinel to see the replica', () =>
      sentinel.cli('SENTINEL', 'REPLICAS', master).includes(String(replica.port)),
    );

    const log = await RedisDecisionLog.open(`redis+sentinel://127.0.0.1:${sentinel.port}/${master}/0`, {
      durability: { allowNonDurable: false, asserted: parseDurabilityAssertion('aof-always,wait:1') },
      commandTimeoutMs: 2_000,
    });
    const acked = new Map<string, bigint>();
    const commit = async (txnId: string) => {
      for (let attempt = 0; ; attempt++) {
        try {
          acked.set(
            txnId,
            await log.logCommit({
              txnId,
              shards: ['a', 'b'],
              readOnlyShards: [],
              idempotencyKey: '',
              startedAtMs: 1,
              atMs: 2,
            }),
          );
          return;
        } catch (err) {
          // During the failover: READONLY, a lost connection, or a WAIT the replica could not answer.
          expect((err as { code?: string }).code, String(err)).toBe('UNAVAILABLE');
          expect(attempt).toBeLessThan(100);
          await sleep(200);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => commit(`tx_before_${i}`)));
      // Sentinel refuses (NOGOODSLAVE) until it has fresh INFO from the replica: ask until it agrees.
      await until(
        'Sentinel to accept the failover',
        () => sentinel.cli('SENTINEL', 'FAILOVER', master) === 'OK',
      );
      const during = Promise.all(Array.from({ length: 40 }, (_, i) => commit(`tx_during_${i}`)));
      await until('the failover', () =>
        sentinel.cli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', master).includes(String(replica.port)),
      );
      await during;
      await Promise.all(Array.from({ length: 40 }, (_, i) => commit(`tx_after_${i}`)));
      expect(replica.cli('INFO', 'replication')).toContain('role:master');

      const seqs = new Set(acked.values());
      expect(seqs.size).toBe(120);
      for (const [txnId, seq] of acked) expect((await log.get(txnId))?.decisionSeq, txnId).toBe(seq);
      const max = [...seqs].reduce((a, b) => (a > b ? a : b));
      const before = [...acked].filter(([t]) => t.startsWith('tx_before_')).map(([, s]) => s);
      const after = [...acked].filter(([t]) => t.startsWith('tx_after_')).map(([, s]) => s);
      expect(after.every((s) => before.every((b) => s > b))).toBe(true);
      expect(max).toBeGreaterThanOrEqual(120n);
    } finally {
      await log.close();
    }
  });
});
