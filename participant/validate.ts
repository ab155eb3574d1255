/**
 * Checks an op or a read against the schema and turns it into canonical form: the table resolved,
 * the key exactly the primary key with values converted to the columns' affinity, the values typed.
 * Every failure here is bad input (an invalid Refusal): nothing about it depends on data.
 */
import type { ReadCheck, ShardOp } from '../common/protocol.ts';
import { OP_KINDS } from '../common/protocol.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { INT64_MAX } from '../common/value.ts';
import { acceptValue, comparableValue, isNumericAffinity, isStorable, typeName } from './affinity.ts';
import { isInternalName } from './internal-tables.ts';
import { invalidInput } from './refusal.ts';
import { makeTarget, type RowTarget } from './row-key.ts';
import type { ColumnSchema, TableSchema } from './schema.ts';
import type { ShardContext } from './shard-context.ts';

export interface ResolvedOp {
  readonly index: number;
  readonly kind: ShardOp['kind'];
  readonly target: RowTarget;
  /** Named columns, typed; for ADD, the deltas. Never primary-key columns. */
  readonly values: Row;
  readonly expectedVersion: bigint | undefined;
}

export interface ResolvedRead {
  readonly target: RowTarget;
  readonly version: bigint;
}

export function resolveTable(ctx: ShardContext, name: unknown, where: string): TableSchema {
  if (typeof name !== 'string' || name === '') throw invalidInput(`${where}: table name missing`);
  if (isInternalName(name)) throw invalidInput(`${where}: table ${name} is internal to twopc`);
  const table = ctx.tables.get(name);
  if (table === undefined) throw invalidInput(`${where}: unknown table ${name} on shard ${ctx.shard}`);
  return table;
}

/** The key must name every primary-key column and nothing else, with non-NULL values. */
export function resolveKey(ctx: ShardContext, table: TableSchema, key: Row, where: string): RowTarget {
  const pkNames = table.pk.map((c) => c.name);
  for (const name of Object.keys(key)) {
    if (!pkNames.includes(name))
      throw invalidInput(
        `${where}: ${name} is not a primary-key column of ${table.name} (key is ${pkNames.join(', ')})`,
      );
  }
  const canonical: Row = {};
  for (const col of table.pk) {
    const value = key[col.name];
    if (value === undefined)
      throw invalidInput(
        `${where}: key lacks ${col.name} (the key of ${table.name} is ${pkNames.join(', ')})`,
      );
    if (value === null) throw invalidInput(`${where}: key column ${col.name} is NULL`);
    canonical[col.name] = numericAffinity(ctx, col, acceptColumnValue(col, value, where));
  }
  return makeTarget(table, canonical);
}

export function resolveOp(ctx: ShardContext, op: ShardOp, index: number): ResolvedOp {
  const where = `op ${index} (${String(op.kind)} ${String(op.table)})`;
  if (!(OP_KINDS as readonly string[]).includes(op.kind)) throw invalidInput(`${where}: unknown op kind`);
  const table = resolveTable(ctx, op.table, where);
  const target = resolveKey(ctx, table, op.key ?? {}, where);
  const expectedVersion = checkVersion(op.expectedVersion, `${where}: expected_version`);
  if (op.kind === 'CHECK' && expectedVersion === undefined)
    throw invalidInput(`${where}: CHECK needs expected_version (0 = absent)`);
  const values = resolveValues(ctx, op.kind, target, op.values ?? {}, where);
  return { index, kind: op.kind, target, values, expectedVersion };
}

export function resolveRead(ctx: ShardContext, read: ReadCheck, index: number): ResolvedRead {
  const where = `read ${index} (${String(read.table)})`;
  const table = resolveTable(ctx, read.table, where);
  const target = resolveKey(ctx, table, read.key ?? {}, where);
  const version = checkVersion(read.version, `${where}: version`);
  if (version === undefined) throw invalidInput(`${where}: version missing`);
  return { target, version };
}

function resolveValues(
  ctx: ShardContext,
  kind: ShardOp['kind'],
  target: RowTarget,
  values: Row,
  where: string,
): Row {
  const names = Object.keys(values);
  if ((kind === 'DELETE' || kind === 'CHECK') && names.length > 0)
    throw invalidInput(`${where}: ${kind} takes no values`);
  if (kind === 'ADD' && names.length === 0)
    throw invalidInput(`${where}: ADD needs at least one column delta`);
  const out: Row = {};
  for (const name of names) {
    const col = target.table.byName.get(name);
    if (col === undefined) throw invalidInput(`${where}: unknown column ${name} in ${target.table.name}`);
    if (col.generated) throw invalidInput(`${where}: column ${name} is generated and cannot be written`);
    if (kind === 'ADD') {
      out[name] = acceptColumnValue(col, checkDelta(col, values[name] as SqlValue, where), where);
      continue;
    }
    const value = acceptColumnValue(col, values[name] as SqlValue, where);
    if (col.pkIndex > 0) {
      // Repeating the key in the values is harmless; changing it is a different row.
      if (!sameValue(numericAffinity(ctx, col, value), target.keyRow[name] as SqlValue))
        throw invalidInput(`${where}: ${name} is in the primary key and cannot be changed`);
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** An ADD delta: a number, for a numeric non-key column. Checked before the column's type check. */
function checkDelta(col: ColumnSchema, value: SqlValue, where: string): SqlValue {
  if (col.pkIndex > 0) throw invalidInput(`${where}: cannot ADD to primary-key column ${col.name}`);
  if (!isNumericAffinity(col.affinity))
    throw invalidInput(
      `${where}: cannot ADD to ${col.declaredType || 'untyped'} column ${col.name}: not numeric`,
    );
  if (typeof value !== 'bigint' && typeof value !== 'number')
    throw invalidInput(`${where}: ADD delta for ${col.name} is ${typeName(value)}, not a number`);
  return value;
}

function acceptColumnValue(col: ColumnSchema, value: unknown, where: string): SqlValue {
  if (!isStorable(value))
    throw invalidInput(
      `${where}: ${col.name}: ${typeName(value)} value is not storable (64-bit int, finite real, text, blob or null)`,
    );
  const accepted = acceptValue(col.affinity, value);
  if (accepted === undefined)
    throw invalidInput(
      `${where}: column ${col.name} is ${col.declaredType}; it cannot hold a value of type ${typeName(value)}`,
    );
  return accepted;
}

/**
 * NUMERIC affinity converts text that looks like a number (and integral reals) on the way in; the
 * key must be converted the same way or '1' and 1 would be two lock keys for one row. SQLite does
 * the conversion itself, through a TEMP scratch row.
 */
function numericAffinity(ctx: ShardContext, col: ColumnSchema, value: SqlValue): SqlValue {
  if (col.affinity !== 'NUMERIC') return value;
  const row = ctx.stmts
    .get(`INSERT OR REPLACE INTO temp._twopc_numeric (id, v) VALUES (0, ?) RETURNING v`)
    .get(value) as { v: SqlValue };
  return row.v;
}

function checkVersion(version: unknown, where: string): bigint | undefined {
  if (version === undefined) return undefined;
  if (typeof version !== 'bigint' || version < 0n || version > INT64_MAX)
    throw invalidInput(`${where} must be an integer in [0, 2^63)`);
  return version;
}

function sameValue(a: SqlValue, b: SqlValue): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return comparableValue(a) === comparableValue(b);
}
