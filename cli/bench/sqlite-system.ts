/**
 * The no-distribution bound: the same transfers as local transactions on ONE SQLite file
 * (better-sqlite3, WAL, `synchronous=FULL`: one fsync per commit), inside the bench process itself.
 *
 * better-sqlite3 is synchronous and SQLite has one writer, so N clients are N loops taking turns: each
 * yields to the event loop (setImmediate) and then runs its whole transaction. Throughput cannot grow
 * with clients; latency grows with the queue. No group commit: one transaction, one fsync, as an
 * application writing to SQLite directly would do.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { COMMITTED, type TxnFn, type TxnResult } from './closed-loop.ts';
import type { ProcessProbe } from './process-stats.ts';
import type { MemoryMark, SystemUnderTest } from './system.ts';
import { accountsFor, balanceInitial, transferAccounts, type Scenario } from './workload.ts';

export interface SqliteSystemOptions {
  readonly dir: string;
  readonly clientsMax: number;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SqliteSystem implements SystemUnderTest {
  readonly name = 'sqlite' as const;
  readonly description: Record<string, string | number | boolean> = {};
  private readonly db: Database.Database;
  private readonly transfer: (from: number, to: number) => void;
  /** Account ids of "shard B" start after this. */
  private readonly accountsPerShard: number;
  private stopped = false;

  private constructor(file: string, accounts: number) {
    this.accountsPerShard = accounts;
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0))',
    );
    // Accounts 1..N play shard A, N+1..2N shard B: the 2-shard transfer, in one file.
    this.db
      .prepare(
        'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) ' +
          'INSERT OR IGNORE INTO accounts (id, balance) SELECT i, ? FROM n',
      )
      .run(2 * accounts, balanceInitial);
    const debit = this.db.prepare('UPDATE accounts SET balance = balance - 1 WHERE id = ?');
    const credit = this.db.prepare('UPDATE accounts SET balance = balance + 1 WHERE id = ?');
    this.transfer = this.db
      .transaction((from: number, to: number) => {
        if (debit.run(from).changes !== 1 || credit.run(to).changes !== 1) {
          throw new Error('sqlite: a transfer row is missing');
        }
      })
      .immediate.bind(null);
    const version = (this.db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    Object.assign(this.description, {
      version: `SQLite ${version} (better-sqlite3, in the bench process)`,
      settings: 'journal_mode=WAL synchronous=FULL, one transaction per fsync',
      file,
    });
  }

  static start(options: SqliteSystemOptions): SqliteSystem {
    mkdirSync(options.dir, { recursive: true });
    return new SqliteSystem(path.join(options.dir, 'bench.db'), accountsFor(options.clientsMax));
  }

  /** The bound for the 2-shard transfer only (one file has no "other shard"), and no WAL rows. */
  runs(scenario: Scenario): boolean {
    return scenario === '2shard';
  }

  method(): string {
    return '2 UPDATEs in one local transaction, 1 file';
  }

  /** It runs inside the bench process, which the bench probes itself. */
  probes(): ProcessProbe[] {
    return [];
  }

  clients(_scenario: Scenario, clients: number): TxnFn[] {
    const offset = this.accountsPerShard;
    const fns: TxnFn[] = [];
    for (let c = 0; c < clients; c++) {
      let seq = 0;
      fns.push(async (): Promise<TxnResult> => {
        await yieldToEventLoop();
        const { from, to } = transferAccounts(c, seq++);
        try {
          this.transfer(from, offset + to);
        } catch (err) {
          if (err instanceof Error && /CHECK constraint/.test(err.message)) {
            return { committed: false, reason: 'CONSTRAINT' };
          }
          throw err;
        }
        return COMMITTED;
      });
    }
    return fns;
  }

  checkAlive(): void {}

  memory(): MemoryMark[] {
    return [];
  }

  livePids(): number[] {
    return [];
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.db.close();
  }
}
