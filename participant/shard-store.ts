/**
 * The storage engine of one participant: one SQLite shard file holding the user's tables and the
 * `_twopc_` tables (pending writes, intent locks, versions, transaction states). The gRPC layer
 * calls it; it knows nothing about transports. Every method is synchronous and runs on one
 * connection, so calls never interleave.
 *
 * Durability contract: when `prepareBatch` returns, every vote it returns is on disk (WAL,
 * synchronous=FULL: the local commit was fsynced); the same for `decideBatch` and its acks. Every
 * message is idempotent (see prepare.ts and decide.ts). Nothing is kept in memory between calls
 * except the schema, so closing and reopening the file is a restart that loses nothing.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import { assert } from '../common/assert.ts';
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import { describeError, TwopcError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { silentLogger } from '../common/log.ts';
import type {
  Ack,
  DecisionMessage,
  InDoubtTxn,
  PrepareMessage,
  QueryResult,
  ReadResult,
  TableInfo,
  TxnStateInfo,
  Vote,
} from '../common/protocol.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { busyTimeoutMs } from './config.ts';
import { decideBatch } from './decide.ts';
import { createInternalTables, createTempTables } from './internal-tables.ts';
import { runImmediate } from './local-txn.ts';
import { prepareBatch } from './prepare.ts';
import { decideAndPrepare, type SharedFlushResult } from './shared-flush.ts';
import { describeTables, readRow, runQuery } from './reads.ts';
import { loadTables } from './schema.ts';
import type { ShardContext } from './shard-context.ts';
import { StatementCache } from './statements.ts';
import { summarizePrepared } from './txn-records.ts';
import { listInDoubt, txnState } from './txn-state.ts';
import { checkUserSchema, execSchema } from './user-schema.ts';

export interface ShardStoreOptions {
  readonly path: string;
  readonly shard: string;
  /** The user's schema, applied at every open: it must be idempotent. */
  readonly schemaSql: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * `PRAGMA wal_autocheckpoint` of the store's connection: default `WAL_AUTOCHECKPOINT_PAGES_DEFAULT`
   * (SQLite's own 1000 pages); 0 turns automatic checkpoints off, which WAL shipping needs (the
   * shipper owns checkpoints and checkpoints only what it has shipped; see docs/replication.md).
   */
  readonly walAutocheckpointPages?: number;
}

/** SQLite's default: a checkpoint once the WAL holds 1000 pages (about 4 MiB with 4 KiB pages). */
export const WAL_AUTOCHECKPOINT_PAGES_DEFAULT = 1_000;
/** A sanity bound: a WAL this many pages long before a checkpoint is a typo, not a setting. */
const walAutocheckpointPagesMax = 10_000_000;

export class ShardStore {
  readonly shard: string;
  readonly path: string;
  private readonly ctx: ShardContext;
  private closed = false;

  private constructor(ctx: ShardContext, path: string) {
    this.ctx = ctx;
    this.shard = ctx.shard;
    this.path = path;
  }

