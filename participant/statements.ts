/**
 * A cache of prepared statements by SQL text. Preparing a statement costs far more than running it,
 * and the prepare/decide hot path runs the same few statements per table over and over.
 */
import type { Database, Statement } from 'better-sqlite3';
import { assert } from '../common/assert.ts';
import { statementCacheMax } from './config.ts';

export class StatementCache {
  private readonly db: Database;
  private readonly cache = new Map<string, Statement>();

  constructor(db: Database) {
    this.db = db;
  }

  /** Only for SQL built by the store itself (bounded by the schema); never for user SQL. */
  get(sql: string): Statement {
    let stmt = this.cache.get(sql);
    if (stmt === undefined) {
      assert(this.cache.size < statementCacheMax, `statement cache over ${statementCacheMax} entries`);
      stmt = this.db.prepare(sql);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }
}

/** Quotes an SQL identifier (table, column, index name) for use in generated SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
