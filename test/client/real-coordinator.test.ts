/**
 * The SDK against a real coordinator and two real participants (in-process servers on 127.0.0.1:0,
 * SQLite files in a temp dir): a forced conflict is retried, concurrent read-modify-write
 * transactions lose no update, and the other calls decode what a real server sends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedFromEnv, seededRandom } from '../../common/random.ts';
import type { CoordinatorServer } from '../../coordinator/coordinator-server.ts';
import type { ParticipantServer } from '../../participant/participant-server.ts';
import { startCoordinatorFor, startParticipants } from '../helpers/servers.ts';
import { TransactionAbortedError } from '../../client/transaction-aborted-error.ts';
import { TwopcClient } from '../../client/twopc-client.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL CHECK (balance >= 0));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 100);
INSERT OR IGNORE INTO counters VALUES ('hits', 0);
`;
const SHARDS = ['shard-a', 'shard-b'] as const;
/** Concurrent read-modify-write transactions on one counter: enough to make conflicts near certain. */
const concurrentIncrements = 8;

let dir: string;
let participants: ParticipantServer[] = [];
let coordinator: CoordinatorServer;
let client: TwopcClient;
const seed = seedFromEnv();
const random = seededRandom(seed);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-sdk-'));
  participants = await startParticipants(dir, SHARDS, SCHEMA);
  coordinator = await startCoordinatorFor(participants, path.join(dir, 'coordinator'));
  client = new TwopcClient(coordinator.address);
});

afterAll(async () => {
  client?.close();
  await coordinator?.close();
  await Promise.all(participants.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function balance(shard: string, id: bigint): Promise<unknown> {
  return (await client.query(shard, 'SELECT balance FROM accounts WHERE id = ?', [id])).rows[0]?.balance;
}

describe(`SDK against a real coordinator (TWOPC_SEED=${seed})`, () => {
  it('execute commits a cross-shard transfer, and an overdraft aborts with CONSTRAINT', async () => {
    const ok = await client.execute([
      { shard: 'shard-a', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: -30 } },
      { shard: 'shard-b', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: 30 } },
    ]);
    expect(ok.outcome).toBe('COMMITTED');
    expect(ok.decisionSeq).toBeGreaterThan(0n);
    expect([await balance('shard-a', 1n), await balance('shard-b', 1n)]).toEqual([70n, 130n]);

    const overdraft = await client.execute([
      { shard: 'shard-a', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: -1000 } },
      { shard: 'shard-b', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: 1000 } },
    ]);
    expect(overdraft).toMatchObject({ outcome: 'ABORTED', abortReason: 'CONSTRAINT' });
    expect([await balance('shard-a', 1n), await balance('shard-b', 1n)]).toEqual([70n, 130n]);

    const view = await client.getTransaction(ok.txnId);
    expect(view).toMatchObject({ txnId: ok.txnId, outcome: 'COMMITTED', decisionSeq: ok.decisionSeq });
    expect([...view.shards].sort()).toEqual([...SHARDS]);
  });

  it('transaction() retries when a write lands between its read and its commit', async () => {
    let runs = 0;
    const seen = await client.transaction(
      async (tx) => {
        runs++;
        const r = await tx.read('shard-a', 'accounts', { id: 2n });
        if (runs === 1) {
          // Someone else changes the row we just read: our commit must fail validation (CONFLICT).
          const other = await client.execute([
            { shard: 'shard-a', table: 'accounts', kind: 'ADD', key: { id: 2n }, values: { balance: 5 } },
          ]);
          expect(other.outcome).toBe('COMMITTED');
        }
        const current = r.row.balance as bigint;
        tx.write(
          {
            shard: 'shard-a',
            table: 'accounts',
            kind: 'UPDATE',
            key: { id: 2n },
            values: { balance: current + 1n },
          },
          {
            shard: 'shard-b',
            table: 'accounts',
            kind: 'UPSERT',
            key: { id: 2n },
            values: { owner: 'bob', balance: current },
          },
        );
        return current;
      },
      { random: () => random.next() },
    );
    expect(runs).toBe(2);
    expect(seen).toBe(105n);
    expect([await balance('shard-a', 2n), await balance('shard-b', 2n)]).toEqual([106n, 105n]);
  });

  it(`${concurrentIncrements} concurrent read-modify-write transactions lose no update`, async () => {
    let runs = 0;
    const increment = () =>
      client.transaction(
        async (tx) => {
          runs++;
          const r = await tx.read('shard-a', 'counters', { name: 'hits' });
          const next = (r.row.value as bigint) + 1n;
          tx.write(
            {
              shard: 'shard-a',
              table: 'counters',
              kind: 'UPDATE',
              key: { name: 'hits' },
              values: { value: next },
            },
            {
              shard: 'shard-b',
              table: 'counters',
              kind: 'UPSERT',
              key: { name: `hit-${next}` },
              values: { value: next },
            },
          );
          return next;
        },
        { retries: 100, backoff: { baseMs: 2, maxMs: 50 }, random: () => random.next() },
      );
    const results = await Promise.all(Array.from({ length: concurrentIncrements }, increment));
    // Serializable: every increment saw a distinct value, and the counter ends at N.
    expect([...results].sort((a, b) => Number(a - b))).toEqual(
      Array.from({ length: concurrentIncrements }, (_, i) => BigInt(i + 1)),
    );
    const { rows } = await client.query('shard-a', "SELECT value FROM counters WHERE name = 'hits'");
    expect(rows).toEqual([{ value: BigInt(concurrentIncrements) }]);
    const logged = await client.query(
      'shard-b',
      "SELECT count(*) AS n FROM counters WHERE name LIKE 'hit-%'",
    );
    expect(logged.rows).toEqual([{ n: BigInt(concurrentIncrements) }]);
    expect(runs).toBeGreaterThanOrEqual(concurrentIncrements);
  });

  it('a constraint abort in transaction() is not retried', async () => {
    let runs = 0;
    const err = await client
      .transaction(async (tx) => {
        runs++;
        tx.write({
          shard: 'shard-b',
          table: 'accounts',
          kind: 'INSERT',
          key: { id: 1n },
          values: { owner: 'dup', balance: 1 },
        });
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionAbortedError);
    expect((err as TransactionAbortedError).abortReason).toBe('CONSTRAINT');
    expect(runs).toBe(1);
  });

  it('bad input is an INVALID_ARGUMENT TwopcError and changes nothing', async () => {
    await expect(
      client.execute([
        { shard: 'shard-z', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: 1 } },
      ]),
    ).rejects.toMatchObject({ name: 'TwopcError', code: 'INVALID_ARGUMENT' });
    await expect(client.query('shard-a', 'DELETE FROM accounts')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await balance('shard-a', 1n)).toBe(70n);
  });

  it('listTransactions pages through what the coordinator remembers', async () => {
    const page = await client.listTransactions({ states: ['COMMITTED'], pageSize: 2 });
    expect(page.transactions.length).toBe(2);
    expect(page.transactions.every((t) => t.state === 'COMMITTED')).toBe(true);
    expect(page.nextPageToken).not.toBe('');
    const next = await client.listTransactions({
      states: ['COMMITTED'],
      pageSize: 2,
      pageToken: page.nextPageToken,
    });
    expect(next.transactions.map((t) => t.txnId)).not.toContain(page.transactions[0]!.txnId);
  });
});
