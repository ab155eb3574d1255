/**
 * What the list-append workload does, apart from how it talks to a coordinator: the schema, the keys
 * (rotated: a key takes at most `appendsPerKeyMax` appends, then a fresh one replaces it, so lists stay
 * short and the checker's work stays linear), the micro-ops of the next transaction, the writes a
 * transaction's appends become, and how a stored list is read back. Shared by the real-cluster
 * workload (list-append.ts) and the deterministic simulator (simulation/list-append-clients.ts).
 */
import type { Random } from '../../common/random.ts';
import type { MicroOp } from '../checkers/list-append.ts';

/** Keys in use at once per shard; more keys = fewer conflicts. */
const activeKeysPerShard = 2;
/** Appends a key takes before it is retired. */
export const appendsPerKeyMax = 16;
const microOpsMax = 4;
const appendShare = 0.5;

export const LIST_APPEND_SCHEMA = `
CREATE TABLE IF NOT EXISTS lists (
  k TEXT PRIMARY KEY,
  elements TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS markers (
  txn TEXT PRIMARY KEY
);
`;

/** One write of a transaction, in the shape both the SDK and the coordinator take. */
export interface ListWrite {
  readonly shard: string;
  readonly table: 'lists' | 'markers';
  readonly kind: 'UPSERT' | 'INSERT';
  readonly key: { readonly k: string } | { readonly txn: string };
  readonly values?: { readonly elements: string };
}

export class ListAppendKeys {
  readonly #shards: readonly string[];
  readonly #active: number[] = [];
  readonly #appendsGiven = new Map<number, number>();
  #nextKey = 0;
  #nextElement = 1;

  constructor(shards: readonly string[]) {
    this.#shards = shards;
    for (let i = 0; i < activeKeysPerShard * shards.length; i++) this.#active.push(this.#nextKey++);
  }

  /** The micro-ops of the next transaction: 1..4 appends of unique elements or reads. */
  nextTxn(rnd: Random): MicroOp[] {
    const count = rnd.int(1, microOpsMax);
    const ops: MicroOp[] = [];
    for (let i = 0; i < count; i++) {
      const slot = rnd.int(0, this.#active.length - 1);
      const key = this.#active[slot]!;
      if (rnd.next() < appendShare) {
        ops.push(['append', `k${key}`, this.#nextElement++]);
        const given = (this.#appendsGiven.get(key) ?? 0) + 1;
        this.#appendsGiven.set(key, given);
        if (given >= appendsPerKeyMax) this.#active[slot] = this.#nextKey++;
      } else {
        ops.push(['r', `k${key}`, null]);
      }
    }
    return ops;
  }

  /** Keys created so far (rotated ones included). */
  get created(): number {
    return this.#nextKey;
  }

  /** The shard of key `kN`: N mod the number of shards. */
  shardOf(key: string): string {
    return this.#shards[Number(key.slice(1)) % this.#shards.length]!;
  }

  /** The shards `ops` append on (where the transaction writes, markers included). */
  writeShards(ops: readonly MicroOp[]): string[] {
    const appended = new Set(ops.filter((o) => o[0] === 'append').map((o) => String(o[1])));
    return [...new Set([...appended].map((k) => this.shardOf(k)))];
  }

  /** Every key that was ever appended to, in order (the final reads cover them). */
  usedKeys(): string[] {
    return [...this.#appendsGiven.keys()].sort((a, b) => a - b).map((k) => `k${k}`);
  }
}

/**
 * Applies `ops` to the lists a transaction read (`read` gives a key's committed list on first touch):
 * returns the micro-ops with every read's list filled in (the transaction sees its own appends), and
 * the writes — one UPSERT per appended key, one marker per written shard.
 */
export async function applyMicroOps(
  ops: readonly MicroOp[],
  keys: ListAppendKeys,
  label: string,
  read: (shard: string, key: string) => Promise<(string | number)[]>,
): Promise<{ filled: MicroOp[]; writes: ListWrite[] }> {
  const lists = new Map<string, (string | number)[]>();
  const filled: MicroOp[] = [];
  const written = new Set<string>();
  for (const o of ops) {
    const key = String(o[1]);
    let list = lists.get(key);
    if (list === undefined) {
      list = await read(keys.shardOf(key), key);
      lists.set(key, list);
    }
    if (o[0] === 'append') {
      list.push(o[2]);
      written.add(key);
      filled.push(o);
    } else {
      filled.push(['r', key, [...list]]);
    }
  }
  const writes: ListWrite[] = [...written].map((key) => ({
    shard: keys.shardOf(key),
    table: 'lists',
    kind: 'UPSERT',
    key: { k: key },
    values: { elements: JSON.stringify(lists.get(key)) },
  }));
  for (const shard of keys.writeShards(ops))
    writes.push({ shard, table: 'markers', kind: 'INSERT', key: { txn: label } });
  return { filled, writes };
}

/**
 * A stored list. Anything but a JSON array of numbers becomes one element naming what was found, so
 * the checker reports it as a garbage read instead of the workload hiding it.
 */
export function parseList(raw: unknown): (string | number)[] {
  try {
    const list: unknown = typeof raw === 'string' ? JSON.parse(raw) : undefined;
    if (Array.isArray(list) && list.every((e) => typeof e === 'number')) return list as number[];
  } catch {
    // Not JSON: reported below.
  }
  return [`garbage:${String(raw)}`];
}
