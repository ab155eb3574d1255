import { describe, expect, it } from 'vitest';
import {
  checkBank,
  type BankAnomaly,
  type BankFinalState,
  type BankVerdict,
  type Balances,
  type Transfer,
} from '../../chaos/checkers/bank.ts';
import { HistoryError, type CompletionType, type Op } from '../../chaos/history.ts';
import { recorder } from './histories.ts';

const initialBalances = { a: 100, b: 100, c: 100 };
const options = { initialBalances };

const t1: Transfer = { id: 't1', from: 'a', to: 'b', amount: 10 };
const t2: Transfer = { id: 't2', from: 'b', to: 'c', amount: 5 };
const t3: Transfer = { id: 't3', from: 'c', to: 'a', amount: 7 };
const t4: Transfer = { id: 't4', from: 'a', to: 'c', amount: 3 };

/** A bank history built step by step; transfers and reads complete in the order written. */
class Bank {
  readonly rec = recorder();
  #process = 0;

  transfer(t: Transfer, type: CompletionType): this {
    const op = this.rec.invoke(this.#process++, 'transfer', t);
    this.rec.complete(op, type, t);
    return this;
  }

  read(balances: Balances): this {
    const op = this.rec.invoke(this.#process++, 'read', null);
    this.rec.complete(op, 'ok', balances);
    return this;
  }

  /** A read that runs while `t` is in flight. */
  readDuring(t: Transfer, type: CompletionType, balances: Balances): this {
    const transfer = this.rec.invoke(this.#process++, 'transfer', t);
    this.read(balances);
    this.rec.complete(transfer, type, t);
    return this;
  }

  get ops(): readonly Op[] {
    return this.rec.ops;
  }
}

/** t1 ok, t2 failed, t3 unknown (applied), t4 unknown (not applied), with consistent reads. */
function validRun(): { bank: Bank; final: BankFinalState } {
  const bank = new Bank()
    .read(initialBalances)
    .transfer(t1, 'ok')
    .read({ a: 90, b: 110, c: 100 })
    .transfer(t2, 'fail')
    .transfer(t3, 'info')
    .transfer(t4, 'info')
    .read({ a: 97, b: 110, c: 93 })
    .read({ a: 97 }); // a partial read: only its sign is checked
  return { bank, final: { balances: { a: 97, b: 110, c: 93 }, ledger: ['t1', 't3'] } };
}

function only<T extends BankAnomaly['type']>(verdict: BankVerdict, type: T): BankAnomaly & { type: T } {
  const found = verdict.anomalies.filter((a) => a.type === type);
  expect(found, JSON.stringify(verdict.anomalies, null, 1)).toHaveLength(1);
  return found[0] as BankAnomaly & { type: T };
}

function types(verdict: BankVerdict): string[] {
  return Object.keys(verdict.anomalyCounts).sort();
}

describe('bank checker', () => {
  it('accepts a run where every transfer is applied according to its outcome', () => {
    const { bank, final } = validRun();
    const v = checkBank(bank.ops, final, options);
    expect(v.valid, JSON.stringify(v.anomalies)).toBe(true);
    expect(v.stats).toEqual({ transfers: 4, ok: 1, fail: 1, info: 2, reads: 4, fullReads: 3, ledgerRows: 2 });
  });

  it('accepts two ledger rows per application when configured so', () => {
    const { bank, final } = validRun();
    const v = checkBank(
      bank.ops,
      { ...final, ledger: ['t1', 't3', 't1', 't3'] },
      { ...options, ledgerRowsPerTransfer: 2 },
    );
    expect(v.valid, JSON.stringify(v.anomalies)).toBe(true);
  });

  it('accepts a retried transfer id applied once', () => {
    const bank = new Bank().transfer(t1, 'info').transfer(t1, 'ok');
    const v = checkBank(bank.ops, { balances: { a: 90, b: 110, c: 100 }, ledger: ['t1'] }, options);
    expect(v.valid, JSON.stringify(v.anomalies)).toBe(true);
    expect(v.stats.ok).toBe(1);
  });

  it('finds a read whose total is wrong, naming the transfer in flight', () => {
    const bank = new Bank().readDuring(t1, 'ok', { a: 90, b: 100, c: 100 });
    const v = checkBank(bank.ops, { balances: { a: 90, b: 110, c: 100 }, ledger: ['t1'] }, options);
    expect(types(v)).toEqual(['wrong-total']);
    expect(only(v, 'wrong-total')).toMatchObject({
      source: { read: 1 },
      total: 290,
      expectedTotal: 300,
      suspects: ['t1'],
    });
  });

  it('finds a negative balance in a read', () => {
    const bank = new Bank().readDuring(t1, 'fail', { a: -10, b: 210, c: 100 });
    const v = checkBank(bank.ops, { balances: initialBalances, ledger: [] }, options);
    expect(types(v)).toEqual(['negative-balance']);
    expect(only(v, 'negative-balance')).toMatchObject({ account: 'a', balance: -10, suspects: [] });
  });

  it('finds a wrong total and a negative balance in the final state', () => {
    const v = checkBank([], { balances: { a: -1, b: 100, c: 100 }, ledger: [] }, options);
    expect(types(v)).toEqual(['balance-mismatch', 'negative-balance', 'wrong-total']);
    expect(only(v, 'wrong-total').source).toBe('final');
  });

  it('finds an acknowledged transfer that was never applied', () => {
    const bank = new Bank().transfer(t1, 'ok');
    const v = checkBank(bank.ops, { balances: initialBalances, ledger: [] }, options);
    expect(types(v)).toEqual(['acknowledged-not-applied']);
    expect(only(v, 'acknowledged-not-applied').transferId).toBe('t1');
  });

  it('finds a failed transfer that was applied', () => {
    const bank = new Bank().transfer(t2, 'fail');
    const v = checkBank(bank.ops, { balances: { a: 100, b: 95, c: 105 }, ledger: ['t2'] }, options);
    expect(types(v)).toEqual(['failed-but-applied']);
    expect(only(v, 'failed-but-applied').transferId).toBe('t2');
  });

  it('finds transfers applied twice, whatever their outcome', () => {
    const bank = new Bank().transfer(t1, 'ok').transfer(t3, 'info');
    const final = { balances: { a: 94, b: 120, c: 86 }, ledger: ['t1', 't1', 't3', 't3'] };
    const v = checkBank(bank.ops, final, options);
    expect(types(v)).toEqual(['applied-twice']);
    expect(v.anomalies.map((a) => ('transferId' in a ? a.transferId : ''))).toEqual(['t1', 't3']);
  });

  it('finds a transfer applied on one side only', () => {
    const bank = new Bank().transfer(t1, 'ok');
    const v = checkBank(
      bank.ops,
      { balances: { a: 90, b: 110, c: 100 }, ledger: ['t1'] },
      { ...options, ledgerRowsPerTransfer: 2 },
    );
    expect(types(v)).toEqual(['partially-applied']);
  });

  it('finds ledger rows of transfers nobody invoked', () => {
    const v = checkBank([], { balances: initialBalances, ledger: ['ghost'] }, options);
    expect(types(v)).toEqual(['unknown-transfer']);
    expect(only(v, 'unknown-transfer')).toMatchObject({ transferId: 'ghost', ledgerRows: 1 });
  });

  it('finds a transfer id that both succeeded and failed', () => {
    const bank = new Bank().transfer(t1, 'ok').transfer(t1, 'fail');
    const v = checkBank(bank.ops, { balances: { a: 90, b: 110, c: 100 }, ledger: ['t1'] }, options);
    expect(types(v)).toEqual(['contradictory-outcomes']);
    expect(only(v, 'contradictory-outcomes').invocations).toEqual([0, 2]);
  });

  it('finds final balances that disagree with the ledger, naming the likely transfer', () => {
    const bank = new Bank().transfer(t1, 'ok');
    // The credit went to c instead of b: totals are fine, b and c are not.
    const v = checkBank(bank.ops, { balances: { a: 90, b: 100, c: 110 }, ledger: ['t1'] }, options);
    expect(types(v)).toEqual(['balance-mismatch']);
    expect(
      v.anomalies.map((a) =>
        a.type === 'balance-mismatch' ? [a.account, a.expected, a.actual, a.suspects] : [],
      ),
    ).toEqual([
      ['b', 110, 100, ['t1']],
      ['c', 100, 110, []],
    ]);
  });

  it('finds accounts the bank does not have, and balances missing from the final state', () => {
    const bank = new Bank().read({ a: 100, b: 100, c: 100, z: 0 });
    const v = checkBank(bank.ops, { balances: { a: 100, b: 100 }, ledger: [] }, options);
    expect(types(v)).toEqual(['balance-mismatch', 'unknown-account']);
    expect(only(v, 'balance-mismatch')).toMatchObject({ account: 'c', actual: null });
  });

  it('refuses malformed transfers, balances and retries', () => {
    const final = { balances: initialBalances, ledger: [] };
    const bad = (t: object): Op[] => [
      { index: 0, process: 0, type: 'invoke', f: 'transfer', value: t, timeMs: 0 },
      { index: 1, process: 0, type: 'fail', f: 'transfer', value: t, timeMs: 1 },
    ];
    expect(() => checkBank(bad({ ...t1, to: 'z' }), final, options)).toThrow(/to must be a known account/);
    expect(() => checkBank(bad({ ...t1, amount: 0 }), final, options)).toThrow(/positive integer/);
    expect(() => checkBank(bad({ ...t1, to: 'a' }), final, options)).toThrow(/must differ/);
    expect(() => checkBank([], { balances: { a: 1.5 }, ledger: [] }, options)).toThrow(HistoryError);
    const retried = new Bank().transfer(t1, 'info').transfer({ ...t1, amount: 11 }, 'ok');
    expect(() => checkBank(retried.ops, final, options)).toThrow(/retried with different/);
  });
});

describe('bank checker at scale', () => {
  it('checks 20,000 transfers and 10,000 reads quickly', () => {
    const balances: Record<string, number> = { ...initialBalances };
    const bank = new Bank();
    const ledger: string[] = [];
    const accounts = Object.keys(balances);
    for (let i = 0; i < 20_000; i++) {
      const from = accounts[i % 3]!;
      const to = accounts[(i + 1 + (i % 2)) % 3]!;
      const t: Transfer = { id: `t${i}`, from, to, amount: 1 + (i % 50) };
      const applies = balances[from]! >= t.amount;
      if (applies) {
        balances[from]! -= t.amount;
        balances[to]! += t.amount;
        ledger.push(t.id);
      }
      bank.transfer(t, applies ? 'ok' : 'fail');
      if (i % 2 === 0) bank.read({ ...balances });
    }
    const started = performance.now();
    const v = checkBank(bank.ops, { balances, ledger }, options);
    expect(v.valid, JSON.stringify(v.anomalies.slice(0, 3))).toBe(true);
    expect(v.stats.reads).toBe(10_000);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
