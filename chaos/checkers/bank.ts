/**
 * The bank checker. Transfers move an amount between two accounts (on different shards) and leave a
 * ledger row named by the transfer id; reads snapshot balances. Valid iff:
 *
 * - every read that covers all accounts, and the final state, add up to the initial total;
 * - no read and no final balance is negative;
 * - per transfer id, the ledger holds exactly one application if any invocation was acknowledged ok,
 *   none if it failed, and none or one if its outcome is unknown — never a partial or a second one;
 * - each final balance equals its initial balance plus the transfers the ledger says were applied.
 *
 * An id may be invoked more than once (a client retrying with the same idempotency key): the attempts
 * must describe the same transfer, and cannot both succeed and fail.
 */
import { HistoryError, pairInvocations, type Invocation, type Op } from '../history.ts';
import { ANOMALIES_PER_TYPE_MAX_DEFAULT, AnomalyCollector, type Verdict } from './verdict.ts';
import { SUSPECTS_MAX, checkLedger, reconcileBalances } from './bank-ledger.ts';

export { SUSPECTS_MAX };

export const BANK_TRANSFER_F = 'transfer';
export const BANK_READ_F = 'read';

/** The value of a 'transfer' op, the same on invoke and on every completion. */
export interface Transfer {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  /** A positive integer. */
  readonly amount: number;
}

/** Account → balance (integers). The value of an ok 'read' op (null on its invoke). */
export type Balances = Readonly<Record<string, number>>;

export interface BankFinalState {
  readonly balances: Balances;
  /** The transfer id of every ledger row found after the run, once per row (duplicates included). */
  readonly ledger: readonly string[];
}

export interface BankOptions {
  readonly initialBalances: Balances;
  /** Ledger rows one application of a transfer writes (2 if each side writes one). Default 1. */
  readonly ledgerRowsPerTransfer?: number;
  readonly anomaliesPerTypeMax?: number;
}

/** Where a balance was seen: a read (by its invoke entry's index) or the final state. */
export type BalanceSource = { readonly read: number } | 'final';

export type BankAnomaly =
  | {
      readonly type: 'wrong-total';
      readonly message: string;
      readonly source: BalanceSource;
      readonly total: number;
      readonly expectedTotal: number;
      /** Transfers in flight during the read, or of unknown outcome: the ones that could be half-applied. */
      readonly suspects: readonly string[];
      readonly suspectCount: number;
    }
  | {
      readonly type: 'negative-balance';
      readonly message: string;
      readonly source: BalanceSource;
      readonly account: string;
      readonly balance: number;
      readonly suspects: readonly string[];
      readonly suspectCount: number;
    }
  | {
      readonly type: 'unknown-account';
      readonly message: string;
      readonly source: BalanceSource;
      readonly account: string;
    }
  | {
      readonly type:
        | 'acknowledged-not-applied'
        | 'failed-but-applied'
        | 'applied-twice'
        | 'partially-applied'
        | 'unknown-transfer';
      readonly message: string;
      readonly transferId: string;
      readonly ledgerRows: number;
    }
  | {
      readonly type: 'contradictory-outcomes';
      readonly message: string;
      readonly transferId: string;
      readonly invocations: readonly number[];
    }
  | {
      readonly type: 'balance-mismatch';
      readonly message: string;
      readonly account: string;
      readonly expected: number;
      /** null when the final state lacks the account. */
      readonly actual: number | null;
      readonly suspects: readonly string[];
      readonly suspectCount: number;
    };

export interface BankStats {
  readonly transfers: number;
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  readonly reads: number;
  /** Reads covering every account, so their total can be checked. */
  readonly fullReads: number;
  readonly ledgerRows: number;
}

export type BankVerdict = Verdict<BankAnomaly, BankStats>;

/** All invocations of one transfer id, and what they add up to. */
export interface TransferRecord {
  readonly transfer: Transfer;
  readonly invocations: Invocation[];
  outcome: 'ok' | 'fail' | 'info';
}

export type BankCollector = AnomalyCollector<BankAnomaly>;
type Collector = BankCollector;

export function checkBank(history: readonly Op[], final: BankFinalState, options: BankOptions): BankVerdict {
  const collector = new AnomalyCollector<BankAnomaly>(
    options.anomaliesPerTypeMax ?? ANOMALIES_PER_TYPE_MAX_DEFAULT,
  );
  const accounts = Object.keys(options.initialBalances);
  for (const a of accounts) requireInteger(options.initialBalances[a], `initial balance of ${a}`);
  const expectedTotal = sum(options.initialBalances);
  const invocations = pairInvocations(history);
  const transfers = collectTransfers(invocations, new Set(accounts), collector);
  const reads = invocations.filter((inv) => inv.f === BANK_READ_F && inv.type === 'ok');
  let fullReads = 0;
  for (const read of reads) {
    const balances = read.value as Balances;
    // Computed only for a read that shows an anomaly: it scans every transfer.
    const suspects = (): Transfer[] => inFlight(read, transfers);
    if (checkBalances({ read: read.invoke.index }, balances, accounts, expectedTotal, suspects, collector))
      fullReads++;
  }
  const unsettled = [...transfers.values()].filter((t) => t.outcome === 'info').map((t) => t.transfer);
  checkBalances('final', final.balances, accounts, expectedTotal, () => unsettled, collector);
  const applied = checkLedger(final.ledger, transfers, options.ledgerRowsPerTransfer ?? 1, collector);
  reconcileBalances(options.initialBalances, final.balances, transfers, applied, collector);
  const count = (outcome: TransferRecord['outcome']): number =>
    [...transfers.values()].filter((t) => t.outcome === outcome).length;
  const stats: BankStats = {
    transfers: transfers.size,
    ok: count('ok'),
    fail: count('fail'),
    info: count('info'),
    reads: reads.length,
    fullReads,
    ledgerRows: final.ledger.length,
  };
  return collector.verdict('bank', stats);
}

