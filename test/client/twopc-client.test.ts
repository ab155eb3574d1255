/**
 * The SDK against a scripted Transactions server (real gRPC, real proto): request encoding,
 * response decoding, error mapping, deadlines, and transaction()'s retry rules.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { executeStreamInflightMax } from '../../common/api.ts';
import { TwopcError } from '../../common/errors.ts';
import { TransactionAbortedError } from '../../client/transaction-aborted-error.ts';
import { TwopcClient, transactionRetriesDefault } from '../../client/twopc-client.ts';
import { ROOT } from '../helpers/cli.ts';
import { FakeStatus, FakeTransactionsServer, NEVER, aborted, committed } from './fake-transactions-server.ts';

let fake: FakeTransactionsServer;
let client: TwopcClient;
/** No waiting between retries in these tests: the backoff's jitter picks the 1 ms minimum. */
const noJitter = () => 0;

beforeEach(async () => {
  fake = await FakeTransactionsServer.start();
  client = new TwopcClient(fake.address, { deadlineMs: 5_000 });
});

afterEach(() => {
  client.close();
  fake.close();
});

async function rejection(promise: Promise<unknown>): Promise<TwopcError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TwopcError);
  return err as TwopcError;
}

/** transferOps with plain numbers, to pass to a child process as JSON. */
const transferOpsWire = [
  { shard: 'shard-a', table: 'accounts', kind: 'ADD', key: { id: 1 }, values: { balance: -10 } },
  { shard: 'shard-b', table: 'accounts', kind: 'ADD', key: { id: 1 }, values: { balance: 10 } },
];
const transferOps = [
  { shard: 'shard-a', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: -10n } },
  { shard: 'shard-b', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: 10 } },
] as const;

// Both ways `execute` reaches a coordinator: over ExecuteStream (the default) and, against a server
// without it, falling back to unary Execute calls. Same requests, answers and errors either way.
describe.each([
  { transport: 'ExecuteStream', executeStream: true },
  { transport: 'unary fallback (server without ExecuteStream)', executeStream: false },
])('execute over $transport', ({ executeStream }) => {
  beforeEach(async () => {
    client.close();
    fake.close();
    fake = await FakeTransactionsServer.start({}, { executeStream });
    client = new TwopcClient(fake.address, { deadlineMs: 5_000 });
  });

  it('went the expected way', async () => {
    await Promise.all([client.execute(transferOps), client.execute(transferOps)]);
    expect(fake.count('Execute')).toBe(2);
    // Both requests of one event-loop turn share one stream message.
    expect(fake.streamMessages).toBe(executeStream ? 1 : 0);
  });

  it('sends ops, key and timeout, and decodes the outcome', async () => {
    const result = await client.execute(transferOps, { idempotencyKey: 'k-1', timeoutMs: 1234 });
    expect(result).toEqual({ txnId: 'txn-execute', outcome: 'COMMITTED', reason: '', decisionSeq: 7n });
    const [request] = fake.requests('Execute');
    expect(request).toMatchObject({ idempotency_key: 'k-1', timeout_ms: 1234 });
    expect((request!.ops as unknown[])[1]).toMatchObject({
      shard: 'shard-b',
      kind: 'ADD',
      key: { id: { int_value: '1' } },
      values: { balance: { int_value: '10' } },
    });
  });

  it('resolves with an ABORTED outcome and its reason (it is not an error)', async () => {
    fake.handlers.Execute = () => aborted('t9', 'CONSTRAINT', 'CHECK constraint failed: balance >= 0');
    const result = await client.execute(transferOps);
    expect(result).toMatchObject({
      outcome: 'ABORTED',
      abortReason: 'CONSTRAINT',
      reason: 'CHECK constraint failed: balance >= 0',
      decisionSeq: 0n,
    });
  });

  it('turns a gRPC status into a TwopcError with the same code', async () => {
    fake.handlers.Execute = () => {
      throw new FakeStatus(status.INVALID_ARGUMENT, 'ops[0].shard: unknown shard "shard-z"');
    };
    const err = await rejection(client.execute(transferOps));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toBe('execute: ops[0].shard: unknown shard "shard-z"');
    expect(err.retryable).toBe(false);
  });

  it('refuses a bad value before sending anything', async () => {
    const err = await rejection(
      client.execute([{ ...transferOps[0], values: { balance: 0.1 + Number.NaN } }]),
    );
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(fake.count('Execute')).toBe(0);
  });

  it('gives up at its deadline', async () => {
    fake.handlers.Execute = () => NEVER;
    const quick = new TwopcClient(fake.address, { deadlineMs: 200 });
    try {
      const err = await rejection(quick.execute(transferOps));
      expect(err.code).toBe('DEADLINE_EXCEEDED');
    } finally {
      quick.close();
    }
  });

  it('a transaction timeout longer than the deadline extends the call', async () => {
    fake.handlers.Execute = () => new Promise((resolve) => setTimeout(() => resolve(committed('slow')), 400));
    const quick = new TwopcClient(fake.address, { deadlineMs: 100 });
    try {
      expect((await quick.execute(transferOps, { timeoutMs: 1_000 })).txnId).toBe('slow');
    } finally {
      quick.close();
    }
  });

  it('is cancelled by an AbortSignal', async () => {
    fake.handlers.Execute = () => NEVER;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await rejection(client.execute(transferOps, { signal: controller.signal }));
    expect(err.code).toBe('CANCELLED');
  });

  it('reports an unreachable coordinator as UNAVAILABLE', async () => {
    const address = fake.address;
    fake.close();
    const lost = new TwopcClient(address, { deadlineMs: 2_000 });
    try {
      const err = await rejection(lost.execute(transferOps));
      expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(err.code);
    } finally {
      lost.close();
    }
  });
});

