/**
 * The whole gRPC stack in one process: a coordinator server and three participant servers on
 * 127.0.0.1:0 with real SQLite files, driven by a client built ONLY from proto/ with
 * @grpc/proto-loader's default options (camelCase fields, Long ints, numeric enums, no oneof
 * markers) — the way a client in another language or style sees the API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, seedFromEnv } from '../../common/random.ts';
import type { CoordinatorServer } from '../../coordinator/coordinator-server.ts';
import type { ParticipantServer } from '../../participant/participant-server.ts';
import { startCoordinatorFor, startParticipants } from '../helpers/servers.ts';

const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');
const SHARDS = ['s1', 's2', 's3'] as const;
const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  balance INTEGER NOT NULL CHECK (balance >= 0)
);
`;
const ACCOUNTS = 200;
const INITIAL = 1_000n;
/** twopc.v1 enum numbers, as a default-options client sees them. */
const OUTCOME = { COMMITTED: 1, ABORTED: 2 } as const;
const ABORT_REASON = { CONSTRAINT: 2 } as const;
const TXN_STATE = { COMMITTED: 4 } as const;

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface ApiError {
  code: grpc.status;
  details: string;
}

let dir: string;
let participants: ParticipantServer[];
let coordinator: CoordinatorServer;
let api: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function call(method: string, request: Msg): Promise<Msg> {
  return new Promise((resolve, reject) =>
    api[method]!(request, { deadline: Date.now() + 20_000 }, (err: ApiError | null, res: Msg) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function callError(method: string, request: Msg): Promise<ApiError> {
  const err = await call(method, request).then(
    () => undefined,
    (e: ApiError) => e,
  );
  expect(err, `${method} should fail`).toBeDefined();
  return err as ApiError;
}

const int = (n: number | bigint) => ({ intValue: n.toString() });
const text = (s: string) => ({ textValue: s });
const add = (shard: string, id: number, delta: bigint) => ({
  shard,
  table: 'accounts',
  kind: 5, // ADD
  key: { id: int(id) },
  values: { balance: int(delta) },
});

/** Every balance on a shard, by id, decoded from the default-options representation. */
async function balances(shard: string): Promise<Map<number, bigint>> {
  const res = await call('Query', { shard, sql: 'SELECT id, balance FROM accounts ORDER BY id', params: [] });
  return new Map(
    (res.rows as Msg[]).map((r) => [
      Number(r.columns.id.intValue.toString()),
      BigInt(r.columns.balance.intValue.toString()),
    ]),
  );
}

async function total(): Promise<bigint> {
  let sum = 0n;
  for (const shard of SHARDS) for (const b of (await balances(shard)).values()) sum += b;
  return sum;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-e2e-'));
  participants = await startParticipants(dir, SHARDS, SCHEMA);
  coordinator = await startCoordinatorFor(participants, path.join(dir, 'coordinator'));
  const def = protoLoader.loadSync('twopc/v1/transactions.proto', { includeDirs: [PROTO_DIR] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    twopc: { v1: { Transactions: grpc.ServiceClientConstructor } };
  };
  api = new pkg.twopc.v1.Transactions(coordinator.address, grpc.credentials.createInsecure()) as typeof api;
  const seed = await call('Execute', {
    ops: SHARDS.flatMap((shard) =>
      Array.from({ length: ACCOUNTS }, (_, i) => ({
        shard,
        table: 'accounts',
        kind: 1, // INSERT
        key: { id: int(i + 1) },
        values: { owner: text(`${shard}-${i + 1}`), balance: int(INITIAL) },
      })),
    ),
  });
  expect(seed.outcome).toBe(OUTCOME.COMMITTED);
});

afterAll(async () => {
  api?.close();
  await coordinator?.close();
  await Promise.all((participants ?? []).map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('end to end over gRPC', () => {
  it('a cross-shard transfer commits on both shards', async () => {
    const res = await call('Execute', {
      ops: [add('s1', 1, -10n), add('s2', 1, 10n)],
      idempotencyKey: 'transfer-1',
    });
    expect(res.outcome).toBe(OUTCOME.COMMITTED);
    expect(BigInt(res.decisionSeq.toString())).toBeGreaterThan(0n);
    expect((await balances('s1')).get(1)).toBe(INITIAL - 10n);
    expect((await balances('s2')).get(1)).toBe(INITIAL + 10n);
    const again = await call('Execute', {
      ops: [add('s1', 1, -10n), add('s2', 1, 10n)],
      idempotencyKey: 'transfer-1',
    });
    expect(again.txnId).toBe(res.txnId);
    expect((await balances('s1')).get(1)).toBe(INITIAL - 10n);
    const view = await call('GetTransaction', { txnId: res.txnId });
    expect(view.shards).toEqual(['s1', 's2']);
    await expect
      .poll(async () => (await call('GetTransaction', { txnId: res.txnId })).state)
      .toBe(TXN_STATE.COMMITTED);
  });

  it('a transfer that would overdraw aborts (CONSTRAINT) and changes nothing', async () => {
    const before = [await balances('s1'), await balances('s3')];
    const res = await call('Execute', { ops: [add('s1', 2, -(INITIAL + 1n)), add('s3', 2, INITIAL + 1n)] });
    expect(res.outcome).toBe(OUTCOME.ABORTED);
    expect(res.abortReason).toBe(ABORT_REASON.CONSTRAINT);
    expect([await balances('s1'), await balances('s3')]).toEqual(before);
  });

  it('interactive: Begin, Read, Write, Commit', async () => {
    const { txnId } = await call('Begin', { timeoutMs: 10_000 });
    const read = await call('Read', { txnId, shard: 's3', table: 'accounts', key: { id: int(3) } });
    expect(read.found).toBe(true);
    const balance = BigInt(read.row.balance.intValue.toString());
    const written = await call('Write', { txnId, ops: [add('s3', 3, -1n), add('s1', 3, 1n)] });
    expect(written.bufferedOps).toBe(2);
    const res = await call('Commit', { txnId });
    expect(res.outcome).toBe(OUTCOME.COMMITTED);
    expect((await balances('s3')).get(3)).toBe(balance - 1n);
    await expect
      .poll(async () => {
        const page = await call('ListTransactions', { states: [TXN_STATE.COMMITTED], pageSize: 1000 });
        return (page.transactions as Msg[]).some((t) => t.txnId === txnId);
      })
      .toBe(true);
  });

  it('bad input is INVALID_ARGUMENT and changes nothing', async () => {
    const before = await total();
    const cases: Array<[string, Msg]> = [
      ['unknown shard', { ops: [add('nope', 1, 1n)] }],
      ['unknown table', { ops: [{ ...add('s1', 1, 1n), table: 'nope' }, add('s2', 1, -1n)] }],
      ['unknown column', { ops: [{ ...add('s1', 1, 1n), values: { nope: int(1) } }, add('s2', 1, -1n)] }],
      [
        'wrong type',
        { ops: [{ ...add('s1', 1, 1n), values: { balance: text('lots') } }, add('s2', 1, -1n)] },
      ],
      ['empty ops', { ops: [] }],
      ['OP_KIND_UNSPECIFIED', { ops: [{ ...add('s1', 1, 1n), kind: 0 }] }],
      ['unknown kind', { ops: [{ ...add('s1', 1, 1n), kind: 99 }] }],
      ['value without a kind', { ops: [{ ...add('s1', 1, 1n), values: { balance: {} } }] }],
      ['empty key', { ops: [{ ...add('s1', 1, 1n), key: {} }] }],
    ];
    for (const [what, request] of cases) {
      const err = await callError('Execute', request);
      expect(grpc.status[err.code], `${what}: ${err.details}`).toBe('INVALID_ARGUMENT');
    }
    expect((await callError('Query', { shard: 's1', sql: 'DELETE FROM accounts', params: [] })).code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect((await callError('Query', { shard: 'nope', sql: 'SELECT 1', params: [] })).code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect(
      (await callError('Read', { txnId: '', shard: 's1', table: 'accounts', key: { id: int(1) } })).code,
    ).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await total()).toBe(before);
  });

  it('oversized requests: RESOURCE_EXHAUSTED over the gRPC limit, INVALID_ARGUMENT over the coordinator limit', async () => {
    const before = await total();
    const huge = 'x'.repeat(17 * 1024 * 1024);
    const tooBig = await callError('Execute', {
      ops: [{ ...add('s1', 1, 0n), kind: 2, values: { owner: text(huge) } }],
    });
    expect(grpc.status[tooBig.code]).toBe('RESOURCE_EXHAUSTED');
    const big = 'x'.repeat(2 * 1024 * 1024);
    const overLimit = await callError('Execute', {
      ops: [{ ...add('s1', 1, 0n), kind: 2, values: { owner: text(big) } }],
    });
    expect(grpc.status[overLimit.code]).toBe('INVALID_ARGUMENT');
    expect(await total()).toBe(before);
  });

  it('concurrent transfers conserve the total; prepares and decisions travel and commit in batches', async () => {
    const seed = seedFromEnv();
    const workers = 64;
    const perWorker = 15;
    const before = await total();
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const rnd = seededRandom(seed + w);
        const results: Array<{ outcome: number; abortReason: number }> = [];
        for (let i = 0; i < perWorker; i++) {
          const from = rnd.pick(SHARDS);
          const to = rnd.pick(SHARDS.filter((s) => s !== from));
          const amount = BigInt(rnd.int(1, 50));
          const res = await call('Execute', {
            ops: [add(from, rnd.int(1, ACCOUNTS), -amount), add(to, rnd.int(1, ACCOUNTS), amount)],
          });
          results.push({ outcome: res.outcome as number, abortReason: res.abortReason as number });
        }
        return results;
      }),
    );
    const elapsedMs = Date.now() - started;
    const flat = outcomes.flat();
    const committed = flat.filter((o) => o.outcome === OUTCOME.COMMITTED).length;
    const reasons = new Map<number, number>();
    for (const o of flat)
      if (o.outcome !== OUTCOME.COMMITTED) reasons.set(o.abortReason, (reasons.get(o.abortReason) ?? 0) + 1);
    expect(await total(), `seed ${seed}`).toBe(before);
    expect(committed).toBeGreaterThan(0);
    const stores = participants.map((p) => p.batcher.stats());
    const prepares = stores.reduce((a, s) => a + s.prepares, 0);
    const prepareBatches = stores.reduce((a, s) => a + s.prepareBatches, 0);
    const sessions = [...coordinator.participants.values()].map((c) => c.stats());
    const sent = sessions.reduce((a, s) => a + s.messagesSent, 0);
    const batches = sessions.reduce((a, s) => a + s.batchesSent, 0);
    expect(prepareBatches).toBeLessThan(prepares);
    expect(batches).toBeLessThan(sent);
    console.log(
      `${flat.length} transfers by ${workers} clients in ${elapsedMs} ms (${Math.round((flat.length * 1000) / elapsedMs)}/s), ` +
        `${committed} committed (aborts by reason number: ${JSON.stringify([...reasons])}); participants: ${(prepares / prepareBatches).toFixed(1)} prepares per store call ` +
        `(peak ${Math.max(...stores.map((s) => s.batchMessagesPeak))}); coordinator: ${(sent / batches).toFixed(1)} messages per Session batch`,
    );
  });
});
