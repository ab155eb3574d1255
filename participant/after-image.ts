/**
 * After-images: what each row touched by a transaction looks like once all its ops are applied, in
 * order, starting from the committed row. Computed in memory; SQLite only sees the final images
 * (in the trial savepoint, then at commit). An op that cannot apply (INSERT over an existing row,
 * UPDATE or ADD of a missing one, ADD to a NULL or text value, overflow) is a CONSTRAINT refusal.
 */
import type { Row, SqlValue } from '../common/value.ts';
import { INT64_MAX, INT64_MIN } from '../common/value.ts';
import { unreachable } from '../common/assert.ts';
import { typeName } from './affinity.ts';
import { defaultImage, selectRow, writableImage } from './base-rows.ts';
import { constraintFailed } from './refusal.ts';
import { describeTarget, type RowTarget } from './row-key.ts';
import type { ShardContext } from './shard-context.ts';
import type { ResolvedOp } from './validate.ts';

export interface WorkingRow {
  readonly target: RowTarget;
  /** The committed row (every column) before the transaction, or null if absent. */
  readonly before: Row | null;
  /** The after-image so far (writable columns), or null for "no row". */
  after: Row | null;
  /** True once any op other than CHECK touched the row. */
  written: boolean;
}

/** The rows one transaction touches, in the order it first touched them. */
export class WorkingSet {
  private readonly ctx: ShardContext;
  private readonly rows = new Map<string, WorkingRow>();

  constructor(ctx: ShardContext) {
    this.ctx = ctx;
  }

  row(target: RowTarget): WorkingRow {
    const id = `${target.table.name}\u0000${target.rowKey}`;
    let row = this.rows.get(id);
    if (row === undefined) {
      const before = selectRow(this.ctx, target) ?? null;
      row = {
        target,
        before,
        after: before === null ? null : writableImage(target.table, before),
        written: false,
      };
      this.rows.set(id, row);
    }
    return row;
  }

  written(): WorkingRow[] {
    return [...this.rows.values()].filter((r) => r.written);
  }
}

/** Applies one op to its row's after-image. */
export function applyOp(ctx: ShardContext, row: WorkingRow, op: ResolvedOp): void {
  const where = `op ${op.index} (${op.kind} ${describeTarget(row.target)})`;
  switch (op.kind) {
    case 'INSERT':
      if (row.after !== null) throw constraintFailed(`${where}: the row already exists`);
      row.after = { ...defaultImage(ctx, row.target), ...op.values };
      break;
    case 'UPSERT':
      row.after = { ...(row.after ?? defaultImage(ctx, row.target)), ...op.values };
      break;
    case 'UPDATE':
      if (row.after === null) throw constraintFailed(`${where}: no such row`);
      row.after = { ...row.after, ...op.values };
      break;
    case 'DELETE':
      row.after = null;
      break;
    case 'ADD':
      if (row.after === null) throw constraintFailed(`${where}: no such row`);
      row.after = addDeltas(row.after, op.values, where);
      break;
    case 'CHECK':
      return;
    default:
      unreachable(op.kind, 'op kind');
  }
  row.written = true;
}

/** int + int stays an exact int (overflow refused); anything with a real is a real. */
function addDeltas(image: Row, deltas: Row, where: string): Row {
  const out = { ...image };
  for (const [name, delta] of Object.entries(deltas)) {
    out[name] = addOne(out[name] as SqlValue, delta, `${where}: ${name}`);
  }
  return out;
}

function addOne(current: SqlValue, delta: SqlValue, where: string): SqlValue {
  if (typeof current !== 'bigint' && typeof current !== 'number') {
    throw constraintFailed(`${where} holds ${typeName(current)}, cannot add to it`);
  }
  if (typeof current === 'bigint' && typeof delta === 'bigint') {
    const sum = current + delta;
    if (sum < INT64_MIN || sum > INT64_MAX) throw constraintFailed(`${where}: integer overflow`);
    return sum;
  }
  const sum = Number(current) + Number(delta);
  if (!Number.isFinite(sum)) throw constraintFailed(`${where}: real overflow`);
  return sum;
}
