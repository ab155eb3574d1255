/**
 * Random transaction mixes, run through a real in-process cluster (gRPC, three SQLite shards) and
 * through a model: one SQLite database holding every shard's rows, where each transaction is a plain
 * local transaction written directly in SQL. Both must agree on every outcome and on the final state.
 * The model shares no code with twopc's op handling, so a semantic or atomicity bug shows up as a
 * difference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startParticipantServer } from '../../participant/participant-server.ts';
import { startCoordinatorServer } from '../../coordinator/coordinator-server.ts';
import { silentLogger } from '../../common/log.ts';
import { rawClient, queryRows, type RawClient } from '../integration/raw-client.ts';

const SHARDS = ['p1', 'p2', 'p3'] as const;
const SCHEMA = `CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY,
  label TEXT NOT NULL,
  qty INTEGER NOT NULL CHECK (qty >= 0)
);`;
const KEY_SPACE = 4;

type Kind = 'INSERT' | 'UPSERT' | 'UPDATE' | 'DELETE' | 'ADD';
interface ModelOp {
  shard: (typeof SHARDS)[number];
  kind: Kind;
  id: number;
  qty: number;
}

const opArb: fc.Arbitrary<ModelOp> = fc.record({
  shard: fc.constantFrom(...SHARDS),
  kind: fc.constantFrom<Kind>('INSERT', 'UPSERT', 'UPDATE', 'DELETE', 'ADD'),
  id: fc.integer({ min: 1, max: KEY_SPACE }),
  qty: fc.integer({ min: -6, max: 6 }),
});
const txnArb = fc.array(opArb, { minLength: 1, maxLength: 5 });

/**
 * Applies one transaction to the model; returns whether it committed. Existence checks (INSERT on an
 * existing key, UPDATE/ADD on a missing one) apply op by op; CHECK constraints apply to each row's
 * final state, as twopc checks them on the transaction's after-images (deferred-constraint semantics).
 */
function applyToModel(db: Database.Database, ops: readonly ModelOp[]): boolean {
  const run = db.transaction(() => {
    for (const op of ops) {
      const label = `${op.kind.toLowerCase()}-${op.id}`;
      switch (op.kind) {
        case 'INSERT':
          db.prepare('INSERT INTO items (shard, id, label, qty) VALUES (?, ?, ?, ?)').run(op.shard, op.id, label, op.qty);
          break;
        case 'UPSERT':
          db.prepare(
            'INSERT INTO items (shard, id, label, qty) VALUES (?, ?, ?, ?) ON CONFLICT (shard, id) DO UPDATE SET label = excluded.label, qty = excluded.qty',
          ).run(op.shard, op.id, label, op.qty);
          break;
        case 'UPDATE':
          if (db.prepare('UPDATE items SET label = ?, qty = ? WHERE shard = ? AND id = ?').run(label, op.qty, op.shard, op.id).changes !== 1)
            throw new Error('missing');
          break;
        case 'DELETE':
          db.prepare('DELETE FROM items WHERE shard = ? AND id = ?').run(op.shard, op.id);
          break;
        case 'ADD':
          if (db.prepare('UPDATE items SET qty = qty + ? WHERE shard = ? AND id = ?').run(op.qty, op.shard, op.id).changes !== 1)
            throw new Error('missing');
          break;
      }
    }
    if ((db.prepare('SELECT count(*) AS n FROM items WHERE qty < 0').get() as { n: number }).n > 0) throw new Error('CHECK');
  });
  try {
    run.immediate();
    return true;
  } catch {
    return false;
  }
}

function toWire(op: ModelOp) {
  const label = `${op.kind.toLowerCase()}-${op.id}`;
  const values =
    op.kind === 'DELETE'
      ? {}
      : op.kind === 'ADD'
        ? { qty: { int_value: String(op.qty) } }
        : { label: { text_value: label }, qty: { int_value: String(op.qty) } };
  return { shard: op.shard, table: 'items', kind: op.kind, key: { id: { int_value: String(op.id) } }, values };
}

let dir: string;
let client: RawClient;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-prop-'));
  const participants = [];
  for (const shard of SHARDS) {
    const server = await startParticipantServer({ shard, listen: '127.0.0.1:0', dataDir: path.join(dir, shard), schemaSql: SCHEMA, logger: silentLogger });
    closers.push(() => server.close());
    participants.push({ shard, address: server.address });
  }
  const coordinator = await startCoordinatorServer({ listen: '127.0.0.1:0', dataDir: path.join(dir, 'coordinator'), participants, logger: silentLogger });
  closers.unshift(() => coordinator.close());
  client = rawClient(coordinator.address);
});

afterAll(async () => {
  client?.close();
  for (const close of closers) await close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function clusterState(): Promise<string[]> {
  const rows: string[] = [];
  for (const shard of SHARDS) {
    for (const r of await queryRows(client, shard, 'SELECT id, label, qty FROM items ORDER BY id')) rows.push(`${shard}/${r.id}/${r.label}/${r.qty}`);
  }
  return rows;
}

describe('twopc agrees with a single-SQLite model', () => {
  it('on random transaction mixes: same outcomes, same final state', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(txnArb, { minLength: 1, maxLength: 12 }), async (txns) => {
        run++;
        // Each run starts from empty shards: clear them through twopc itself.
        const clear = SHARDS.flatMap((shard) =>
          Array.from({ length: KEY_SPACE }, (_, i) => toWire({ shard, kind: 'DELETE', id: i + 1, qty: 0 })),
        );
        expect((await client.call('Execute', { ops: clear })).outcome).toBe('COMMITTED');
        const model = new Database(':memory:');
        model.exec('CREATE TABLE items (shard TEXT, id INTEGER, label TEXT NOT NULL, qty INTEGER NOT NULL, PRIMARY KEY (shard, id))');
        for (const [i, ops] of txns.entries()) {
          const expected = applyToModel(model, ops) ? 'COMMITTED' : 'ABORTED';
          const res = await client.call('Execute', { ops: ops.map(toWire) });
          expect(res.outcome, `run ${run} txn ${i}: ${JSON.stringify(ops)} (${res.reason})`).toBe(expected);
        }
        const modelRows = model
          .prepare('SELECT shard, id, label, qty FROM items ORDER BY shard, id')
          .all()
          .map((r) => {
            const row = r as { shard: string; id: number; label: string; qty: number };
            return `${row.shard}/${row.id}/${row.label}/${row.qty}`;
          });
        model.close();
        expect(await clusterState()).toEqual(modelRows);
      }),
      { numRuns: 100, seed: Number(process.env.TWOPC_SEED ?? Date.now() % 2 ** 31), verbose: 1 },
    );
  });
});
