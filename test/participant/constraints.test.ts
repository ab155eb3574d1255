/**
 * Constraints surface at prepare as a NO with SQLite's message (never at commit), and bad input is a
 * NO with invalid = true that writes nothing but the NO itself.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ShardOp } from '../../common/protocol.ts';
import { seededRandom } from '../../common/random.ts';
import {
  abortMsg,
  commitMsg,
  commitTxn,
  internalRows,
  noOf,
  op,
  openHarness,
  prepareOne,
  type Harness,
} from './helpers.ts';

let h: Harness;
beforeEach(() => {
  h = openHarness();
  commitTxn(h, 'setup', [
    op('INSERT', 'accounts', { id: 1n }, { owner: 'ann', balance: 10n, email: 'ann@x' }),
    op('INSERT', 'items', { id: 1n }, { qty: 1n }),
  ]);
});
afterEach(() => h.cleanup());

/** Only the NO record may be added; user tables, pending rows, locks and versions stay as they were. */
function expectNothingStaged(before: string, txnId: string): void {
  const after = JSON.parse(h.dump()) as Record<string, unknown[]>;
  const expected = JSON.parse(before) as Record<string, unknown[]>;
  const { _twopc_txns: txnsAfter, ...restAfter } = after;
  const { _twopc_txns: txnsBefore, ...restBefore } = expected;
  expect(restAfter).toEqual(restBefore);
  expect(txnsAfter?.length).toBe((txnsBefore?.length ?? 0) + 1);
  expect(h.store.txnState(txnId).state).toBe('ABORTED');
  expect(internalRows(h.file, '_twopc_locks')).toEqual([]);
}

describe('constraints are NO at prepare, with the message', () => {
  const cases: [string, ShardOp[], RegExp][] = [
    ['CHECK', [op('ADD', 'accounts', { id: 1n }, { balance: -11n })], /CHECK constraint failed/],
    [
      'NOT NULL',
      [op('INSERT', 'accounts', { id: 2n }, { balance: 1n })],
      /NOT NULL constraint failed: accounts.owner/,
    ],
    [
      'UNIQUE on a secondary index',
      [op('INSERT', 'accounts', { id: 2n }, { owner: 'b', balance: 1n, email: 'ann@x' })],
      /UNIQUE constraint failed: accounts.email/,
    ],
    [
      'STRICT type',
      [op('INSERT', 'gadgets', { id: 1n })],
      /cannot store TEXT value in INT column gadgets.size/,
    ],
    ['row exists', [op('INSERT', 'accounts', { id: 1n }, { owner: 'x', balance: 0n })], /already exists/],
    ['row missing', [op('UPDATE', 'accounts', { id: 3n }, { owner: 'x' })], /no such row/],
  ];
  for (const [name, ops, message] of cases) {
    it(name, () => {
      const before = h.dump();
      const no = noOf(prepareOne(h, 'bad', ops));
      expect(no).toMatchObject({ reasonCode: 'CONSTRAINT', invalid: false });
      expect(no.reason).toMatch(message);
      expectNothingStaged(before, 'bad');
    });
  }

  it('the STRICT table accepts the same insert with a valid size', () => {
    expect(prepareOne(h, 'ok', [op('INSERT', 'gadgets', { id: 1n }, { size: 3n })]).vote).toBe('YES');
  });
});

