/**
 * The Redis decision log against a real redis-server (AOF, fsync always), started per test on a free
 * port and killed by PID: the shared DecisionLog contract, plus what is Redis's own — open modes,
 * the layout's meta keys, stale idempotency-key claims.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { KeyLayout, slotGroupsDefault } from '../../coordinator/decision-log/redis-keys.ts';
import { describeDecisionLogContract } from '../coordinator/decision-log-contract.ts';
import { RedisServer } from './redis-server.ts';

const durable = { allowNonDurable: false } as const;
const layout = new KeyLayout(slotGroupsDefault);

let server: RedisServer;

describeDecisionLogContract('Redis (one server)', {
  setup: async () => {
    server = await RedisServer.start();
  },
  open: () => RedisDecisionLog.open(server.url, { durability: durable }),
  corruptShards: async (txnId) => {
    server.cli('HSET', layout.ofTxn(txnId).record(txnId), 'shards', '{"not":"a list"}');
  },
  teardown: () => server.cleanup(),
});

describe('RedisDecisionLog', () => {
  beforeEach(async () => {
    server = await RedisServer.start();
  });
  afterEach(() => server.cleanup());

  it('tool and read-only opens never bump the epoch; read-only refuses writes; a missing log is NOT_FOUND', async () => {
    await expect(RedisDecisionLog.open(server.url, { mode: 'read-only' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(
      RedisDecisionLog.open(server.url, { mode: 'tool', durability: durable }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const coordinator = await RedisDecisionLog.open(server.url, { durability: durable });
    const epoch = coordinator.epoch;
    await coordinator.logCommit({
      txnId: 'tx_1',
      shards: ['a'],
      readOnlyShards: [],
      idempotencyKey: '',
      startedAtMs: 1,
      atMs: 2,
    });
    await coordinator.close();
    const reader = await RedisDecisionLog.open(server.url, { mode: 'read-only' });
    expect(reader.epoch).toBe(epoch);
    expect(reader.writable).toBe(false);
    await expect(reader.logEnd('tx_1', 5)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(reader.gc(1, 1)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((await reader.get('tx_1'))?.state).toBe('COMMITTED');
    await reader.close();
    const tool = await RedisDecisionLog.open(server.url, { mode: 'tool', durability: durable });
    expect(tool.epoch).toBe(epoch);
    await tool.close();
    const again = await RedisDecisionLog.open(server.url, { durability: durable });
    expect(again.epoch).toBe(epoch + 1n);
    await again.close();
  });

  it('keeps the slot-group count the log was created with, and refuses a different one', async () => {
    const first = await RedisDecisionLog.open(`${server.url}?groups=4`, { durability: durable });
    await first.logCommit({
      txnId: 'tx_1',
      shards: ['a'],
      readOnlyShards: [],
      idempotencyKey: '',
      startedAtMs: 1,
      atMs: 2,
    });
    await first.close();
    expect(server.cli('HGET', '{twopc}:meta', 'groups')).toBe('4');
    const same = await RedisDecisionLog.open(server.url, { durability: durable });
    expect((await same.get('tx_1'))?.state).toBe('COMMITTED');
    await same.close();
    await expect(
      RedisDecisionLog.open(`${server.url}?groups=8`, { durability: durable }),
    ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/groups=4/) });
  });

  it('takes over an idempotency key whose owner record is gone (a stale claim), and only then', async () => {
    const log = await RedisDecisionLog.open(server.url, { durability: durable });
    try {
      expect(await log.logIntent({ txnId: 'tx_1', idempotencyKey: 'k', shards: ['a'], atMs: 1 })).toBe(
        'tx_1',
      );
      // The owner is alive: the key stays with it.
      expect(await log.logIntent({ txnId: 'tx_2', idempotencyKey: 'k', shards: ['a'], atMs: 1 })).toBe(
        'tx_1',
      );
      // The owner's record vanished but its key entry survived (a GC or a failover cut in between).
      server.cli('DEL', layout.ofTxn('tx_1').record('tx_1'));
      expect(await log.byIdempotencyKey('k')).toBeUndefined();
      expect(await log.logIntent({ txnId: 'tx_3', idempotencyKey: 'k', shards: ['a'], atMs: 1 })).toBe(
        'tx_3',
      );
      expect((await log.byIdempotencyKey('k'))?.txnId).toBe('tx_3');
    } finally {
      await log.close();
    }
  });
});
