import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INT64_MAX, INT64_MIN } from '../../common/value.ts';
import { commitMsg, commitTxn, noOf, op, openHarness, prepareOne, type Harness } from './helpers.ts';

let h: Harness;
beforeEach(() => {
  h = openHarness();
});
afterEach(() => h.cleanup());

describe('op kinds', () => {
  it('INSERT creates a row with defaults for unnamed columns', () => {
    commitTxn(h, 't1', [op('INSERT', 'items', { id: 1n }, { qty: 5n })]);
    expect(h.store.read('items', { id: 1n })).toEqual({
      found: true,
      row: { id: 1n, qty: 5n, label: 'none', weight: null },
      version: 1n,
    });
  });

  it('INSERT over an existing row is NO CONSTRAINT', () => {
    commitTxn(h, 't1', [op('INSERT', 'items', { id: 1n })]);
    const no = noOf(prepareOne(h, 't2', [op('INSERT', 'items', { id: 1n })]));
    expect(no).toMatchObject({ reasonCode: 'CONSTRAINT', invalid: false });
    expect(no.reason).toMatch(/already exists/);
  });

  it('UPSERT inserts with defaults, then updates only the named columns', () => {
    commitTxn(h, 't1', [op('UPSERT', 'items', { id: 2n }, { label: 'a' })]);
    expect(h.store.read('items', { id: 2n }).row).toEqual({ id: 2n, qty: 0n, label: 'a', weight: null });
    commitTxn(h, 't2', [op('UPSERT', 'items', { id: 2n }, { weight: 1.5 })]);
    expect(h.store.read('items', { id: 2n }).row).toEqual({ id: 2n, qty: 0n, label: 'a', weight: 1.5 });
  });

  it('UPDATE changes named columns and fails on a missing row', () => {
    commitTxn(h, 't1', [op('INSERT', 'accounts', { id: 1n }, { owner: 'ann', balance: 10n })]);
    commitTxn(h, 't2', [op('UPDATE', 'accounts', { id: 1n }, { owner: 'bob' })]);
    expect(h.store.read('accounts', { id: 1n }).row).toEqual({
      id: 1n,
      owner: 'bob',
      balance: 10n,
      email: null,
    });
    const no = noOf(prepareOne(h, 't3', [op('UPDATE', 'accounts', { id: 2n }, { owner: 'x' })]));
    expect(no).toMatchObject({ reasonCode: 'CONSTRAINT', invalid: false });
    expect(no.reason).toMatch(/no such row/);
  });

  it('DELETE removes a row; deleting a missing row is a no-op', () => {
    commitTxn(h, 't1', [op('DELETE', 'accounts', { id: 100n })]);
    expect(h.store.read('accounts', { id: 100n }).found).toBe(false);
    commitTxn(h, 't2', [op('DELETE', 'accounts', { id: 555n })]);
    expect(h.store.read('accounts', { id: 555n })).toEqual({ found: false, row: {}, version: 0n });
  });

  it('ADD keeps ints exact and turns to real when a real is involved', () => {
    commitTxn(h, 't1', [op('INSERT', 'pairs', { region: 'eu', n: 1n }, { v: 1.5, note: 10n })]);
    commitTxn(h, 't2', [op('ADD', 'pairs', { region: 'eu', n: 1n }, { v: 2n, note: 5n })]);
    expect(h.store.read('pairs', { region: 'eu', n: 1n }).row).toEqual({
      region: 'eu',
      n: 1n,
      v: 3.5,
      note: 15n,
    });
    commitTxn(h, 't3', [op('ADD', 'pairs', { region: 'eu', n: 1n }, { note: 0.25 })]);
    expect(h.store.read('pairs', { region: 'eu', n: 1n }).row.note).toBe(15.25);
  });

  it('ADD on a missing row is NO CONSTRAINT; ADD to NULL is NO CONSTRAINT', () => {
    expect(noOf(prepareOne(h, 't1', [op('ADD', 'accounts', { id: 9n }, { balance: 1n })])).reason).toMatch(
      /no such row/,
    );
    commitTxn(h, 't2', [op('INSERT', 'items', { id: 1n })]);
    const no = noOf(prepareOne(h, 't3', [op('ADD', 'items', { id: 1n }, { weight: 1.0 })]));
    expect(no).toMatchObject({ reasonCode: 'CONSTRAINT', invalid: false });
    expect(no.reason).toMatch(/NULL/);
  });

  it('CHECK writes nothing and asserts the version', () => {
    const before = h.dump();
    expect(
      prepareOne(h, 't1', [
        op('CHECK', 'accounts', { id: 100n }, {}, 1n),
        op('CHECK', 'accounts', { id: 7n }, {}, 0n),
      ]).vote,
    ).toBe('YES');
    h.store.decideBatch([commitMsg('t1')]);
    expect(dataOnly(h.dump())).toEqual(dataOnly(before));
    expect(noOf(prepareOne(h, 't2', [op('CHECK', 'accounts', { id: 100n }, {}, 2n)])).reasonCode).toBe(
      'CONFLICT',
    );
  });

  it('several ops on one key apply in order to one after-image', () => {
    commitTxn(h, 't1', [
      op('INSERT', 'accounts', { id: 1n }, { owner: 'ann', balance: 0n }),
      op('ADD', 'accounts', { id: 1n }, { balance: 30n }),
      op('UPDATE', 'accounts', { id: 1n }, { email: 'ann@x' }),
      op('ADD', 'accounts', { id: 1n }, { balance: -5n }),
    ]);
    expect(h.store.read('accounts', { id: 1n })).toEqual({
      found: true,
      row: { id: 1n, owner: 'ann', balance: 25n, email: 'ann@x' },
      version: 1n,
    });
    commitTxn(h, 't2', [
      op('INSERT', 'accounts', { id: 2n }, { owner: 'x', balance: 1n }),
      op('DELETE', 'accounts', { id: 2n }),
    ]);
    expect(h.store.read('accounts', { id: 2n }).found).toBe(false);
  });

  it('an intermediate state may break a constraint as long as the final image does not', () => {
    commitTxn(h, 't1', [op('INSERT', 'accounts', { id: 1n }, { owner: 'ann', balance: 5n })]);
    commitTxn(h, 't2', [
      op('ADD', 'accounts', { id: 1n }, { balance: -10n }),
      op('ADD', 'accounts', { id: 1n }, { balance: 20n }),
    ]);
    expect(h.store.read('accounts', { id: 1n }).row.balance).toBe(15n);
  });
});

