/**
 * Reads and writes rows of the user's tables by primary key. The base tables only ever hold
 * committed data: these writes run in a trial savepoint that is rolled back, in a one-phase commit,
 * or when a decided commit applies its after-images.
 */
import { assert } from '../common/assert.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { isStorable } from './affinity.ts';
import type { RowTarget } from './row-key.ts';
import type { TableSchema } from './schema.ts';
import type { ShardContext } from './shard-context.ts';
import { quoteIdent } from './statements.ts';

interface TableSql {
  readonly select: string;
  readonly upsert: string;
  readonly delete: string;
}

const sqlByTable = new WeakMap<TableSchema, TableSql>();

function tableSql(table: TableSchema): TableSql {
  let sql = sqlByTable.get(table);
  if (sql === undefined) {
    sql = buildTableSql(table);
    sqlByTable.set(table, sql);
  }
  return sql;
}

/**
 * The upsert targets the primary key only: a clash on any other UNIQUE index still fails (never
 * INSERT OR REPLACE, which would silently delete the other row).
 */
function buildTableSql(table: TableSchema): TableSql {
  const t = quoteIdent(table.name);
  const where = table.pk.map((c) => `${quoteIdent(c.name)} = ?`).join(' AND ');
  const cols = table.writable.map((c) => quoteIdent(c.name));
  const pkCols = table.pk.map((c) => quoteIdent(c.name)).join(', ');
  const updates = table.writable
    .filter((c) => c.pkIndex === 0)
    .map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`);
  const onConflict = updates.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${updates.join(', ')}`;
  return {
    select: `SELECT * FROM ${t} WHERE ${where}`,
    upsert: `INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')}) ON CONFLICT (${pkCols}) ${onConflict}`,
    delete: `DELETE FROM ${t} WHERE ${where}`,
  };
}

/** The committed row (every column, generated ones included), or undefined. */
export function selectRow(ctx: ShardContext, target: RowTarget): Row | undefined {
  const row = ctx.stmts.get(tableSql(target.table).select).get(...target.keyValues) as Row | undefined;
  if (row !== undefined) checkRowShape(target.table, row, 'all');
  return row;
}

/** Writes a full after-image (every writable column), inserting or replacing the row. */
export function upsertRow(ctx: ShardContext, target: RowTarget, image: Row): void {
  checkRowShape(target.table, image, 'writable');
  const values = target.table.writable.map((c) => image[c.name] as SqlValue);
  ctx.stmts.get(tableSql(target.table).upsert).run(...values);
}

/** Deletes the row; returns whether there was one. */
export function deleteRow(ctx: ShardContext, target: RowTarget): boolean {
  return ctx.stmts.get(tableSql(target.table).delete).run(...target.keyValues).changes > 0;
}

/**
 * Puts a row into its after-image state: upsert, or delete for null. The trial and the commit both
 * write through here, so the commit does exactly what the trial proved possible. Returns whether
 * the table changed (deleting a missing row does not).
 */
export function writeImage(ctx: ShardContext, target: RowTarget, after: Row | null): boolean {
  if (after === null) return deleteRow(ctx, target);
  upsertRow(ctx, target, after);
  return true;
}

/** The writable columns of a row read back from the table: the form of an after-image. */
export function writableImage(table: TableSchema, row: Row): Row {
  const image: Row = {};
  for (const c of table.writable) image[c.name] = row[c.name] as SqlValue;
  return image;
}

/**
 * A new row's columns before the op's values are laid on: each column's DEFAULT evaluated by
 * SQLite (so CURRENT_TIMESTAMP and friends mean what they mean in SQL), NULL without one.
 * Evaluated at prepare, so a commit writes exactly what was trial-applied.
 */
export function defaultImage(ctx: ShardContext, target: RowTarget): Row {
  const image: Row = {};
  for (const c of target.table.writable) {
    if (c.pkIndex > 0) image[c.name] = target.keyRow[c.name] as SqlValue;
    else if (c.defaultSql === null) image[c.name] = null;
    else image[c.name] = (ctx.stmts.get(`SELECT (${c.defaultSql}) AS v`).get() as { v: SqlValue }).v;
  }
  return image;
}

/**
 * Asserts a row has exactly the expected columns. A row read from a table ('all') holds SQLite
 * values; an after-image ('writable') must also survive the pending codec (isStorable).
 */
export function checkRowShape(table: TableSchema, row: Row, columns: 'all' | 'writable'): void {
  const expected = columns === 'all' ? table.columns : table.writable;
  const names = Object.keys(row);
  assert(
    names.length === expected.length,
    `row of ${table.name} has ${expected.length} columns, got ${names.length}`,
  );
  for (const c of expected) {
    assert(c.name in row, `row of ${table.name} has column ${c.name}`);
    const v = row[c.name];
    const ok = columns === 'all' ? isSqlValue(v) : isStorable(v);
    assert(
      ok,
      `row of ${table.name}: column ${c.name} holds a ${columns === 'all' ? 'SQLite' : 'storable'} value`,
    );
  }
}

function isSqlValue(v: unknown): boolean {
  return (
    v === null ||
    typeof v === 'bigint' ||
    typeof v === 'number' ||
    typeof v === 'string' ||
    Buffer.isBuffer(v)
  );
}
