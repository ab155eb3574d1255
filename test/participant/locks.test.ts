/**
 * Intent locks between prepared transactions, and validation of what a transaction read.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  abortMsg,
  commitMsg,
  commitTxn,
  internalRows,
  noOf,
  op,
  openAccountsHarness,
  prepareOne,
  type Harness,
} from './helpers.ts';

let h: Harness;
beforeEach(() => {
  h = openAccountsHarness();
});
afterEach(() => h.cleanup());

const read1 = (version: bigint) => [{ table: 'accounts', key: { id: 1n }, version }];

describe('lock conflicts between prepared transactions', () => {
  it('write/write: a second writer of a prepared key votes NO CONFLICT, and YES once the first is decided', () => {
    expect(prepareOne(h, 't1', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })]).vote).toBe('YES');
    const no = noOf(prepareOne(h, 't2', [op('UPDATE', 'accounts', { id: 1n }, { owner: 'x' })]));
    expect(no).toMatchObject({ reasonCode: 'CONFLICT', invalid: false });
    expect(no.reason).toMatch(/write\/write conflict on accounts\(id=1\): held by prepared transaction t1/);
    h.store.decideBatch([abortMsg('t1')]);
    expect(prepareOne(h, 't3', [op('UPDATE', 'accounts', { id: 1n }, { owner: 'x' })]).vote).toBe('YES');
  });

  it('write/write on a key being inserted', () => {
    expect(
      prepareOne(h, 't1', [op('INSERT', 'accounts', { id: 9n }, { owner: 'a', balance: 1n })]).vote,
    ).toBe('YES');
    expect(
      noOf(prepareOne(h, 't2', [op('INSERT', 'accounts', { id: 9n }, { owner: 'b', balance: 1n })]))
        .reasonCode,
    ).toBe('CONFLICT');
  });

  it('read/write: a writer of a key a prepared transaction read votes NO', () => {
    expect(prepareOne(h, 't1', [], { reads: read1(1n) }).vote).toBe('YES');
    expect(noOf(prepareOne(h, 't2', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })])).reason).toMatch(
      /write\/read conflict/,
    );
  });

  it('write/read: a reader of a key a prepared transaction writes votes NO', () => {
    expect(prepareOne(h, 't1', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })]).vote).toBe('YES');
    expect(noOf(prepareOne(h, 't2', [], { reads: read1(1n) })).reason).toMatch(/read\/write conflict/);
    expect(noOf(prepareOne(h, 't3', [op('CHECK', 'accounts', { id: 1n }, {}, 1n)])).reasonCode).toBe(
      'CONFLICT',
    );
  });

  it('read/read does not conflict', () => {
    expect(prepareOne(h, 't1', [], { reads: read1(1n) }).vote).toBe('YES');
    expect(
      prepareOne(h, 't2', [op('CHECK', 'accounts', { id: 1n }, {}, 1n)], { reads: read1(1n) }).vote,
    ).toBe('YES');
  });

  it('two prepared transactions cannot both take one UNIQUE value, whatever the rows', () => {
    expect(
      prepareOne(h, 't1', [
        op('INSERT', 'accounts', { id: 5n }, { owner: 'a', balance: 1n, email: 'same@x' }),
      ]).vote,
    ).toBe('YES');
    const no = noOf(prepareOne(h, 't2', [op('UPDATE', 'accounts', { id: 2n }, { email: 'same@x' })]));
    expect(no.reasonCode).toBe('CONFLICT');
    expect(no.reason).toMatch(/unique index/);
    h.store.decideBatch([commitMsg('t1')]);
    // Once t1 is committed the value is taken for real: a constraint, not a conflict.
    expect(
      noOf(prepareOne(h, 't3', [op('UPDATE', 'accounts', { id: 2n }, { email: 'same@x' })])).reasonCode,
    ).toBe('CONSTRAINT');
  });

  it('UNIQUE values are compared with the column collation (NOCASE)', () => {
    expect(prepareOne(h, 't1', [op('INSERT', 'users', { id: 1n }, { handle: 'Alice' })]).vote).toBe('YES');
    expect(
      noOf(prepareOne(h, 't2', [op('INSERT', 'users', { id: 2n }, { handle: 'alice' })])).reasonCode,
    ).toBe('CONFLICT');
    expect(prepareOne(h, 't3', [op('INSERT', 'users', { id: 3n }, { handle: 'bob' })]).vote).toBe('YES');
  });

  it('NULLs in a UNIQUE column never conflict', () => {
    expect(
      prepareOne(h, 't1', [op('INSERT', 'accounts', { id: 5n }, { owner: 'a', balance: 1n })]).vote,
    ).toBe('YES');
    expect(
      prepareOne(h, 't2', [op('INSERT', 'accounts', { id: 6n }, { owner: 'b', balance: 1n })]).vote,
    ).toBe('YES');
  });

  it('decisions release every lock', () => {
    expect(
      prepareOne(h, 't1', [op('INSERT', 'accounts', { id: 5n }, { owner: 'a', balance: 1n, email: 'e' })], {
        reads: read1(1n),
      }).vote,
    ).toBe('YES');
    expect(internalRows(h.file, '_twopc_locks')).toHaveLength(3);
    h.store.decideBatch([commitMsg('t1')]);
    expect(internalRows(h.file, '_twopc_locks')).toEqual([]);
  });
});

describe('reads under locks and read validation', () => {
  it('read returns the committed row while a prepared transaction holds a W lock on it', () => {
    expect(prepareOne(h, 't1', [op('UPDATE', 'accounts', { id: 1n }, { owner: 'zed' })]).vote).toBe('YES');
    expect(h.store.read('accounts', { id: 1n })).toEqual({
      found: true,
      row: { id: 1n, owner: 'ann', balance: 10n, email: null },
      version: 1n,
    });
    expect(h.store.query('SELECT owner FROM accounts WHERE id = 1', []).rows).toEqual([{ owner: 'ann' }]);
  });

  it('a stale read votes NO CONFLICT', () => {
    const seen = h.store.read('accounts', { id: 1n });
    commitTxn(h, 't1', [op('ADD', 'accounts', { id: 1n }, { balance: 1n })]);
    const no = noOf(
      prepareOne(h, 't2', [op('ADD', 'accounts', { id: 2n }, { balance: 1n })], {
        reads: read1(seen.version),
      }),
    );
    expect(no).toMatchObject({ reasonCode: 'CONFLICT', invalid: false });
    expect(no.reason).toMatch(/stale read/);
    expect(
      prepareOne(h, 't3', [op('ADD', 'accounts', { id: 2n }, { balance: 1n })], {
        reads: read1(seen.version + 1n),
      }).vote,
    ).toBe('YES');
  });

  it('a read of an absent row (version 0) holds while the row stays absent', () => {
    commitTxn(h, 't0', [op('INSERT', 'accounts', { id: 7n }, { owner: 'a', balance: 1n })]);
    commitTxn(h, 't1', [op('DELETE', 'accounts', { id: 7n })]);
    const read = [{ table: 'accounts', key: { id: 7n }, version: 0n }];
    expect(prepareOne(h, 't2', [], { reads: read }).vote).toBe('YES');
    h.store.decideBatch([commitMsg('t2')]);
    commitTxn(h, 't3', [op('INSERT', 'accounts', { id: 7n }, { owner: 'a', balance: 1n })]);
    expect(noOf(prepareOne(h, 't4', [], { reads: read })).reasonCode).toBe('CONFLICT');
  });

  it('an expected_version mismatch votes NO CONFLICT; a match votes YES', () => {
    const no = noOf(prepareOne(h, 't1', [op('UPDATE', 'accounts', { id: 1n }, { owner: 'x' }, 5n)]));
    expect(no).toMatchObject({ reasonCode: 'CONFLICT', invalid: false });
    expect(no.reason).toMatch(/expected version 5, committed version is 1/);
    expect(
      noOf(prepareOne(h, 't2', [op('INSERT', 'accounts', { id: 1n }, { owner: 'x', balance: 0n }, 0n)]))
        .reasonCode,
    ).toBe('CONFLICT');
    expect(prepareOne(h, 't3', [op('UPDATE', 'accounts', { id: 1n }, { owner: 'x' }, 1n)]).vote).toBe('YES');
  });
});