describe('versions', () => {
  it('count committed writes, start at 1 for seeded rows and 0 for unseen keys, and survive delete', () => {
    expect(h.store.read('accounts', { id: 100n }).version).toBe(1n);
    expect(h.store.read('accounts', { id: 1n }).version).toBe(0n);
    commitTxn(h, 't1', [op('INSERT', 'accounts', { id: 1n }, { owner: 'a', balance: 1n })]);
    expect(h.store.read('accounts', { id: 1n }).version).toBe(1n);
    commitTxn(h, 't2', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })]);
    expect(h.store.read('accounts', { id: 1n }).version).toBe(2n);
    commitTxn(h, 't3', [op('DELETE', 'accounts', { id: 1n })]);
    expect(h.store.read('accounts', { id: 1n })).toEqual({ found: false, row: {}, version: 3n });
    commitTxn(h, 't4', [op('INSERT', 'accounts', { id: 1n }, { owner: 'b', balance: 1n })]);
    expect(h.store.read('accounts', { id: 1n }).version).toBe(4n);
    commitTxn(h, 't5', [op('ADD', 'accounts', { id: 100n }, { balance: 1n })]);
    expect(h.store.read('accounts', { id: 100n }).version).toBe(2n);
    h.reopen();
    expect(h.store.read('accounts', { id: 1n }).version).toBe(4n);
  });

  it('a read from before a delete and re-insert is stale', () => {
    commitTxn(h, 't1', [op('INSERT', 'accounts', { id: 1n }, { owner: 'a', balance: 1n })]);
    const seen = h.store.read('accounts', { id: 1n });
    commitTxn(h, 't2', [op('DELETE', 'accounts', { id: 1n })]);
    commitTxn(h, 't3', [op('INSERT', 'accounts', { id: 1n }, { owner: 'a', balance: 1n })]);
    const vote = prepareOne(h, 't4', [op('UPSERT', 'items', { id: 1n })], {
      reads: [{ table: 'accounts', key: { id: 1n }, version: seen.version }],
    });
    expect(noOf(vote).reasonCode).toBe('CONFLICT');
    expect(noOf(vote).reason).toMatch(/stale read/);
  });
});