describe('execute over ExecuteStream: flow control and closing', () => {
  beforeEach(async () => {
    client.close();
    fake.close();
    fake = await FakeTransactionsServer.start({}, { executeStream: true });
    client = new TwopcClient(fake.address, { deadlineMs: 60_000 });
  });

  it(`keeps at most ${executeStreamInflightMax} calls unanswered at the coordinator; the rest wait in the client`, async () => {
    const held: Array<() => void> = [];
    fake.handlers.Execute = () => new Promise((resolve) => held.push(() => resolve(committed('t'))));
    const extra = 5;
    const calls = Array.from({ length: executeStreamInflightMax + extra }, () => client.execute(transferOps));
    const arrived = async (n: number) => {
      for (let i = 0; i < 2_000 && held.length < n; i++) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50)); // and nothing more arrives
    };
    await arrived(executeStreamInflightMax);
    expect(held.length).toBe(executeStreamInflightMax);
    held.splice(0).forEach((release) => release());
    await arrived(extra);
    expect(held.length).toBe(extra);
    held.splice(0).forEach((release) => release());
    const outcomes = await Promise.all(calls);
    expect(outcomes.every((o) => o.outcome === 'COMMITTED')).toBe(true);
  });

  it('close() answers calls already sent and fails calls not sent yet with CANCELLED, both ways', async () => {
    const held: Array<() => void> = [];
    fake.handlers.Execute = () => new Promise((resolve) => held.push(() => resolve(committed('sent'))));
    // First call: the stream is not open yet when close() comes.
    const early = client.execute(transferOps);
    client.close();
    expect((await rejection(early)).code).toBe('CANCELLED');
    // Then on an open stream: one call in flight, one queued in the same turn as close().
    client = new TwopcClient(fake.address, { deadlineMs: 60_000 });
    const sent = client.execute(transferOps);
    for (let i = 0; i < 400 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(held.length).toBe(1);
    const queued = rejection(client.execute(transferOps));
    client.close();
    held.splice(0).forEach((release) => release());
    expect((await sent).txnId).toBe('sent');
    expect((await queued).code).toBe('CANCELLED');
    expect(fake.count('Execute')).toBe(1);
  });

  it('a timeout of the largest uint32 does not expire the call at once', async () => {
    const result = await client.execute(transferOps, { timeoutMs: 0xffffffff });
    expect(result.outcome).toBe('COMMITTED');
  });

  it('a program that never calls close() still exits once its calls are answered', async () => {
    const script = path.join(mkdtempSync(path.join(tmpdir(), 'twopc-sdk-exit-')), 'no-close.mts');
    writeFileSync(
      script,
      [
        `import { TwopcClient } from ${JSON.stringify(path.join(ROOT, 'client', 'twopc-client.ts'))};`,
        `const client = new TwopcClient(${JSON.stringify(fake.address)});`,
        `const r = await client.execute(${JSON.stringify(transferOpsWire)});`,
        `console.log(r.outcome);`,
      ].join('\n'),
    );
    // Not spawnSync: the fake server in this process must keep answering meanwhile.
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);
    rmSync(path.dirname(script), { recursive: true, force: true });
    expect(stdout.trim()).toBe('COMMITTED');
    expect(signal).toBeNull(); // not killed after 30 s: it exited by itself
    expect(code).toBe(0);
  });
});

