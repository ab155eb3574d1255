/**
 * Opening a shard (schema checks, SQLite settings, reopen), describe, read and query.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { ShardStore } from '../../participant/shard-store.ts';
import { commitTxn, op, openHarness, SCHEMA, type Harness } from './helpers.ts';

describe('open', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twopc-open-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const open = (schemaSql: string) =>
    ShardStore.open({ path: path.join(dir, 'data', 's.db'), shard: 's', schemaSql });
  const expectInvalid = (schemaSql: string, message: RegExp) => {
    let caught: unknown;
    try {
      open(schemaSql).close();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TwopcError);
    expect((caught as TwopcError).code).toBe('INVALID_ARGUMENT');
    expect((caught as TwopcError).message).toMatch(message);
  };

  it('refuses a schema with a syntax error', () =>
    expectInvalid('CREATE TABLEX t (id INTEGER PRIMARY KEY);', /syntax error/));
  it('refuses a table without a primary key', () =>
    expectInvalid('CREATE TABLE t (a, b);', /no PRIMARY KEY/));
  it('refuses _twopc_ names', () =>
    expectInvalid('CREATE TABLE IF NOT EXISTS _twopc_txns (id INTEGER PRIMARY KEY);', /reserved/));
  it('refuses _twopc_ names in any case', () =>
    expectInvalid('CREATE TABLE _TWOPC_x (id INTEGER PRIMARY KEY);', /reserved/));
  it('refuses a primary key with a collation twopc cannot reproduce', () =>
    expectInvalid(
      'CREATE TABLE t (name TEXT COLLATE unicode_ci PRIMARY KEY);',
      /collation|no such collation/,
    ));
  it('refuses triggers', () =>
    expectInvalid(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, n INT); CREATE TABLE log (id INTEGER PRIMARY KEY); CREATE TRIGGER tr AFTER UPDATE ON t BEGIN INSERT INTO log (id) VALUES (NEW.id); END;',
      /triggers are not supported/,
    ));
  it('refuses BEGIN/COMMIT in the schema', () =>
    expectInvalid('BEGIN; CREATE TABLE t (id INTEGER PRIMARY KEY); COMMIT;', /schema/));

  it('a failed schema leaves an existing file as it was', () => {
    open('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY);').close();
    expectInvalid(
      'CREATE TABLE IF NOT EXISTS u (id INTEGER PRIMARY KEY); INSERT INTO nope VALUES (1);',
      /no such table/,
    );
    const store = open('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY);');
    expect(store.describe().map((t) => t.name)).toEqual(['t']);
    store.close();
  });

  it('uses WAL with synchronous=FULL and bigint integers, and reapplies the schema idempotently', () => {
    const file = path.join(dir, 'data', 's.db');
    open(SCHEMA).close();
    const store = open(SCHEMA);
    expect(store.read('accounts', { id: 100n }).row.balance).toBe(50n);
    store.close();
    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(fs.existsSync(file)).toBe(true);
  });

  it('calls after close fail with UNAVAILABLE; close is idempotent', () => {
    const store = open(SCHEMA);
    store.close();
    store.close();
    expect(() => store.read('accounts', { id: 1n })).toThrow(/closed/);
  });
});

describe('describe, read and query', () => {
  let h: Harness;
  beforeEach(() => {
    h = openHarness();
    commitTxn(h, 'setup', [
      op('INSERT', 'accounts', { id: 1n }, { owner: 'ann', balance: 10n, email: 'ann@x' }),
      op('INSERT', 'pairs', { region: 'eu', n: 1n }, { v: 0.5, note: Buffer.from([1, 2, 3]) }),
    ]);
  });
  afterEach(() => h.cleanup());

  it('describe lists the user tables only, with key positions', () => {
    const tables = h.store.describe();
    expect(tables.map((t) => t.name)).toEqual([
      'accounts',
      'gadgets',
      'items',
      'nicknames',
      'pairs',
      'tags',
      'users',
    ]);
    expect(tables.find((t) => t.name === 'pairs')?.columns).toEqual([
      { name: 'region', declaredType: 'TEXT', notNull: true, pkIndex: 1 },
      { name: 'n', declaredType: 'INTEGER', notNull: true, pkIndex: 2 },
      { name: 'v', declaredType: 'REAL', notNull: false, pkIndex: 0 },
      { name: 'note', declaredType: '', notNull: false, pkIndex: 0 },
    ]);
  });

  it('read of a composite key returns every column; bad keys are INVALID_ARGUMENT', () => {
    expect(h.store.read('pairs', { region: 'eu', n: 1n })).toEqual({
      found: true,
      row: { region: 'eu', n: 1n, v: 0.5, note: Buffer.from([1, 2, 3]) },
      version: 1n,
    });
    for (const [table, key] of [
      ['nope', { id: 1n }],
      ['pairs', { region: 'eu' }],
      ['accounts', { id: 1 }],
      ['_twopc_txns', { txn_id: 'x' }],
    ] as const) {
      expect(() => h.store.read(table, key)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      );
    }
  });

  it('query runs a SELECT with parameters over committed state', () => {
    const result = h.store.query(
      '/* hi */ SELECT id, owner, balance * 2 AS doubled FROM accounts WHERE balance >= ? ORDER BY id',
      [10n],
    );
    expect(result.columns).toEqual(['id', 'owner', 'doubled']);
    expect(result.rows).toEqual([
      { id: 1n, owner: 'ann', doubled: 20n },
      { id: 100n, owner: 'seed', doubled: 100n },
    ]);
    expect(h.store.query('WITH x AS (SELECT 1 AS one) SELECT one FROM x', []).rows).toEqual([{ one: 1n }]);
  });

  const refused: [string, string][] = [
    ['an INSERT', "INSERT INTO accounts (id, owner, balance) VALUES (5, 'x', 1)"],
    ['a DELETE in a WITH', 'WITH x AS (SELECT 1) DELETE FROM accounts'],
    ['a PRAGMA', 'PRAGMA table_info(accounts)'],
    ['an internal table', 'SELECT * FROM _twopc_txns'],
    ['an internal table, quoted', 'SELECT * FROM "_TWOPC_LOCKS"'],
    ['two statements', 'SELECT 1; SELECT 2'],
    ['a syntax error', 'SELECT FROM WHERE'],
    ['an unknown table', 'SELECT * FROM nope'],
    ['an ATTACH', "ATTACH DATABASE 'x.db' AS x"],
  ];
  for (const [name, sql] of refused) {
    it(`query refuses ${name}`, () => {
      const before = h.dump();
      expect(() => h.store.query(sql, [])).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      );
      expect(h.dump()).toEqual(before);
    });
  }

  it('query refuses a wrong parameter count', () => {
    expect(() => h.store.query('SELECT ? AS a', [])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
    );
  });
});
