/**
 * A row's identity: its table and primary key. `rowKey` is the canonical text of the key, the same
 * for every spelling SQLite treats as the same row (1 and 1.0; 'A' and 'a' under NOCASE). Locks
 * and versions are keyed by it, and it is persisted, so its form must never change for a given
 * storage format.
 */
import { assert } from '../common/assert.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { encodeKey } from '../common/value.ts';
import { collatedValue, comparableValue, typeName } from './affinity.ts';
import type { TableSchema } from './schema.ts';

export interface RowTarget {
  readonly table: TableSchema;
  /** The primary key, values already converted to the column's affinity. */
  readonly keyRow: Row;
  /** The key values in primary-key order (bind order of every by-key statement). */
  readonly keyValues: readonly SqlValue[];
  readonly rowKey: string;
}

/** Builds a target from a key that has exactly the primary-key columns, canonical values. */
export function makeTarget(table: TableSchema, keyRow: Row): RowTarget {
  assert(
    Object.keys(keyRow).length === table.pk.length,
    `key of ${table.name} has exactly the primary-key columns`,
  );
  const keyValues = table.pk.map((c) => {
    const v = keyRow[c.name];
    assert(v !== undefined && v !== null, `key column ${table.name}.${c.name} has a value`);
    return v;
  });
  const comparable = keyValues.map((v, i) =>
    comparableValue(collatedValue(v, table.pkCollations[i] ?? 'BINARY')),
  );
  return { table, keyRow, keyValues, rowKey: encodeKey(comparable) };
}

/** Row lock key; the prefix keeps row keys apart from UNIQUE-value keys. */
export function rowLockKey(target: RowTarget): string {
  return `k:${target.table.name}:${target.rowKey}`;
}

/** A key or row for messages: `accounts(id=1)`. */
export function describeTarget(target: RowTarget): string {
  return `${target.table.name}(${formatRow(target.keyRow)})`;
}

export function formatRow(row: Row): string {
  return Object.entries(row)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(', ');
}

export function formatValue(v: SqlValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (Buffer.isBuffer(v)) return `x'${v.subarray(0, 20).toString('hex')}${v.length > 20 ? '…' : ''}'`;
  if (typeof v === 'number' && Number.isInteger(v)) return v.toFixed(1);
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  return typeName(v);
}
