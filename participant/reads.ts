/**
 * Reads of committed state: one row with its version, a read-only SQL query, the schema. None of
 * them looks at intent locks: a key a prepared transaction writes still reads as its committed
 * value, and the reader's own validation at prepare refuses it later if it changed.
 */
import Database from 'better-sqlite3';
import { invalidArgument } from '../common/errors.ts';
import type { QueryResult, ReadResult, TableInfo } from '../common/protocol.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { isStorable, typeName } from './affinity.ts';
import { selectRow } from './base-rows.ts';
import { queryRowsMax } from './config.ts';
import { INTERNAL_TABLE_PREFIX } from './internal-tables.ts';
import { Refusal } from './refusal.ts';
import type { ShardContext } from './shard-context.ts';
import { resolveKey, resolveTable } from './validate.ts';
import { committedVersion } from './versions.ts';

/** The committed row (every column) and its version; a missing row has found = false, row = {}. */
export function readRow(ctx: ShardContext, table: string, key: Row): ReadResult {
  let target;
  try {
    target = resolveKey(ctx, resolveTable(ctx, table, 'read'), key, 'read');
  } catch (err) {
    if (err instanceof Refusal) throw invalidArgument(err.message);
    throw err;
  }
  const row = selectRow(ctx, target);
  const version = committedVersion(ctx, target, row !== undefined);
  return { found: row !== undefined, row: row ?? {}, version };
}

/**
 * Runs one read-only SELECT. SQLite decides what is read-only (`stmt.readonly`), not a parser of
 * ours; the text checks only keep out PRAGMA/EXPLAIN and the `_twopc_` tables, whose contents are
 * the protocol's business. User SQL is prepared fresh each time: caching it would grow without bound.
 */
export function runQuery(ctx: ShardContext, sql: string, params: readonly SqlValue[]): QueryResult {
  if (typeof sql !== 'string' || sql.trim() === '') throw invalidArgument('query: SQL missing');
  if (sql.toLowerCase().includes(INTERNAL_TABLE_PREFIX))
    throw invalidArgument(`query: ${INTERNAL_TABLE_PREFIX} tables are internal to twopc`);
  if (!/^(select|with)\b/i.test(stripLeadingComments(sql)))
    throw invalidArgument('query: only a SELECT statement is allowed');
  for (const [i, p] of params.entries()) {
    if (!isStorable(p))
      throw invalidArgument(`query: parameter ${i + 1} is ${typeName(p)}, not a storable value`);
  }
  const stmt = sqlite(() => ctx.db.prepare(sql));
  if (!stmt.reader || !stmt.readonly) throw invalidArgument('query: only a read-only SELECT is allowed');
  stmt.raw(true);
  const columns = stmt.columns().map((c) => c.name);
  const rows: Row[] = [];
  sqlite(() => {
    for (const values of stmt.iterate(...params) as IterableIterator<SqlValue[]>) {
      if (rows.length === queryRowsMax)
        throw invalidArgument(`query: more than ${queryRowsMax} rows; add a LIMIT and page`);
      rows.push(Object.fromEntries(columns.map((c, i) => [c, values[i] as SqlValue])));
    }
  });
  return { columns, rows };
}

/** The user's tables (never the `_twopc_` ones), by name. */
export function describeTables(ctx: ShardContext): TableInfo[] {
  return [...ctx.tables.values()].map((t) => ({
    name: t.name,
    columns: t.columns.map((c) => ({
      name: c.name,
      declaredType: c.declaredType,
      notNull: c.notNull,
      pkIndex: c.pkIndex,
    })),
  }));
}

/** SQLite and binding errors in user SQL are the caller's mistake: INVALID_ARGUMENT with the message. */
function sqlite<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Database.SqliteError || err instanceof RangeError) {
      throw invalidArgument(`query: ${err.message}`);
    }
    throw err;
  }
}

function stripLeadingComments(sql: string): string {
  let rest = sql.trimStart();
  for (;;) {
    if (rest.startsWith('--'))
      rest = rest.slice(rest.indexOf('\n') === -1 ? rest.length : rest.indexOf('\n') + 1).trimStart();
    else if (rest.startsWith('/*'))
      rest = rest.slice(rest.indexOf('*/') === -1 ? rest.length : rest.indexOf('*/') + 2).trimStart();
    else return rest;
  }
}
