/**
 * The list-append workload (the Elle checker's input): transactions of 1..4 micro-ops, each an append of
 * a unique element to a key's list or a read of the whole list, on keys spread over the shards.
 *
 * A key is a row `lists(k, elements)` on shard (key number mod shards), `elements` a TEXT column
 * holding a JSON array. Each transaction is ONE interactive transaction: the first touch of a key reads
 * its committed list (the read joins the read set, validated at prepare), later micro-ops see the
 * transaction's own appends (the SDK's reads return committed state, so this file keeps them), and
 * Commit writes one UPSERT per appended key — read-modify-write, serializable only if twopc is.
 *
 * Keys rotate: a key takes at most `appendsPerKeyMax` appends, then a fresh one replaces it, so lists
 * stay short and the checker's work stays linear. A transaction that appends also inserts a marker
 * row named by its label on each shard it wrote (the durability checker's input). After the heal,
 * `settle` asks the coordinator about every unknown transaction (for the durability records) and reads
 * every key ever used, so an acknowledged append that was lost shows as `lost-append`.
 */
import type { Random } from '../../common/random.ts';
import type { TwopcClient } from '../../client/twopc-client.ts';
import type { OpInput } from '../../client/ops.ts';
import type { Transaction } from '../../client/transaction.ts';
import { LIST_APPEND_F, checkListAppend, type MicroOp } from '../checkers/list-append.ts';
import type { CommitRecord } from '../checkers/durability.ts';
import type { CompletionType, Op } from '../history.ts';
import {
  STEP_OK,
  classifyError,
  type AnyVerdict,
  type FinalStateReader,
  type StepResult,
  type Workload,
  type WorkloadEnv,
} from './workload.ts';

