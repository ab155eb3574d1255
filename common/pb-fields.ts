/**
 * Field checks shared by the wire codecs (common/api-codec.ts for twopc.v1, common/protocol-codec.ts
 * for twopc.internal.v1). Messages arrive as @grpc/proto-loader presents them with common/proto.ts's
 * LOADER_OPTIONS: snake_case fields, 64-bit ints as decimal strings, enums as names, oneofs with a
 * virtual field naming the member set.
 *
 * Decoders validate shape and throw TwopcError INVALID_ARGUMENT naming the field (`ops[3].key.id`),
 * never a TypeError: whatever a client sends is untrusted. They accept what other loaders produce too
 * (numbers or bigints for 64-bit fields, a set field without the oneof marker). Encoders trust their
 * input, which the product built itself.
 */
import { TwopcError, invalidArgument } from './errors.ts';
import type { PbValue, Row, SqlValue } from './value.ts';
import { fromPb, mapFromPb } from './value.ts';

/** A decoded wire message: fields are untrusted until a decoder has looked at them. */
export type Pb = Record<string, unknown>;

export const UINT64_MAX = 2n ** 64n - 1n;
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------------------------
// Field checks

export function isObject(v: unknown): v is Pb {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value for an error message; never throws (an object may have a broken toString). */
export function show(v: unknown): string {
  try {
    return typeof v === 'object' && v !== null ? JSON.stringify(v).slice(0, 80) : String(v);
  } catch {
    return `a ${typeof v}`;
  }
}

export function message(v: unknown, where: string): Pb {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalidArgument(`${where}: expected a message`);
  return v;
}

export function str(v: unknown, where: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalidArgument(`${where}: expected a string`);
  return v;
}

export function required(v: unknown, where: string): string {
  const s = str(v, where);
  if (s === '') throw invalidArgument(`${where}: required`);
  return s;
}

export function bool(v: unknown, where: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`${where}: expected a bool`);
  return v;
}

export function integer(v: unknown, where: string, min: bigint, max: bigint): bigint {
  if (v === undefined || v === null) return 0n;
  let n: bigint;
  try {
    // Long objects (default loader options) print as their decimal value.
    n = typeof v === 'bigint' ? v : BigInt(typeof v === 'object' ? String(v) : (v as string | number));
  } catch {
    throw invalidArgument(`${where}: ${show(v)} is not an integer`);
  }
  if (n < min || n > max) throw invalidArgument(`${where}: ${n} is out of range`);
  return n;
}

export const u64 = (v: unknown, where: string): bigint => integer(v, where, 0n, UINT64_MAX);
export const i64 = (v: unknown, where: string): bigint => integer(v, where, INT64_MIN, INT64_MAX);
export const u32 = (v: unknown, where: string): number => Number(integer(v, where, 0n, 0xffffffffn));
/** Milliseconds in an int64 field, as a JS number (exact below 2^53, which every real time is). */
export const ms = (v: unknown, where: string): number => Number(i64(v, where));

/**
 * An enum field: its name (or, for a value this loader did not know, its number). The `_UNSPECIFIED`
 * zero value is refused unless `unspecified` says what it means.
 */
export function enumName<T extends string>(v: unknown, allowed: readonly T[], where: string): T;
export function enumName<T extends string, U>(
  v: unknown,
  allowed: readonly T[],
  where: string,
  unspecified: U,
): T | U;
export function enumName<T extends string, U>(
  v: unknown,
  allowed: readonly T[],
  where: string,
  ...rest: [U?]
): T | U {
  if ((allowed as readonly unknown[]).includes(v)) return v as T;
  const isZero =
    v === undefined || v === null || v === 0 || (typeof v === 'string' && v.endsWith('_UNSPECIFIED'));
  if (isZero && rest.length > 0) return rest[0] as U;
  if (isZero) throw invalidArgument(`${where}: required (one of ${allowed.join(', ')})`);
  throw invalidArgument(`${where}: unknown value ${show(v)} (expected one of ${allowed.join(', ')})`);
}

export function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidArgument(`${where}: expected a list`);
  return v;
}

export function row(v: unknown, where: string): Row {
  if (v !== undefined && v !== null && !isObject(v)) throw invalidArgument(`${where}: expected a map`);
  return guarded(where, () => mapFromPb(v as Record<string, PbValue> | undefined, where));
}

export function keyRow(v: unknown, where: string): Row {
  const key = row(v, where);
  if (Object.keys(key).length === 0)
    throw invalidArgument(`${where}: empty (give the row's full primary key)`);
  return key;
}

export function sqlValue(v: unknown, where: string): SqlValue {
  if (v !== undefined && v !== null && !isObject(v)) throw invalidArgument(`${where}: expected a Value`);
  return guarded(where, () => fromPb(v as PbValue | undefined, where));
}

/** common/value.ts trusts protobuf-shaped input; anything else it trips on is still bad input. */
export function guarded<T>(where: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof TwopcError) throw err;
    throw invalidArgument(`${where}: malformed value`);
  }
}

/** A SQL text and its parameters (QueryRequest, ShardQueryRequest). */
export function sqlFromPb(pb: Pb): { sql: string; params: SqlValue[] } {
  return {
    sql: required(pb.sql, 'sql'),
    params: list(pb.params, 'params').map((p, i) => sqlValue(p, `params[${i}]`)),
  };
}

/** Milliseconds as an int64 field. */
export function msToPb(value: number): string {
  return BigInt(Math.trunc(value)).toString();
}
