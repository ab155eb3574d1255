/**
 * Redis killed (SIGKILL) under load and restarted on the same port and directory, where it replays
 * its AOF (fsync always): every decision a caller heard acknowledged is still there with the seq it
 * was told, writes whose outcome was unknown resolve (idempotently) once Redis is back, and seqs
 * never repeat across the crash.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { seededRandom, seedFromEnv } from '../../common/random.ts';
import { RedisServer } from './redis-server.ts';

const durable = { allowNonDurable: false } as const;
const seed = seedFromEnv();
/** How long the load runs before and after the outage. */
const loadMsEachSide = 1_200;
const workers = 16;

let server: RedisServer | undefined;
afterEach(async () => {
  await server?.cleanup();
  server = undefined;
});

describe('RedisDecisionLog across a Redis crash', () => {
  it('loses no acknowledged decision when Redis is SIGKILLed mid-load and restarted from its AOF', () =>
    crashUnderLoad({ downMs: 400 }));

  it('the same when the outage outlasts the command timeout: unknown outcomes are retried, idempotently', async () => {
    const failures = await crashUnderLoad({ downMs: 1_000, commandTimeoutMs: 250 });
    expect(failures, 'writes that timed out during the outage').toBeGreaterThan(0);
  });
});

/** Runs the load, crashes and restarts Redis in the middle, checks the log; resolves with the failed attempts. */
async function crashUnderLoad(options: { downMs: number; commandTimeoutMs?: number }): Promise<number> {
  server = await RedisServer.start();
  const log = await RedisDecisionLog.open(server.url, {
    durability: durable,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }),
  });
  const acked = new Map<string, bigint>();
  const keyed = new Map<string, string>();
  let failures = 0;
  let stop = false;
  const rnd = seededRandom(seed);
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const txnId = `tx_${w}_${i}`;
      const key = rnd.next() < 0.5 ? `key-${w}-${i}` : '';
      // A write whose outcome is unknown is retried until it is known: logIntent/logCommit are idempotent.
      for (;;) {
        try {
          if (key !== '') {
            expect(await log.logIntent({ txnId, idempotencyKey: key, shards: ['a', 'b'], atMs: 1 })).toBe(
              txnId,
            );
            keyed.set(key, txnId);
          }
          const seq = await log.logCommit({
            txnId,
            shards: ['a', 'b'],
            readOnlyShards: [],
            idempotencyKey: key,
            startedAtMs: 1,
            atMs: 2,
          });
          acked.set(txnId, seq);
          break;
        } catch (err) {
          failures++;
          expect((err as { code?: string }).code, String(err)).toBe('UNAVAILABLE');
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  };
  const load = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  await new Promise((r) => setTimeout(r, loadMsEachSide));
  const beforeCrash = acked.size;
  await server.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, options.downMs));
  await server.restart();
  await new Promise((r) => setTimeout(r, loadMsEachSide));
  stop = true;
  await load;
  await log.close();
  expect(beforeCrash, 'commits before the crash').toBeGreaterThan(50);
  expect(acked.size, 'commits after the restart').toBeGreaterThan(beforeCrash);

  // A fresh connection, as a restarted coordinator would open.
  const reopened = await RedisDecisionLog.open(server.url, { durability: durable });
  try {
    const seqs = new Set<bigint>();
    for (const [txnId, seq] of acked) {
      const record = await reopened.get(txnId);
      expect(record, `acknowledged ${txnId} (seed ${seed})`).toMatchObject({
        state: 'COMMITTED',
        decisionSeq: seq,
      });
      seqs.add(seq);
    }
    expect(seqs.size, 'seqs unique').toBe(acked.size);
    for (const [key, txnId] of keyed) expect((await reopened.byIdempotencyKey(key))?.txnId).toBe(txnId);
    const unfinished = await reopened.unfinished(0n, 100_000);
    expect(new Set(unfinished.map((r) => r.txnId))).toEqual(new Set(acked.keys()));
    const max = [...seqs].reduce((a, b) => (a > b ? a : b), 0n);
    expect(
      await reopened.logCommit({
        txnId: 'tx_after',
        shards: ['a'],
        readOnlyShards: [],
        idempotencyKey: '',
        startedAtMs: 1,
        atMs: 2,
      }),
    ).toBeGreaterThan(max);
    console.log(
      `redis restart (down ${options.downMs} ms): ${acked.size} commits acknowledged, ` +
        `${beforeCrash} before the crash, ${failures} failed attempts retried`,
    );
  } finally {
    await reopened.close();
  }
  return failures;
}
