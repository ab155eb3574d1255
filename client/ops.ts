/**
 * Ops as SDK users write them — `{ shard, table, kind, key: { id: 1n }, values: { balance: -10n } }` —
 * and their wire form. Values go through client/values.ts, so a bad value is an INVALID_ARGUMENT
 * naming it (`ops[1].values.balance`) before anything is sent.
 */
import { opToPb } from '../common/api-codec.ts';
import { type Pb } from '../common/pb-fields.ts';
import { invalidArgument } from '../common/errors.ts';
import { OP_KINDS, type OpKind } from '../common/protocol.ts';
import { toSqlRow, type PlainRow } from './values.ts';

export interface OpInput {
  readonly shard: string;
  readonly table: string;
  readonly kind: OpKind;
  /** The row's full primary key. */
  readonly key: PlainRow;
  /** Non-key columns: after-values, or deltas for ADD. */
  readonly values?: PlainRow;
  /** Abort unless the row's committed version equals this (0 = absent). */
  readonly expectedVersion?: bigint | number;
}

export function opToWire(op: OpInput, where: string): Pb {
  if (!(OP_KINDS as readonly string[]).includes(op.kind)) {
    throw invalidArgument(`${where}.kind: "${String(op.kind)}" is not one of ${OP_KINDS.join(', ')}`);
  }
  const expected = op.expectedVersion;
  if (
    expected !== undefined &&
    (typeof expected === 'number' ? !Number.isSafeInteger(expected) || expected < 0 : expected < 0n)
  ) {
    throw invalidArgument(`${where}.expectedVersion: ${expected} is not a version (a non-negative integer)`);
  }
  return opToPb({
    shard: op.shard,
    table: op.table,
    kind: op.kind,
    key: toSqlRow(op.key, `${where}.key`),
    values: toSqlRow(op.values, `${where}.values`),
    ...(expected === undefined ? {} : { expectedVersion: BigInt(expected) }),
  });
}

export function opsToWire(ops: readonly OpInput[], where = 'ops'): Pb[] {
  return ops.map((op, i) => opToWire(op, `${where}[${i}]`));
}