function collectTransfers(
  invocations: readonly Invocation[],
  accounts: ReadonlySet<string>,
  collector: Collector,
): Map<string, TransferRecord> {
  const transfers = new Map<string, TransferRecord>();
  for (const inv of invocations) {
    if (inv.f !== BANK_TRANSFER_F) continue;
    const t = validateTransfer(inv.invoke.value, inv.invoke.index, accounts);
    const record = transfers.get(t.id);
    if (!record) {
      transfers.set(t.id, { transfer: t, invocations: [inv], outcome: inv.type });
      continue;
    }
    if (
      record.transfer.from !== t.from ||
      record.transfer.to !== t.to ||
      record.transfer.amount !== t.amount
    ) {
      throw new HistoryError(
        `op ${inv.invoke.index}: transfer ${t.id} retried with different accounts or amount`,
      );
    }
    const contradictory = (invs: readonly Invocation[]): boolean =>
      invs.some((i) => i.type === 'ok') && invs.some((i) => i.type === 'fail');
    const wasContradictory = contradictory(record.invocations);
    record.invocations.push(inv);
    const outcomes = new Set(record.invocations.map((i) => i.type));
    record.outcome = outcomes.has('ok') ? 'ok' : outcomes.has('fail') ? 'fail' : 'info';
    if (!wasContradictory && contradictory(record.invocations)) {
      const indexes = record.invocations.map((i) => i.invoke.index);
      const message = `transfer ${t.id} was both acknowledged and failed (invocations at ops ${indexes.join(', ')})`;
      collector.add({ type: 'contradictory-outcomes', message, transferId: t.id, invocations: indexes });
    }
  }
  return transfers;
}

/** Checks one set of balances; returns true if it covered every account (so the total was checked). */
function checkBalances(
  source: BalanceSource,
  balances: Balances,
  accounts: readonly string[],
  expectedTotal: number,
  suspects: () => readonly Transfer[],
  collector: Collector,
): boolean {
  const where = source === 'final' ? 'the final state' : `the read at op ${source.read}`;
  if (typeof balances !== 'object' || balances === null)
    throw new HistoryError(`${where}: balances must be an object`);
  for (const [account, balance] of Object.entries(balances)) {
    requireInteger(balance, `${where}: balance of ${account}`);
    if (!accounts.includes(account)) {
      collector.add({
        type: 'unknown-account',
        message: `${where} shows account ${account}, which the bank does not have`,
        source,
        account,
      });
    }
    if (balance < 0) {
      const ids = suspects()
        .filter((t) => t.from === account)
        .map((t) => t.id);
      const message = `${where} shows ${account} at ${balance}`;
      collector.add({
        type: 'negative-balance',
        message,
        source,
        account,
        balance,
        suspects: ids.slice(0, SUSPECTS_MAX),
        suspectCount: ids.length,
      });
    }
  }
  if (!accounts.every((a) => a in balances)) return false;
  const total = sum(balances);
  if (total !== expectedTotal) {
    const ids = suspects().map((t) => t.id);
    const message = `${where} adds up to ${total}, not ${expectedTotal}`;
    collector.add({
      type: 'wrong-total',
      message,
      source,
      total,
      expectedTotal,
      suspects: ids.slice(0, SUSPECTS_MAX),
      suspectCount: ids.length,
    });
  }
  return true;
}

/**
 * Transfers a read could have caught half-done: not failed, invoked before the read completed, and
 * not acknowledged before the read was invoked. Those in flight come first, unknown ones after.
 */
function inFlight(read: Invocation, transfers: ReadonlyMap<string, TransferRecord>): Transfer[] {
  const readEnd = read.completion?.index ?? Infinity;
  const concurrent: Transfer[] = [];
  const unknown: Transfer[] = [];
  for (const record of transfers.values()) {
    if (record.outcome === 'fail') continue;
    const overlapping = record.invocations.some(
      (i) => i.invoke.index < readEnd && (i.completion?.index ?? Infinity) > read.invoke.index,
    );
    if (!overlapping) continue;
    (record.invocations.some((i) => i.type === 'info') ? unknown : concurrent).push(record.transfer);
  }
  return [...concurrent, ...unknown];
}

function validateTransfer(value: unknown, at: number, accounts: ReadonlySet<string>): Transfer {
  const t = value as Partial<Transfer> | null;
  const bad = (why: string): never => {
    throw new HistoryError(`op ${at}: transfer ${why}: ${JSON.stringify(value)}`);
  };
  if (typeof t !== 'object' || t === null) return bad('value must be an object');
  if (typeof t.id !== 'string' || t.id === '') bad('id must be a non-empty string');
  if (typeof t.from !== 'string' || !accounts.has(t.from)) bad('from must be a known account');
  if (typeof t.to !== 'string' || !accounts.has(t.to)) bad('to must be a known account');
  if (t.from === t.to) bad('from and to must differ');
  if (!Number.isSafeInteger(t.amount) || (t.amount as number) <= 0) bad('amount must be a positive integer');
  return t as Transfer;
}

function requireInteger(n: unknown, what: string): void {
  if (!Number.isSafeInteger(n))
    throw new HistoryError(`${what} must be an integer, got ${JSON.stringify(n)}`);
}

function sum(balances: Balances): number {
  return Object.values(balances).reduce((a, b) => a + b, 0);
}
