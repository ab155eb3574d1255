/**
 * Static checks of a request, before anything is sent: a failure is INVALID_ARGUMENT naming the op
 * and field, and nothing changes anywhere. What needs the schema (unknown table or column, a wrong
 * type, a key that is not the primary key) is checked by the participant at prepare, which votes NO
 * with `invalid: true`.
 */
import type { ClientOp } from '../common/api.ts';
import { invalidArgument } from '../common/errors.ts';
import { OP_KINDS, type ReadCheck, type ShardOp } from '../common/protocol.ts';
import { INT64_MAX, INT64_MIN, type Row, type SqlValue } from '../common/value.ts';
import type { CoordinatorConfig } from './config.ts';

/** Names starting with this are the participants' own tables. */
const RESERVED_TABLE_PREFIX = '_twopc_';
/** Counted per op and per column on top of the values: names, kinds, framing. */
const opOverheadBytes = 32;
const UINT64_MAX = 2n ** 64n - 1n;

export interface ValidationContext {
  readonly shards: ReadonlySet<string>;
  readonly config: CoordinatorConfig;
}

/** One shard's part of a transaction. */
export interface ShardWork {
  readonly ops: readonly ShardOp[];
  readonly reads: readonly ReadCheck[];
}

export interface TxnPlan {
  /** Every participant, sorted. */
  readonly shards: readonly string[];
  readonly work: ReadonlyMap<string, ShardWork>;
  /** Some op writes (anything but CHECK). False lets participants vote READ_ONLY. */
  readonly writes: boolean;
}

export function resolveTimeoutMs(timeoutMs: number, config: CoordinatorConfig): number {
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0)
    throw invalidArgument(`timeout_ms ${timeoutMs} is not a non-negative integer`);
  if (timeoutMs > config.txnTimeoutMsMax) {
    throw invalidArgument(`timeout_ms ${timeoutMs} is over the maximum of ${config.txnTimeoutMsMax} ms`);
  }
  return timeoutMs === 0 ? config.txnTimeoutMsDefault : timeoutMs;
}

export function validateIdempotencyKey(key: string, config: CoordinatorConfig): void {
  if (typeof key !== 'string') throw invalidArgument('idempotency_key must be a string');
  if (Buffer.byteLength(key, 'utf8') > config.idempotencyKeyBytesMax) {
    throw invalidArgument(`idempotency_key is over ${config.idempotencyKeyBytesMax} bytes`);
  }
}

export function validateShard(shard: string, ctx: ValidationContext, where: string): void {
  if (typeof shard !== 'string' || !ctx.shards.has(shard)) {
    throw invalidArgument(
      `${where}: unknown shard "${String(shard)}"`,
      `known shards: ${[...ctx.shards].sort().join(', ')}`,
    );
  }
}

export function validateTable(table: string, where: string): void {
  if (typeof table !== 'string' || table.length === 0) throw invalidArgument(`${where}: table is empty`);
  if (table.toLowerCase().startsWith(RESERVED_TABLE_PREFIX)) {
    throw invalidArgument(
      `${where}: table "${table}" is reserved (names starting with ${RESERVED_TABLE_PREFIX} belong to twopc)`,
    );
  }
}

/** Checks a row's columns and values; returns its estimated size in bytes. */
export function validateRow(row: Row, what: string, ctx: ValidationContext, where: string): number {
  if (row === null || typeof row !== 'object' || Array.isArray(row))
    throw invalidArgument(`${where}: ${what} is not a map`);
  let bytes = 0;
  for (const [column, value] of Object.entries(row)) {
    if (column.length === 0) throw invalidArgument(`${where}: ${what} has an empty column name`);
    bytes += Buffer.byteLength(column, 'utf8') + valueBytes(value, ctx, `${where}: ${what}.${column}`);
  }
  return bytes;
}

function valueBytes(value: SqlValue, ctx: ValidationContext, where: string): number {
  if (value === null) return 1;
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX)
      throw invalidArgument(`${where}: integer out of 64-bit range`);
    return 8;
  }
  if (typeof value === 'number') {
    if (Number.isNaN(value)) throw invalidArgument(`${where}: NaN is not a value`);
    return 8;
  }
  const bytes =
    typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : Buffer.isBuffer(value) ? value.length : -1;
  if (bytes < 0) throw invalidArgument(`${where}: not a SQLite value`);
  if (bytes > ctx.config.valueBytesMax) {
    throw invalidArgument(
      `${where}: value of ${bytes} bytes is over the limit of ${ctx.config.valueBytesMax}`,
    );
  }
  return bytes;
}