describe('a YES always commits', () => {
  it('random transfers: every YES commits without throwing and balances never go negative', () => {
    const random = seededRandom(42);
    const accounts = [1n, 2n, 3n, 4n];
    commitTxn(
      h,
      'seed',
      accounts.slice(1).map((id) => op('INSERT', 'accounts', { id }, { owner: `o${id}`, balance: 5n })),
    );
    let yes = 0;
    for (let i = 0; i < 200; i++) {
      const from = random.pick(accounts);
      const to = random.pick(accounts);
      const amount = BigInt(random.int(1, 8));
      const vote = prepareOne(h, `x${i}`, [
        op('ADD', 'accounts', { id: from }, { balance: -amount }),
        op('ADD', 'accounts', { id: to }, { balance: amount }),
      ]);
      if (vote.vote === 'YES') {
        yes++;
        expect(h.store.decideBatch([commitMsg(`x${i}`)])).toEqual([{ txnId: `x${i}`, state: 'COMMITTED' }]);
      } else {
        expect(noOf(vote).reasonCode).toBe('CONSTRAINT');
      }
    }
    expect(yes).toBeGreaterThan(20);
    const total = h.store.query('SELECT sum(balance) AS s, min(balance) AS m FROM accounts WHERE id <= 4', [])
      .rows[0];
    expect(total).toEqual({ s: 25n, m: expect.any(BigInt) as unknown });
    expect((total?.m as bigint) >= 0n).toBe(true);
  });
});

describe('invalid input is NO with invalid = true and stages nothing', () => {
  const cases: [string, ShardOp, RegExp][] = [
    ['unknown table', op('INSERT', 'nope', { id: 1n }), /unknown table nope/],
    ['internal table', op('INSERT', '_twopc_txns', { txn_id: 'x' }), /internal/],
    ['unknown column', op('UPDATE', 'accounts', { id: 1n }, { colour: 'red' }), /unknown column colour/],
    ['partial key', op('UPSERT', 'pairs', { region: 'eu' }, { v: 1.0 }), /key lacks n/],
    ['extra key column', op('UPSERT', 'accounts', { id: 1n, owner: 'ann' }), /not a primary-key column/],
    ['NULL key', op('UPSERT', 'accounts', { id: null }), /NULL/],
    ['text in INTEGER', op('UPDATE', 'accounts', { id: 1n }, { balance: '5' }), /balance is INTEGER/],
    ['real in INTEGER', op('UPDATE', 'accounts', { id: 1n }, { balance: 5.5 }), /balance is INTEGER/],
    ['int in TEXT', op('UPDATE', 'accounts', { id: 1n }, { owner: 5n }), /owner is TEXT/],
    ['text key in INTEGER key', op('UPSERT', 'accounts', { id: '1' }, { owner: 'x' }), /id is INTEGER/],
    ['NaN', op('UPDATE', 'items', { id: 1n }, { weight: Number.NaN }), /not storable/],
    ['ADD to TEXT', op('ADD', 'accounts', { id: 1n }, { owner: 1n }), /not numeric/],
    ['ADD a text delta', op('ADD', 'pairs', { region: 'eu', n: 1n }, { note: 'x' }), /not a number/],
    ['changing the key', op('UPDATE', 'accounts', { id: 1n }, { id: 2n }), /cannot be changed/],
    ['CHECK without a version', op('CHECK', 'accounts', { id: 1n }), /expected_version/],
  ];
  for (const [name, bad, message] of cases) {
    it(name, () => {
      const before = h.dump();
      // A valid op first: the invalid one must sink the whole message.
      const no = noOf(prepareOne(h, 'bad', [op('ADD', 'accounts', { id: 1n }, { balance: 1n }), bad]));
      expect(no).toMatchObject({ reasonCode: 'CONSTRAINT', invalid: true });
      expect(no.reason).toMatch(message);
      expectNothingStaged(before, 'bad');
    });
  }

  it('a malformed envelope is invalid too', () => {
    const vote = prepareOne(h, 'env', [], { epoch: -1n });
    expect(noOf(vote)).toMatchObject({ invalid: true });
    expect(noOf(prepareOne(h, '', [])).invalid).toBe(true);
  });

  it('an invalid NO is repeated to a repeated prepare, and the abort that follows is acknowledged', () => {
    const first = prepareOne(h, 'bad', [op('INSERT', 'nope', { id: 1n })]);
    expect(prepareOne(h, 'bad', [op('INSERT', 'nope', { id: 1n })])).toEqual(first);
    expect(h.store.decideBatch([abortMsg('bad')])).toEqual([{ txnId: 'bad', state: 'ABORTED' }]);
  });
});
