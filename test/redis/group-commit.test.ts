/**
 * Group commit and seqs on a real redis-server (AOF, fsync always; started per test, killed by PID):
 * many concurrent writes cost a few round trips, not one each; seqs stay unique and increasing when
 * two coordinators share one log; duplicated logCommits resolve with one seq.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { seededRandom, seedFromEnv } from '../../common/random.ts';
import { RedisServer } from './redis-server.ts';

const durable = { allowNonDurable: false } as const;
const seed = seedFromEnv();

let server: RedisServer;
const logs: RedisDecisionLog[] = [];

async function open(): Promise<RedisDecisionLog> {
  const log = await RedisDecisionLog.open(server.url, { durability: durable });
  logs.push(log);
  return log;
}

const commitRecord = (txnId: string, key = '') => ({
  txnId,
  shards: ['a', 'b'],
  readOnlyShards: [],
  idempotencyKey: key,
  startedAtMs: 1,
  atMs: 2,
});

beforeEach(async () => {
  server = await RedisServer.start();
});

afterEach(async () => {
  await Promise.all(logs.splice(0).map((l) => l.close()));
  await server.cleanup();
});

const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

describe('RedisDecisionLog group commit', () => {
  it('sends 500 concurrent COMMITs in one batch: two pipelines (seq range + scripts), not 500 round trips', async () => {
    const log = await open();
    const before = log.stats();
    const calls = 500;
    const seqs = await Promise.all(
      Array.from({ length: calls }, (_, i) => log.logCommit(commitRecord(`tx_${i}`))),
    );
    const after = log.stats();
    expect(after.batches - before.batches).toBe(1);
    expect(after.pipelines - before.pipelines).toBe(2);
    expect(new Set(seqs).size).toBe(calls);
    expect(seqs).toEqual([...seqs].sort(ascending));
    // Keyed INTENTs: the record scripts, then the key claims: two more pipelines.
    const owners = await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        log.logIntent({ txnId: `tx_k${i}`, idempotencyKey: `key-${i}`, shards: ['a'], atMs: 3 }),
      ),
    );
    expect(owners).toEqual(Array.from({ length: calls }, (_, i) => `tx_k${i}`));
    expect(log.stats().pipelines - after.pipelines).toBe(2);
  });

  it('batches writes that arrive while a batch is in flight, and lazy ones without a forced one', async () => {
    const log = await open();
    const before = log.stats();
    const waves = 20;
    const perWave = 25;
    const all: Promise<bigint>[] = [];
    for (let w = 0; w < waves; w++) {
      for (let i = 0; i < perWave; i++) all.push(log.logCommit(commitRecord(`tx_${w}_${i}`)));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    const batches = log.stats().batches - before.batches;
    expect(batches).toBeLessThan(waves * perWave);
    expect(batches).toBeLessThanOrEqual(waves);
    const ends: Promise<void>[] = [];
    for (let w = 0; w < waves; w++)
      for (let i = 0; i < perWave; i++) ends.push(log.logEnd(`tx_${w}_${i}`, 9));
    await Promise.all(ends);
    expect(log.stats().batches - before.batches - batches).toBeLessThanOrEqual(2);
    expect(await log.unfinished(0n, 10)).toEqual([]);
  });

  it('two coordinators on one log: seqs unique across both, increasing in each one’s call order', async () => {
    const [a, b] = [await open(), await open()];
    expect(b.epoch).toBe(a.epoch + 1n);
    const rnd = seededRandom(seed);
    const run = async (log: RedisDecisionLog, name: string) => {
      const seqs: bigint[] = [];
      for (let round = 0; round < 30; round++) {
        const n = rnd.int(1, 20);
        const batch = await Promise.all(
          Array.from({ length: n }, (_, i) => log.logCommit(commitRecord(`tx_${name}_${round}_${i}`))),
        );
        seqs.push(...batch);
      }
      return seqs;
    };
    const [sa, sb] = await Promise.all([run(a, 'a'), run(b, 'b')]);
    expect(sa).toEqual([...sa].sort(ascending));
    expect(sb).toEqual([...sb].sort(ascending));
    expect(new Set([...sa, ...sb]).size, `seed ${seed}`).toBe(sa.length + sb.length);
  });

  it('resolves duplicated logCommits (same batch, later batch, other coordinator) with the first seq', async () => {
    const [a, b] = [await open(), await open()];
    const same = await Promise.all([
      a.logCommit(commitRecord('tx_dup', 'kd')),
      a.logCommit(commitRecord('tx_dup', 'kd')),
      b.logCommit(commitRecord('tx_dup', 'kd')),
    ]);
    expect(new Set(same).size).toBe(1);
    expect(await b.logCommit(commitRecord('tx_dup', 'kd'))).toBe(same[0]);
    expect(await a.get('tx_dup')).toMatchObject({ decisionSeq: same[0], state: 'COMMITTED' });
    expect((await b.byIdempotencyKey('kd'))?.txnId).toBe('tx_dup');
    // A refused COMMIT (the txn is ABORTED) on one coordinator is refused on the other too.
    await a.logOutcome({
      txnId: 'tx_ab',
      outcome: 'ABORTED',
      shards: ['a', 'b'],
      idempotencyKey: '',
      abortReason: 'TIMEOUT',
      reason: 'slow',
      invalid: false,
      startedAtMs: 1,
      atMs: 2,
    });
    await expect(b.logCommit(commitRecord('tx_ab'))).rejects.toThrow(/recorded ABORTED/);
  });
});
