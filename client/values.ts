/**
 * Plain JavaScript values <-> `twopc.v1.Value`, so SDK users write `{ id: 1n, owner: 'ann' }`.
 *
 * To the wire: bigint and integer numbers -> int_value (exact 64-bit); other finite numbers ->
 * real_value; string -> text_value; Buffer/Uint8Array -> blob_value; null -> null_value;
 * booleans -> 1/0 (SQLite has no boolean type). `real(1)` forces a REAL for an integral number.
 * Back from the wire: int_value -> bigint (always, so 64-bit values stay exact), real_value -> number,
 * text_value -> string, blob_value -> Buffer, null_value -> null.
 *
 * Mistakes (undefined, NaN, an integer beyond 2^53 given as a number, a bigint beyond 64 bits) throw
 * TwopcError INVALID_ARGUMENT before anything is sent.
 */
import { invalidArgument } from '../common/errors.ts';
import {
  INT64_MAX,
  INT64_MIN,
  fromPb,
  mapToPb,
  toPb,
  type PbValue,
  type Row,
  type SqlValue,
} from '../common/value.ts';

/** A REAL that happens to be integral (a plain `1` would be sent as an INTEGER). */
export class RealValue {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

export function real(value: number): RealValue {
  return new RealValue(value);
}

export type PlainValue = bigint | number | string | boolean | Buffer | Uint8Array | RealValue | null;
export type PlainRow = Readonly<Record<string, PlainValue>>;

/** Plain JS -> the SQLite value it stands for (an integer is a bigint, a REAL a number). */
export function toSqlValue(value: PlainValue, where = 'value'): SqlValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX)
        throw invalidArgument(`${where}: ${value} is outside the 64-bit integer range`);
      return value;
    case 'number':
      return numberToSql(value, where);
    case 'string':
      return value;
    case 'boolean':
      return value ? 1n : 0n;
    case 'object':
      if (value instanceof RealValue) return realToSql(value.value, where);
      if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      break;
    default:
      break;
  }
  throw invalidArgument(
    `${where}: ${describe(value)} cannot be stored`,
    'use a bigint, number, string, boolean, Buffer/Uint8Array or null',
  );
}

/** Plain JS -> `twopc.v1.Value`. */
export function toValue(value: PlainValue, where = 'value'): PbValue {
  return toPb(toSqlValue(value, where));
}

function numberToSql(n: number, where: string): SqlValue {
  if (!Number.isInteger(n)) return realToSql(n, where);
  if (!Number.isSafeInteger(n)) {
    throw invalidArgument(
      `${where}: ${n} is beyond 2^53 and may not be exact as a number`,
      `pass a bigint (${BigInt(n)}n) or real(${n})`,
    );
  }
  // BigInt(-0) is 0n: SQLite has no negative zero INTEGER.
  return BigInt(n);
}

function realToSql(n: number, where: string): number {
  if (!Number.isFinite(n))
    throw invalidArgument(
      `${where}: ${n} is not a finite number`,
      'SQLite stores NaN as NULL; pass null instead',
    );
  return n;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return `a ${typeof value}`;
}

export function toSqlRow(row: PlainRow | undefined, where: string): Row {
  const out: Row = {};
  for (const [column, value] of Object.entries(row ?? {}))
    out[column] = toSqlValue(value, `${where}.${column}`);
  return out;
}

export function toValueMap(row: PlainRow | undefined, where: string): Record<string, PbValue> {
  return mapToPb(toSqlRow(row, where));
}

/** From the wire: int_value is always a bigint. */
export function fromValue(value: PbValue | null | undefined, where = 'value'): SqlValue {
  return fromPb(value, where);
}

export function fromValueMap(map: Record<string, PbValue> | undefined, where: string): Row {
  const out: Row = {};
  for (const [column, value] of Object.entries(map ?? {}))
    out[column] = fromValue(value, `${where}.${column}`);
  return out;
}
