/**
 * What every part of the shard store works with: one SQLite connection, its statement cache, the
 * frozen user schema, and the clock and logger. Passed explicitly, never global, so tests can open
 * several stores side by side.
 */
import type { Database } from 'better-sqlite3';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import type { TableSchema } from './schema.ts';
import type { StatementCache } from './statements.ts';

export interface ShardContext {
  readonly shard: string;
  readonly db: Database;
  readonly stmts: StatementCache;
  readonly tables: ReadonlyMap<string, TableSchema>;
  readonly clock: Clock;
  readonly logger: Logger;
}
