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
 * Keys rotate (list-append-keys.ts, shared with the simulator): a key takes at most `appendsPerKeyMax` appends, then a fresh one replaces it, so lists
 * stay short and the checker's work stays linear. A transaction that appends also inserts a marker
 * row named by its label on each shard it wrote (the durability checker's input). After the heal,
 * `settle` asks the coordinator about every unknown transaction (for the durability records) and reads
 * every key ever used, so an acknowledged append that was lost shows as `lost-append`.
 */
import type { Random } from '../../common/random.ts';
import type { TwopcClient } from '../../client/twopc-client.ts';
import type { Transaction } from '../../client/transaction.ts';
import { LIST_APPEND_F, checkListAppend, type MicroOp } from '../checkers/list-append.ts';
import type { CommitRecord } from '../checkers/durability.ts';
import type { CompletionType, Op } from '../history.ts';
import { LIST_APPEND_SCHEMA, ListAppendKeys, applyMicroOps, parseList } from './list-append-keys.ts';
import {
  STEP_OK,
  classifyError,
  type AnyVerdict,
  type FinalStateReader,
  type StepResult,
  type Workload,
  type WorkloadEnv,
} from './workload.ts';

/** Keys per final-read transaction. */
const finalReadKeysMax = 16;
/** Unknown transactions looked up after the heal, at most. */
const lookupsMax = 400;

interface TxnRecord {
  readonly label: string;
  readonly shards: string[];
  outcome: CompletionType;
  txnId: string | undefined;
  /** When the invocation told COMMITTED started and ended. */
  acked?: { readonly invokedAtMs: number; readonly completedAtMs: number };
}

export class ListAppendWorkload implements Workload {
  readonly name = 'list-append' as const;
  readonly schemaSql = LIST_APPEND_SCHEMA;
  readonly #env: WorkloadEnv;
  readonly #keys: ListAppendKeys;
  #nextLabel = 0;
  readonly #records: TxnRecord[] = [];
  #learned = { committed: 0, aborted: 0, unknown: 0 };

  constructor(env: WorkloadEnv) {
    this.#env = env;
    this.#keys = new ListAppendKeys(env.shards);
  }

  step(client: TwopcClient, process: number, rnd: Random): Promise<StepResult> {
    return this.#run(client, process, this.#keys.nextTxn(rnd));
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
    const keys = this.#keys.usedKeys();
    for (let i = 0; i < keys.length; i += finalReadKeysMax) {
      const ops: MicroOp[] = keys.slice(i, i + finalReadKeysMax).map((k) => ['r', k, null]);
      await this.#run(client, process, ops);
    }
    this.#env.log(
      `list-append: looked up ${unknown.length} unknown transaction(s); read ${keys.length} key(s) at the end`,
    );
  }

  commitRecords(): CommitRecord[] {
    return this.#records
      .filter((r) => r.shards.length > 0)
      .map((r) => ({
        id: r.label,
        outcome: r.outcome,
        shards: r.shards,
        ...(r.acked === undefined ? {} : { acked: r.acked }),
      }));
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
      keys: this.#keys.created,
      unknownLearnedCommitted: this.#learned.committed,
      unknownLearnedAborted: this.#learned.aborted,
      unknownStillUnknown: this.#learned.unknown,
    };
  }

  #learn(r: TxnRecord, outcome: 'ok' | 'fail'): void {
    r.outcome = outcome;
    if (outcome === 'ok') this.#learned.committed++;
    else this.#learned.aborted++;
  }

  async #run(client: TwopcClient, process: number, ops: readonly MicroOp[]): Promise<StepResult> {
    const { history, txnTimeoutMs } = this.#env;
    const label = `L${this.#env.seed}-${this.#nextLabel++}`;
    const record: TxnRecord = {
      label,
      shards: this.#keys.writeShards(ops),
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
          const filled = await this.#apply(tx, ops, label);
          commitMaybeSent = true;
          return filled;
        },
        { retries: 0, timeoutMs: txnTimeoutMs },
      );
      record.outcome = 'ok';
      const done = history.complete(op, 'ok', result);
      record.acked = { invokedAtMs: op.timeMs, completedAtMs: done.timeMs };
      return STEP_OK;
    } catch (err) {
      const result = classifyError(err, commitMaybeSent);
      record.outcome = result.type;
      history.complete(op, result.type, ops, result.error);
      return result;
    }
  }

  /** Runs the micro-ops in the transaction; returns them with every read's list filled in. */
  async #apply(tx: Transaction, ops: readonly MicroOp[], label: string): Promise<MicroOp[]> {
    const { filled, writes } = await applyMicroOps(ops, this.#keys, label, async (shard, key) => {
      const r = await tx.read(shard, 'lists', { k: key });
      return r.found ? parseList(r.row.elements) : [];
    });
    if (writes.length > 0) tx.write(writes);
    return filled;
  }
}
