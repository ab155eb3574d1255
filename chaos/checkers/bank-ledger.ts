/**
 * The bank checker's view of the final state: how many times the ledger says each transfer was applied,
 * and whether the balances agree with exactly those transfers.
 */
import type { BankAnomaly, BankCollector, Balances, TransferRecord } from './bank.ts';

/** Transfer ids listed per anomaly; the rest are only counted in `suspectCount`. */
export const SUSPECTS_MAX = 20;

/** Judges the ledger row count of every transfer; returns how many times each id was applied. */
export function checkLedger(
  ledger: readonly string[],
  transfers: ReadonlyMap<string, TransferRecord>,
  rowsPerTransfer: number,
  collector: BankCollector,
): Map<string, number> {
  const rows = new Map<string, number>();
  for (const id of ledger) rows.set(id, (rows.get(id) ?? 0) + 1);
  const applied = new Map<string, number>();
  for (const [id, n] of rows) {
    if (!transfers.has(id))
      collector.add({
        type: 'unknown-transfer',
        message: `ledger holds ${n} row(s) for ${id}, which was never invoked`,
        transferId: id,
        ledgerRows: n,
      });
  }
  for (const [id, record] of transfers) {
    const n = rows.get(id) ?? 0;
    const times = Math.ceil(n / rowsPerTransfer);
    applied.set(id, times);
    const add = (type: Extract<BankAnomaly, { ledgerRows: number }>['type'], what: string): void =>
      collector.add({
        type,
        message: `transfer ${id} (${record.outcome}) ${what}: ${n} ledger row(s)`,
        transferId: id,
        ledgerRows: n,
      });
    if (n % rowsPerTransfer !== 0) add('partially-applied', `was applied in part`);
    if (times > 1) add('applied-twice', `was applied ${times} times`);
    if (record.outcome === 'ok' && n === 0)
      add('acknowledged-not-applied', 'was acknowledged but never applied');
    if (record.outcome === 'fail' && n > 0) add('failed-but-applied', 'failed but was applied');
  }
  return applied;
}

/** Each final balance must be the initial one moved by exactly the transfers the ledger shows applied. */
export function reconcileBalances(
  initial: Balances,
  final: Balances,
  transfers: ReadonlyMap<string, TransferRecord>,
  applied: ReadonlyMap<string, number>,
  collector: BankCollector,
): void {
  const expected = new Map(Object.entries(initial));
  for (const [id, times] of applied) {
    const t = transfers.get(id)?.transfer;
    if (!t || times === 0) continue;
    expected.set(t.from, (expected.get(t.from) ?? 0) - t.amount * times);
    expected.set(t.to, (expected.get(t.to) ?? 0) + t.amount * times);
  }
  for (const [account, want] of expected) {
    const actual = final[account] ?? null;
    if (actual === want) continue;
    const touching = [...transfers.values()]
      .map((r) => r.transfer)
      .filter((t) => t.from === account || t.to === account);
    const exact = actual === null ? [] : touching.filter((t) => t.amount === Math.abs(actual - want));
    const unknown = touching.filter((t) => transfers.get(t.id)?.outcome === 'info');
    const ids = (exact.length > 0 ? exact : unknown).map((t) => t.id);
    const message = `final balance of ${account} is ${actual ?? 'missing'}, but the ledger's transfers give ${want}`;
    collector.add({
      type: 'balance-mismatch',
      message,
      account,
      expected: want,
      actual,
      suspects: ids.slice(0, SUSPECTS_MAX),
      suspectCount: ids.length,
    });
  }
}