/** Keys in use at once; more keys = fewer conflicts. */
const activeKeysPerShard = 2;
/** Appends a key takes before it is retired. */
export const appendsPerKeyMax = 16;
const microOpsMax = 4;
const appendShare = 0.5;
/** Keys per final-read transaction. */
const finalReadKeysMax = 16;
/** Unknown transactions looked up after the heal, at most. */
const lookupsMax = 400;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS lists (
  k TEXT PRIMARY KEY,
  elements TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS markers (
  txn TEXT PRIMARY KEY
);
`;

interface TxnRecord {
  readonly label: string;
  readonly shards: string[];
  outcome: CompletionType;
  txnId: string | undefined;
}

export class ListAppendWorkload implements Workload {
  readonly name = 'list-append' as const;
  readonly schemaSql = SCHEMA;
  readonly #env: WorkloadEnv;
  readonly #active: number[] = [];
  readonly #appendsGiven = new Map<number, number>();
  #nextKey = 0;
  #nextElement = 1;
  #nextLabel = 0;
  readonly #records: TxnRecord[] = [];
  #learned = { committed: 0, aborted: 0, unknown: 0 };

  constructor(env: WorkloadEnv) {
    this.#env = env;
    for (let i = 0; i < activeKeysPerShard * env.shards.length; i++) this.#active.push(this.#newKey());
  }

  step(client: TwopcClient, process: number, rnd: Random): Promise<StepResult> {
    const count = rnd.int(1, microOpsMax);
    const ops: MicroOp[] = [];
    for (let i = 0; i < count; i++) {
      const slot = rnd.int(0, this.#active.length - 1);
      const key = this.#active[slot]!;
      if (rnd.next() < appendShare) {
        ops.push(['append', `k${key}`, this.#nextElement++]);
        const given = (this.#appendsGiven.get(key) ?? 0) + 1;
        this.#appendsGiven.set(key, given);
        if (given >= appendsPerKeyMax) this.#active[slot] = this.#newKey();
      } else {
        ops.push(['r', `k${key}`, null]);
      }
    }
    return this.#run(client, process, ops);
  }

  async settle(client: TwopcClient, process: number): Promise<void> {
    const unknown = this.#records
      .filter((r) => r.outcome === 'info' && r.txnId !== undefined)
      .slice(0, lookupsMax);
    for (const r of unknown) {
      try {
        const view = await client.getTransaction(r.txnId!);
        if (view.outcome === 'COMMITTED') this.#learn(r, 'ok');
        else if (view.outcome === 'ABORTED') this.#learn(r, 'fail');
        else this.#learned.unknown++;
      } catch {
        this.#learned.unknown++;
      }
    }
    const keys = [...this.#appendsGiven.keys()].sort((a, b) => a - b);
    for (let i = 0; i < keys.length; i += finalReadKeysMax) {
      const ops: MicroOp[] = keys.slice(i, i + finalReadKeysMax).map((k) => ['r', `k${k}`, null]);
      await this.#run(client, process, ops);
    }
    this.#env.log(
      `list-append: looked up ${unknown.length} unknown transaction(s); read ${keys.length} key(s) at the end`,
    );
  }

  commitRecords(): CommitRecord[] {
    return this.#records
      .filter((r) => r.shards.length > 0)
      .map((r) => ({ id: r.label, outcome: r.outcome, shards: r.shards }));
  }

  markers(state: FinalStateReader): Record<string, string[]> {
    return Object.fromEntries(
      this.#env.shards.map((s) => [s, state.rows(s, 'SELECT txn FROM markers').map((r) => String(r.txn))]),
    );
  }

  check(): AnyVerdict[] {
    return [checkListAppend(this.#env.history.ops as Op[])];
  }

  stats(): Record<string, number> {
    return {
      keys: this.#nextKey,
      unknownLearnedCommitted: this.#learned.committed,
      unknownLearnedAborted: this.#learned.aborted,
      unknownStillUnknown: this.#learned.unknown,
    };
  }

  #newKey(): number {
    return this.#nextKey++;
  }

  #shardOf(key: string): string {
    const shards = this.#env.shards;
    return shards[Number(key.slice(1)) % shards.length]!;
  }

  #learn(r: TxnRecord, outcome: 'ok' | 'fail'): void {
    r.outcome = outcome;
    if (outcome === 'ok') this.#learned.committed++;
    else this.#learned.aborted++;
  }

  async #run(client: TwopcClient, process: number, ops: readonly MicroOp[]): Promise<StepResult> {
    const { history, txnTimeoutMs } = this.#env;
    const label = `L${this.#env.seed}-${this.#nextLabel++}`;
    const appended = [...new Set(ops.filter((o) => o[0] === 'append').map((o) => String(o[1])))];
    const record: TxnRecord = {
      label,
      shards: [...new Set(appended.map((k) => this.#shardOf(k)))],
      outcome: 'info',
      txnId: undefined,
    };
    this.#records.push(record);
    const op = history.invoke(process, LIST_APPEND_F, ops);
    let commitMaybeSent = false;
    try {
      const result = await client.transaction(
        async (tx) => {
          record.txnId = tx.txnId;
          const filled = await this.#apply(tx, ops, label, record.shards);
          commitMaybeSent = true;
          return filled;
        },
        { retries: 0, timeoutMs: txnTimeoutMs },
      );
      record.outcome = 'ok';
      history.complete(op, 'ok', result);
      return STEP_OK;
    } catch (err) {
      const result = classifyError(err, commitMaybeSent);
      record.outcome = result.type;
      history.complete(op, result.type, ops, result.error);
      return result;
    }
  }

  /** Runs the micro-ops in the transaction; returns them with every read's list filled in. */
  async #apply(
    tx: Transaction,
    ops: readonly MicroOp[],
    label: string,
    shards: readonly string[],
  ): Promise<MicroOp[]> {
    const lists = new Map<string, (string | number)[]>();
    const touch = async (key: string) => {
      let list = lists.get(key);
      if (list === undefined) {
        const r = await tx.read(this.#shardOf(key), 'lists', { k: key });
        list = r.found ? parseList(r.row.elements) : [];
        lists.set(key, list);
      }
      return list;
    };
    const filled: MicroOp[] = [];
    const written = new Set<string>();
    for (const o of ops) {
      const key = String(o[1]);
      const list = await touch(key);
      if (o[0] === 'append') {
        list.push(o[2]);
        written.add(key);
        filled.push(o);
      } else {
        filled.push(['r', key, [...list]]);
      }
    }
    const writes: OpInput[] = [...written].map((key) => ({
      shard: this.#shardOf(key),
      table: 'lists',
      kind: 'UPSERT',
      key: { k: key },
      values: { elements: JSON.stringify(lists.get(key)) },
    }));
    for (const shard of shards) writes.push({ shard, table: 'markers', kind: 'INSERT', key: { txn: label } });
    if (writes.length > 0) tx.write(writes);
    return filled;
  }
}

/**
 * A stored list. Anything but a JSON array of numbers becomes one element naming what was found, so
 * the checker reports it as a garbage read instead of the workload hiding it.
 */
function parseList(raw: unknown): (string | number)[] {
  try {
    const list: unknown = typeof raw === 'string' ? JSON.parse(raw) : undefined;
    if (Array.isArray(list) && list.every((e) => typeof e === 'number')) return list as number[];
  } catch {
    // Not JSON: reported below.
  }
  return [`garbage:${String(raw)}`];
}