  /**
   * Opens (creating if needed) the shard file and applies the schema. Throws INVALID_ARGUMENT for a
   * bad schema (SQL error, a table without PRIMARY KEY, a `_twopc_` name), FAILED_PRECONDITION for
   * a file that cannot be opened as a shard.
   */
  static open(options: ShardStoreOptions): ShardStore {
    checkUserSchema(options.schemaSql);
    const autocheckpointPages = options.walAutocheckpointPages ?? WAL_AUTOCHECKPOINT_PAGES_DEFAULT;
    assert(
      Number.isSafeInteger(autocheckpointPages) &&
        autocheckpointPages >= 0 &&
        autocheckpointPages <= walAutocheckpointPagesMax,
      `walAutocheckpointPages is an integer from 0 to ${walAutocheckpointPagesMax}`,
    );
    const db = openDatabase(options.path, autocheckpointPages);
    try {
      const stmts = new StatementCache(db);
      runImmediate(db, stmts, () => {
        createInternalTables(db);
        execSchema(db, options.schemaSql);
      });
      createTempTables(db);
      const logger = (options.logger ?? silentLogger).child(`shard-store.${options.shard}`);
      const tables = loadTables(db);
      const ctx: ShardContext = {
        shard: options.shard,
        db,
        stmts,
        tables,
        clock: options.clock ?? systemClock,
        logger,
      };
      logger.info('shard store open', {
        path: options.path,
        tables: [...tables.keys()],
        walAutocheckpointPages: autocheckpointPages,
      });
      return new ShardStore(ctx, options.path);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Votes for each message, in order, from one local transaction (one fsync). */
  prepareBatch(messages: readonly PrepareMessage[]): Vote[] {
    return prepareBatch(this.open(), messages);
  }

  /** Acknowledgements for each decision, in order, from one local transaction. */
  decideBatch(messages: readonly DecisionMessage[]): Ack[] {
    return decideBatch(this.open(), messages);
  }

  /** Decisions then prepares in ONE local transaction (one fsync); see shared-flush.ts. */
  decideAndPrepare(
    decisions: readonly DecisionMessage[],
    prepares: readonly PrepareMessage[],
  ): SharedFlushResult {
    return decideAndPrepare(this.open(), decisions, prepares);
  }

  /** The committed row and its version. INVALID_ARGUMENT for an unknown table or a bad key. */
  read(table: string, key: Row): ReadResult {
    return readRow(this.open(), table, key);
  }

  /** One read-only SELECT over committed state. INVALID_ARGUMENT for anything else. */
  query(sql: string, params: readonly SqlValue[]): QueryResult {
    return runQuery(this.open(), sql, params);
  }

  /**
   * This shard's state for a transaction. `abortIfUnknown` (cooperative termination) writes a
   * tombstone for a transaction never seen here, atomically with the lookup, and answers ABORTED.
   */
  txnState(txnId: string, options: { readonly abortIfUnknown?: boolean } = {}): TxnStateInfo {
    return txnState(this.open(), txnId, options.abortIfUnknown ?? false);
  }

  /** How many transactions are PREPARED, and when the oldest was (for the metrics; cheap). */
  preparedSummary(): { count: number; oldestAtMs: number | undefined } {
    return summarizePrepared(this.open());
  }

  /** PREPARED transactions (voted YES, no decision yet), oldest first. */
  listInDoubt(): InDoubtTxn[] {
    return listInDoubt(this.open());
  }

  describe(): TableInfo[] {
    return describeTables(this.open());
  }

  /** Idempotent. Calls after close fail with UNAVAILABLE (a shutting-down participant). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.db.close();
  }

  private open(): ShardContext {
    if (this.closed) throw new TwopcError('UNAVAILABLE', `shard store ${this.shard} is closed`);
    return this.ctx;
  }
}

/**
 * WAL with synchronous=FULL: a local commit is on disk when it returns. wal_autocheckpoint is
 * SQLite's default unless WAL shipping owns checkpoints (then 0). foreign_keys stays OFF on purpose:
 * a FOREIGN KEY is not a row-local constraint, intent locks do not cover the referenced row, so
 * twopc cannot promise it at prepare; schemas relying on it are out of scope.
 */
function openDatabase(path: string, autocheckpointPages: number): Database.Database {
  let db: Database.Database;
  try {
    fs.mkdirSync(nodePath.dirname(path), { recursive: true });
    db = new Database(path);
  } catch (err) {
    throw new TwopcError('FAILED_PRECONDITION', `cannot open shard database ${path}: ${describeError(err)}`, {
      hint: 'check the data directory exists and is writable',
      cause: err,
    });
  }
  try {
    db.defaultSafeIntegers(true);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
    db.pragma('synchronous = FULL');
    db.pragma(`wal_autocheckpoint = ${autocheckpointPages}`);
    db.pragma('foreign_keys = OFF');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma('temp_store = MEMORY');
    return db;
  } catch (err) {
    db.close();
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `shard database ${path} is not usable: ${describeError(err)}`,
      {
        hint: 'is it an SQLite file, and is the directory writable (WAL needs -wal and -shm files beside it)?',
        cause: err,
      },
    );
  }
}