describe('transaction()', () => {
  it('retries CONFLICT aborts, re-running the callback, until it commits', async () => {
    fake.handlers.Commit = (req, n) =>
      n <= 2 ? aborted(String(req.txn_id), 'CONFLICT', 'row locked') : committed(String(req.txn_id));
    let runs = 0;
    const value = await client.transaction(
      async (tx) => {
        runs++;
        const r = await tx.read('shard-a', 'accounts', { id: 1n });
        expect(r).toEqual({ found: true, row: { id: 1n, balance: 100n }, version: 3n });
        tx.write({ ...transferOps[0] }, [transferOps[1]]);
        return `done-${tx.txnId}`;
      },
      { random: noJitter },
    );
    expect(value).toBe('done-txn-3');
    expect(runs).toBe(3);
    expect(fake.count('Begin')).toBe(3);
    expect(fake.count('Abort')).toBe(0);
    // Writes are buffered and sent once per attempt, just before Commit.
    expect(fake.requests('Write').map((w) => [w.txn_id, (w.ops as unknown[]).length])).toEqual([
      ['txn-1', 2],
      ['txn-2', 2],
      ['txn-3', 2],
    ]);
    const order = fake.calls.filter((c) => c.request.txn_id === 'txn-3').map((c) => c.method);
    expect(order).toEqual(['Read', 'Write', 'Commit']);
  });

  it('retries an ABORTED status from any call, aborting the failed attempt', async () => {
    fake.handlers.Read = (_req, n) => {
      if (n === 1) throw new FakeStatus(status.ABORTED, 'transaction txn-1 timed out');
      return { found: false, row: {}, version: '0' };
    };
    const value = await client.transaction(
      async (tx) => (await tx.read('shard-a', 'accounts', { id: 5n })).found,
      { random: noJitter },
    );
    expect(value).toBe(false);
    expect(fake.count('Begin')).toBe(2);
    expect(fake.requests('Abort').map((r) => r.txn_id)).toEqual(['txn-1']);
  });

  it('does not retry other aborts: TransactionAbortedError with the outcome', async () => {
    fake.handlers.Commit = (req) => aborted(String(req.txn_id), 'CONSTRAINT', 'CHECK constraint failed');
    const err = await rejection(
      client.transaction(async (tx) => tx.write(transferOps[0]), { random: noJitter }),
    );
    expect(err).toBeInstanceOf(TransactionAbortedError);
    const e = err as TransactionAbortedError;
    expect(e.code).toBe('ABORTED');
    expect(e.abortReason).toBe('CONSTRAINT');
    expect(e.attempts).toBe(1);
    expect(e.message).toContain('CHECK constraint failed');
    expect(fake.count('Begin')).toBe(1);
  });

  it('stops after `retries` retries', async () => {
    fake.handlers.Commit = (req) => aborted(String(req.txn_id), 'CONFLICT', 'hot row');
    const err = (await rejection(
      client.transaction(async () => 1, { retries: 2, random: noJitter }),
    )) as TransactionAbortedError;
    expect(err).toBeInstanceOf(TransactionAbortedError);
    expect(err.attempts).toBe(3);
    expect(err.abortReason).toBe('CONFLICT');
    expect(err.message).toMatch(/aborted 3 times; last: CONFLICT \(hot row\)/);
    expect(err.hint).toBeTruthy();
    expect(fake.count('Begin')).toBe(3);
  });

  it(`retries ${transactionRetriesDefault} times by default, with capped backoff between attempts`, async () => {
    fake.handlers.Commit = (req) => aborted(String(req.txn_id), 'CONFLICT');
    const started = Date.now();
    const err = (await rejection(
      client.transaction(async () => 1, { backoff: { baseMs: 1, maxMs: 20 }, random: () => 0.999 }),
    )) as TransactionAbortedError;
    expect(err.attempts).toBe(transactionRetriesDefault + 1);
    // Waits: 1, 2, 4, 8, 16, then capped at 20 (random just under 1 picks the cap of each step).
    expect(Date.now() - started).toBeGreaterThanOrEqual(
      1 + 2 + 4 + 8 + 16 + 20 * (transactionRetriesDefault - 5) - 5,
    );
  });

  it('an AbortSignal ends the wait between attempts with CANCELLED', async () => {
    fake.handlers.Commit = (req) => aborted(String(req.txn_id), 'CONFLICT');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const err = await rejection(
      client.transaction(async () => 1, {
        backoff: { baseMs: 10_000, maxMs: 10_000 },
        random: () => 0.999,
        signal: controller.signal,
      }),
    );
    expect(err.code).toBe('CANCELLED');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fake.count('Begin')).toBe(1);
  });

  it('an error thrown by the callback aborts the transaction and is rethrown, not retried', async () => {
    const err = await client
      .transaction(async (tx) => {
        tx.write(transferOps[0]);
        throw new Error('insufficient funds in my own check');
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('insufficient funds in my own check');
    expect(fake.count('Begin')).toBe(1);
    expect(fake.count('Write')).toBe(0);
    expect(fake.count('Commit')).toBe(0);
    expect(fake.requests('Abort').map((r) => r.txn_id)).toEqual(['txn-1']);
  });

  it('a commit lost in transit is settled by Abort: COMMITTED there means committed', async () => {
    fake.handlers.Commit = () => {
      throw new FakeStatus(status.UNAVAILABLE, 'connection reset');
    };
    fake.handlers.Abort = () => ({ outcome: 'COMMITTED' });
    expect(await client.transaction(async () => 'kept', { random: noJitter })).toBe('kept');
    expect(fake.count('Begin')).toBe(1);
  });

  it('a commit lost in transit that nobody can settle is an "outcome unknown" error naming the txn', async () => {
    fake.handlers.Commit = () => {
      throw new FakeStatus(status.UNAVAILABLE, 'connection reset');
    };
    fake.handlers.Abort = () => {
      throw new FakeStatus(status.UNAVAILABLE, 'still down');
    };
    const err = await rejection(client.transaction(async () => 'lost', { random: noJitter }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/^commit of txn-1: outcome unknown/);
    expect(err.hint).toContain("getTransaction('txn-1')");
  });

  it('the handle is dead once the callback has returned', async () => {
    let leaked: { write(op: (typeof transferOps)[0]): void } | undefined;
    await client.transaction(async (tx) => {
      leaked = tx;
    });
    expect(() => leaked!.write(transferOps[0])).toThrow(/already finished/);
  });

  it('refuses a nonsensical retry count', async () => {
    expect((await rejection(client.transaction(async () => 1, { retries: -1 }))).code).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('other calls', () => {
  it('query encodes params and decodes rows (INTEGER as bigint)', async () => {
    fake.handlers.Query = () => ({
      columns: ['id', 'owner', 'balance'],
      rows: [
        { columns: { id: { int_value: '1' }, owner: { text_value: 'alice' }, balance: { int_value: '90' } } },
      ],
    });
    const result = await client.query('shard-a', 'SELECT * FROM accounts WHERE id = ? AND owner = ?', [
      1n,
      'alice',
    ]);
    expect(result).toEqual({
      columns: ['id', 'owner', 'balance'],
      rows: [{ id: 1n, owner: 'alice', balance: 90n }],
    });
    expect(fake.requests('Query')[0]).toMatchObject({
      shard: 'shard-a',
      params: [{ int_value: '1' }, { text_value: 'alice' }],
    });
  });

  it('getTransaction and listTransactions decode views', async () => {
    fake.handlers.ListTransactions = (req) => ({
      transactions: [
        { txn_id: 'a', state: 'COMMITTING', shards: ['s1', 's2'], decision_seq: '12', started_at_ms: '1000' },
      ],
      next_page_token: req.page_token === '' ? 'p2' : '',
    });
    const page = await client.listTransactions({ states: ['COMMITTING'], pageSize: 10 });
    expect(page.nextPageToken).toBe('p2');
    expect(page.transactions[0]).toMatchObject({
      txnId: 'a',
      state: 'COMMITTING',
      shards: ['s1', 's2'],
      decisionSeq: 12n,
      startedAtMs: 1000,
    });
    expect(page.transactions[0]!.outcome).toBeUndefined();
    expect(fake.requests('ListTransactions')[0]).toMatchObject({ states: ['COMMITTING'], page_size: 10 });
    const view = await client.getTransaction('t-1');
    expect(view).toMatchObject({ txnId: 't-1', state: 'COMMITTED', outcome: 'COMMITTED', decisionSeq: 1n });
    fake.handlers.GetTransaction = () => {
      throw new FakeStatus(status.NOT_FOUND, 'no transaction t-2');
    };
    expect((await rejection(client.getTransaction('t-2'))).code).toBe('NOT_FOUND');
  });
});
