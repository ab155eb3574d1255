/**
 * The final state, read from the shard files themselves (read-only, after every process stopped):
 * what survived, whatever any process or API says. Integers come back as numbers (the workloads keep
 * them far below 2^53; a bigger one is refused rather than rounded).
 */
import Database from 'better-sqlite3';
import type { FinalStateReader } from './workloads/workload.ts';

export class ShardFiles implements FinalStateReader {
  readonly #fileOf: (shard: string) => string;

  constructor(fileOf: (shard: string) => string) {
    this.#fileOf = fileOf;
  }

  rows(shard: string, sql: string): Record<string, unknown>[] {
    const db = new Database(this.#fileOf(shard), { readonly: true, fileMustExist: true });
    db.defaultSafeIntegers(true);
    try {
      return (db.prepare(sql).all() as Record<string, unknown>[]).map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? toNumber(v) : v])),
      );
    } finally {
      db.close();
    }
  }
}

function toNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
    throw new Error(`integer ${v} is too big for the chaos checkers`);
  return Number(v);
}