describe('values', () => {
  it('int64 extremes round-trip exactly in keys and values', () => {
    commitTxn(h, 't1', [
      op('INSERT', 'accounts', { id: INT64_MIN }, { owner: 'min', balance: INT64_MAX }),
      op('INSERT', 'accounts', { id: INT64_MAX }, { owner: 'max', balance: 0n }),
    ]);
    expect(h.store.read('accounts', { id: INT64_MIN }).row).toEqual({
      id: INT64_MIN,
      owner: 'min',
      balance: INT64_MAX,
      email: null,
    });
    expect(h.store.read('accounts', { id: INT64_MAX }).row.owner).toBe('max');
    const q = h.store.query('SELECT id, balance FROM accounts WHERE id = ?', [INT64_MIN]);
    expect(q.rows).toEqual([{ id: INT64_MIN, balance: INT64_MAX }]);
    h.reopen();
    expect(h.store.read('accounts', { id: INT64_MIN }).row.balance).toBe(INT64_MAX);
  });

  it('ADD past int64 is NO CONSTRAINT (no silent switch to real)', () => {
    commitTxn(h, 't1', [op('INSERT', 'accounts', { id: 1n }, { owner: 'a', balance: INT64_MAX })]);
    const no = noOf(prepareOne(h, 't2', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })]));
    expect(no).toMatchObject({ reasonCode: 'CONSTRAINT', invalid: false });
    expect(no.reason).toMatch(/overflow/);
    expect(h.store.read('accounts', { id: 1n }).row.balance).toBe(INT64_MAX);
  });

  it('an int key in a REAL column and 1.0 vs 1 address the same row', () => {
    commitTxn(h, 't1', [op('INSERT', 'pairs', { region: 'eu', n: 5n }, { v: 2n })]);
    expect(h.store.read('pairs', { region: 'eu', n: 5n }).row.v).toBe(2);
  });

  it("NUMERIC keys: '7' and 7 are the same row, so the same lock", () => {
    expect(prepareOne(h, 't1', [op('INSERT', 'tags', { code: '7' }, { name: 'seven' })]).vote).toBe('YES');
    expect(
      noOf(prepareOne(h, 't2', [op('UPSERT', 'tags', { code: 7n }, { name: 'other' })])).reasonCode,
    ).toBe('CONFLICT');
    h.store.decideBatch([commitMsg('t1')]);
    expect(h.store.read('tags', { code: 7n })).toEqual({
      found: true,
      row: { code: 7n, name: 'seven' },
      version: 1n,
    });
    expect(h.store.read('tags', { code: '7' }).version).toBe(1n);
  });
});

describe('row identity follows the primary key collation', () => {
  it("'Zed' and 'zed' are one row under NOCASE: one lock, one version", () => {
    expect(prepareOne(h, 't1', [op('INSERT', 'nicknames', { nick: 'Zed' }, { n: 1n })]).vote).toBe('YES');
    expect(
      noOf(prepareOne(h, 't2', [op('UPSERT', 'nicknames', { nick: 'zed' }, { n: 2n })])).reasonCode,
    ).toBe('CONFLICT');
    h.store.decideBatch([commitMsg('t1')]);
    expect(h.store.read('nicknames', { nick: 'ZED' })).toEqual({
      found: true,
      row: { nick: 'Zed', n: 1n },
      version: 1n,
    });
    commitTxn(h, 't3', [op('ADD', 'nicknames', { nick: 'zED' }, { n: 1n })]);
    expect(h.store.read('nicknames', { nick: 'zed' })).toMatchObject({ row: { n: 2n }, version: 2n });
  });
});

/** The user tables of a dump (the internal ones change with every transaction). */
function dataOnly(dump: string): unknown {
  const all = JSON.parse(dump) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(all).filter(([name]) => !name.startsWith('_twopc_')));
}