/** Checks one op; returns its estimated size in bytes. */
export function validateOp(op: ClientOp, ctx: ValidationContext, where: string): number {
  if (op === null || typeof op !== 'object') throw invalidArgument(`${where}: not an op`);
  validateShard(op.shard, ctx, where);
  validateTable(op.table, where);
  if (!(OP_KINDS as readonly string[]).includes(op.kind)) {
    throw invalidArgument(`${where}: kind "${String(op.kind)}" is not one of ${OP_KINDS.join(', ')}`);
  }
  const keyBytes = validateRow(op.key, 'key', ctx, where);
  if (Object.keys(op.key).length === 0)
    throw invalidArgument(`${where}: key is empty (give the row's full primary key)`);
  const valueBytesTotal = validateRow(op.values, 'values', ctx, where);
  const valueColumns = Object.keys(op.values);
  const both = valueColumns.find((c) => Object.hasOwn(op.key, c));
  if (both !== undefined) throw invalidArgument(`${where}: column "${both}" is in both key and values`);
  if ((op.kind === 'DELETE' || op.kind === 'CHECK') && valueColumns.length > 0) {
    throw invalidArgument(`${where}: ${op.kind} takes no values`);
  }
  if (op.kind === 'ADD') {
    if (valueColumns.length === 0) throw invalidArgument(`${where}: ADD needs at least one delta in values`);
    const bad = valueColumns.find(
      (c) => typeof op.values[c] !== 'bigint' && typeof op.values[c] !== 'number',
    );
    if (bad !== undefined) throw invalidArgument(`${where}: ADD delta values.${bad} is not a number`);
  }
  if (op.expectedVersion !== undefined) {
    if (
      typeof op.expectedVersion !== 'bigint' ||
      op.expectedVersion < 0n ||
      op.expectedVersion > UINT64_MAX
    ) {
      throw invalidArgument(`${where}: expected_version is not an unsigned 64-bit integer`);
    }
  } else if (op.kind === 'CHECK') {
    throw invalidArgument(`${where}: CHECK needs expected_version (0 = the row is absent)`);
  }
  return opOverheadBytes + Buffer.byteLength(op.table, 'utf8') + keyBytes + valueBytesTotal;
}

/**
 * Checks a batch of ops that will join `alreadyOps` ops of `alreadyBytes` in one transaction;
 * returns the new total bytes.
 */
export function validateOps(
  ops: readonly ClientOp[],
  ctx: ValidationContext,
  already = { ops: 0, bytes: 0 },
): number {
  if (!Array.isArray(ops)) throw invalidArgument('ops is not a list');
  const total = already.ops + ops.length;
  if (total > ctx.config.opsPerTxnMax) {
    throw invalidArgument(`${total} ops in one transaction is over the limit of ${ctx.config.opsPerTxnMax}`);
  }
  let bytes = already.bytes;
  ops.forEach((op, i) => {
    bytes += validateOp(
      op,
      ctx,
      `op[${already.ops + i}] (shard "${String(op?.shard)}", table "${String(op?.table)}")`,
    );
    if (bytes > ctx.config.requestBytesMax) {
      throw invalidArgument(
        `the transaction's ops are over the size limit of ${ctx.config.requestBytesMax} bytes`,
      );
    }
  });
  return bytes;
}

/** Groups ops and reads by shard. Validation has happened. */
export function planTransaction(
  ops: readonly ClientOp[],
  reads: ReadonlyMap<string, readonly ReadCheck[]>,
): TxnPlan {
  const work = new Map<string, { ops: ShardOp[]; reads: ReadCheck[] }>();
  const at = (shard: string) => {
    let w = work.get(shard);
    if (w === undefined) work.set(shard, (w = { ops: [], reads: [] }));
    return w;
  };
  for (const op of ops) {
    const { shard, table, kind, key, values, expectedVersion } = op;
    at(shard).ops.push({
      table,
      kind,
      key,
      values,
      ...(expectedVersion === undefined ? {} : { expectedVersion }),
    });
  }
  for (const [shard, checks] of reads) if (checks.length > 0) at(shard).reads.push(...checks);
  return { shards: [...work.keys()].sort(), work, writes: ops.some((op) => op.kind !== 'CHECK') };
}
