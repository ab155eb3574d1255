/**
 * The simulated bank: its schema, its accounts, the ops of one transfer, and how the final state is
 * judged. Accounts are spread over every shard; a transfer moves money between two accounts (on two
 * shards, a two-phase commit; now and then on one shard, a one-phase commit) and writes one ledger
 * row per side, keyed by the transfer id, which doubles as the durability marker. `CHECK (balance >= 0)`
 * turns an overdraft into a NO vote, so aborts happen on purpose.
 */
import type { ClientOp } from '../../common/api.ts';
import { checkBank, type Balances, type Transfer } from '../checkers/bank.ts';
import { checkDurability, type CommitRecord } from '../checkers/durability.ts';
import type { Op } from '../history.ts';
import type { AnyVerdict } from '../workloads/workload.ts';

export const bankSchemaSql = (accountsPerShard: number, initialBalance: number): string => `
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  balance INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS ledger (
  transfer_id TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('from', 'to')),
  amount INTEGER NOT NULL,
  PRIMARY KEY (transfer_id, side)
);
INSERT OR IGNORE INTO accounts (id, balance) VALUES
${Array.from({ length: accountsPerShard }, (_, i) => `  (${i + 1}, ${initialBalance})`).join(',\n')};
`;

export interface Account {
  /** `shard/id`, the checker's account name. */
  readonly name: string;
  readonly shard: string;
  readonly id: number;
}

/** Reads the final state from one shard: rows of `sql`, integers as numbers. */
export type ShardRows = (shard: string, sql: string) => Record<string, unknown>[];

export class BankLedger {
  readonly accounts: readonly Account[];
  private readonly byName: ReadonlyMap<string, Account>;

  constructor(
    readonly shards: readonly string[],
    accountsPerShard: number,
    readonly initialBalance: number,
  ) {
    this.accounts = shards.flatMap((shard) =>
      Array.from({ length: accountsPerShard }, (_, i) => ({ name: `${shard}/${i + 1}`, shard, id: i + 1 })),
    );
    this.byName = new Map(this.accounts.map((a) => [a.name, a]));
  }

  initialBalances(): Balances {
    return Object.fromEntries(this.accounts.map((a) => [a.name, this.initialBalance]));
  }

  account(name: string): Account {
    const a = this.byName.get(name);
    if (a === undefined) throw new Error(`unknown account ${name}`);
    return a;
  }

  /** The ops of one transfer: both balances, and a ledger row on each side. */
  transferOps(t: Transfer): ClientOp[] {
    const from = this.account(t.from);
    const to = this.account(t.to);
    const amount = BigInt(t.amount);
    const add = (a: Account, delta: bigint): ClientOp => ({
      shard: a.shard,
      table: 'accounts',
      kind: 'ADD',
      key: { id: BigInt(a.id) },
      values: { balance: delta },
    });
    const ledger = (a: Account, side: 'from' | 'to', delta: bigint): ClientOp => ({
      shard: a.shard,
      table: 'ledger',
      kind: 'INSERT',
      key: { transfer_id: t.id, side },
      values: { amount: delta },
    });
    return [add(from, -amount), add(to, amount), ledger(from, 'from', -amount), ledger(to, 'to', amount)];
  }

  /** The shards a transfer leaves ledger rows on. */
  shardsOf(t: Transfer): string[] {
    return [...new Set([this.account(t.from).shard, this.account(t.to).shard])];
  }

  /** Shard → transfer ids in its ledger (once per shard, whatever the number of sides there). */
  markers(rows: ShardRows): Record<string, string[]> {
    return Object.fromEntries(
      this.shards.map((s) => [
        s,
        rows(s, 'SELECT DISTINCT transfer_id FROM ledger').map((r) => String(r.transfer_id)),
      ]),
    );
  }

  /** The bank checker (conservation, no overdraft, exactly-once ledger) and the durability checker. */
  check(history: readonly Op[], commits: readonly CommitRecord[], rows: ShardRows): AnyVerdict[] {
    const balances: Record<string, number> = {};
    const ledger: string[] = [];
    for (const shard of this.shards) {
      for (const r of rows(shard, 'SELECT id, balance FROM accounts'))
        balances[`${shard}/${Number(r.id)}`] = Number(r.balance);
      for (const r of rows(shard, 'SELECT transfer_id FROM ledger')) ledger.push(String(r.transfer_id));
    }
    const bank = checkBank(
      history,
      { balances, ledger },
      {
        initialBalances: this.initialBalances(),
        ledgerRowsPerTransfer: 2,
      },
    );
    return [bank, checkDurability(commits, this.markers(rows))];
  }
}
