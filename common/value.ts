/**
 * SQLite values as twopc handles them. INTEGER is always a bigint (exact over 64 bits; better-sqlite3
 * runs with safe integers), REAL a number, TEXT a string, BLOB a Buffer, NULL null. A JS number is
 * never an integer here: binding one makes SQLite store a REAL.
 */
import { invalidArgument } from './errors.ts';

export type SqlValue = bigint | number | string | Buffer | null;
export type Row = Record<string, SqlValue>;

/** The protobuf `twopc.v1.Value` as @grpc/proto-loader presents it (keepCase, longs as strings, oneofs). */
export interface PbValue {
  int_value?: string | number | bigint;
  real_value?: number;
  text_value?: string;
  blob_value?: Buffer | Uint8Array;
  null_value?: boolean;
  kind?: 'int_value' | 'real_value' | 'text_value' | 'blob_value' | 'null_value';
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

export function fromPb(value: PbValue | null | undefined, where: string): SqlValue {
  if (value === null || value === undefined) throw invalidArgument(`${where}: missing value`);
  const kind = value.kind ?? presentKind(value);
  switch (kind) {
    case 'int_value': {
      const raw = value.int_value;
      let n: bigint;
      try {
        n = BigInt(raw as string | number | bigint);
      } catch {
        throw invalidArgument(`${where}: int_value ${String(raw)} is not an integer`);
      }
      if (n < INT64_MIN || n > INT64_MAX) throw invalidArgument(`${where}: int_value out of 64-bit range`);
      return n;
    }
    case 'real_value':
      return Number(value.real_value);
    case 'text_value':
      return String(value.text_value ?? '');
    case 'blob_value':
      return Buffer.from(value.blob_value ?? Buffer.alloc(0));
    case 'null_value':
      return null;
    default:
      throw invalidArgument(`${where}: value has no kind set (int_value, real_value, text_value, blob_value or null_value)`);
  }
}

function presentKind(value: PbValue): PbValue['kind'] {
  if (value.int_value !== undefined && value.int_value !== null) return 'int_value';
  if (value.real_value !== undefined && value.real_value !== null) return 'real_value';
  if (value.text_value !== undefined && value.text_value !== null) return 'text_value';
  if (value.blob_value !== undefined && value.blob_value !== null) return 'blob_value';
  if (value.null_value !== undefined && value.null_value !== null) return 'null_value';
  return undefined;
}

export function toPb(value: SqlValue): PbValue {
  if (value === null) return { null_value: true };
  if (typeof value === 'bigint') return { int_value: value.toString() };
  if (typeof value === 'number') return { real_value: value };
  if (typeof value === 'string') return { text_value: value };
  return { blob_value: value };
}

export function mapFromPb(map: Record<string, PbValue> | undefined, where: string): Row {
  const out: Row = {};
  for (const [name, v] of Object.entries(map ?? {})) out[name] = fromPb(v, `${where}.${name}`);
  return out;
}

export function mapToPb(row: Row): Record<string, PbValue> {
  const out: Record<string, PbValue> = {};
  for (const [name, v] of Object.entries(row)) out[name] = toPb(v);
  return out;
}

/**
 * A self-describing, lossless text form of a value, used for storage (pending after-images) and as
 * the canonical key of a row in locks and versions: equal values give equal strings.
 */
export type TaggedValue = ['i', string] | ['r', number] | ['t', string] | ['b', string] | ['n'];

export function tag(value: SqlValue): TaggedValue {
  if (value === null) return ['n'];
  if (typeof value === 'bigint') return ['i', value.toString()];
  if (typeof value === 'number') return ['r', value];
  if (typeof value === 'string') return ['t', value];
  return ['b', value.toString('base64')];
}

export function untag(t: TaggedValue): SqlValue {
  switch (t[0]) {
    case 'i':
      return BigInt(t[1]);
    case 'r':
      return t[1];
    case 't':
      return t[1];
    case 'b':
      return Buffer.from(t[1], 'base64');
    case 'n':
      return null;
  }
}

export function encodeRow(row: Row): string {
  const out: Record<string, TaggedValue> = {};
  for (const [k, v] of Object.entries(row)) out[k] = tag(v);
  return JSON.stringify(out);
}

export function decodeRow(text: string): Row {
  const parsed = JSON.parse(text) as Record<string, TaggedValue>;
  const out: Row = {};
  for (const [k, v] of Object.entries(parsed)) out[k] = untag(v);
  return out;
}

/** Canonical key of values in a fixed column order (primary key or a UNIQUE index). */
export function encodeKey(values: readonly SqlValue[]): string {
  return JSON.stringify(values.map(tag));
}

