/**
 * The simulated list-append clients (the Elle-style checker's input), as chaos/workloads/list-append.ts
 * runs them against a real cluster, with the same keys and micro-ops (list-append-keys.ts). Each client
 * is a node of its own on the simulated network and runs one interactive transaction at a time: Begin,
 * a Read of each key it touches (its committed list, validated at prepare), Write of one UPSERT per
 * appended key and a marker row per written shard, Commit.
 *
 * Outcomes: COMMITTED is ok, ABORTED is fail; a failure before Commit was sent is fail (nothing can
 * commit: the transaction times out), so is a refused Commit (it never reached the coordinator);
 * anything else after Commit went out (a deadline, UNAVAILABLE) is info, and the client continues as
 * a new process. `settle` asks the coordinator about each unknown transaction (for the durability
 * records) and reads every key ever appended to, so a lost acknowledged append shows.
 */
import type { ClientOp } from '../../common/api.ts';
import { describeError } from '../../common/errors.ts';
import type { CommitRecord } from '../checkers/durability.ts';
import { LIST_APPEND_F, type MicroOp } from '../checkers/list-append.ts';
import type { CompletionType, Op } from '../history.ts';
import { ListAppendKeys, applyMicroOps, parseList, type ListWrite } from '../workloads/list-append-keys.ts';
import { ConnectionRefusedError } from './network.ts';
import type { NodeClock } from './node-clock.ts';
import { SimClients, failurePauseMs, type SimClientsOptions } from './sim-clients.ts';

/** Keys per final-read transaction, and its attempts (a final read can meet a leftover conflict). */
const finalReadKeysMax = 16;
const finalReadAttempts = 5;

export interface ListAppendClientsOptions extends SimClientsOptions {
  readonly shards: readonly string[];
}

interface TxnRecord {
  readonly label: string;
  readonly shards: readonly string[];
  outcome: CompletionType;
  txnId: string | undefined;
}

export class ListAppendClients extends SimClients<ListAppendClientsOptions> {
  readonly keys: ListAppendKeys;
  private readonly records: TxnRecord[] = [];
  private nextLabel = 0;

  constructor(o: ListAppendClientsOptions) {
    super(o, 1); // one more clock for settle
    this.keys = new ListAppendKeys(o.shards);
  }

  /** Looks up every unknown transaction, then reads every key once more; returns the lookups made. */
  async settle(): Promise<number> {
    const clock = this.clocks[this.o.clients] as NodeClock;
    const unknown = this.records.filter((r) => r.outcome === 'info' && r.txnId !== undefined);
    for (const r of unknown) {
      try {
        const view = await this.call(clock, `GetTransaction ${r.txnId}`, (c) => c.getTransaction(r.txnId!));
        if (view.outcome === 'COMMITTED') r.outcome = 'ok';
        else if (view.outcome === 'ABORTED') r.outcome = 'fail';
      } catch {
        // Still unknown: the durability checker accepts all or nothing.
      }
    }
    let process = this.maxProcess() + 1;
    const keys = this.keys.usedKeys();
    for (let i = 0; i < keys.length; i += finalReadKeysMax) {
      const ops: MicroOp[] = keys.slice(i, i + finalReadKeysMax).map((k) => ['r', k, null]);
      for (let attempt = 1; attempt <= finalReadAttempts; attempt++) {
        const type = await this.txn(clock, process, ops);
        if (type === 'info') process++;
        if (type === 'ok') break;
        await clock.sleep(failurePauseMs.max * attempt);
      }
    }
    return unknown.length;
  }

  commitRecords(): CommitRecord[] {
    return this.records
      .filter((r) => r.shards.length > 0)
      .map((r) => ({ id: r.label, outcome: r.outcome, shards: r.shards }));
  }

  /** Shard → the markers it holds (the durability checker's input). */
  markers(rows: (shard: string, sql: string) => Record<string, unknown>[]): Record<string, string[]> {
    return Object.fromEntries(
      this.o.shards.map((s) => [s, rows(s, 'SELECT txn FROM markers').map((r) => String(r.txn))]),
    );
  }

  protected step(clock: NodeClock, process: number): Promise<CompletionType> {
    return this.txn(clock, process, this.keys.nextTxn(this.o.random));
  }

  private async txn(clock: NodeClock, process: number, ops: readonly MicroOp[]): Promise<CompletionType> {
    const label = `L${this.o.seed}-${this.nextLabel++}`;
    const record: TxnRecord = {
      label,
      shards: this.keys.writeShards(ops),
      outcome: 'info',
      txnId: undefined,
    };
    this.records.push(record);
    const op = this.history.invoke(process, LIST_APPEND_F, ops);
    let filled: MicroOp[];
    let txnId: string;
    try {
      ({ txnId } = await this.call(clock, 'Begin', (c) =>
        c.begin({ timeoutMs: this.o.txnTimeoutMs, idempotencyKey: '' }),
      ));
      record.txnId = txnId;
      const applied = await applyMicroOps(ops, this.keys, label, async (shard, key) => {
        const r = await this.call(clock, `Read ${key}`, (c) => c.read(txnId, shard, 'lists', { k: key }));
        return r.found ? parseList(r.row.elements) : [];
      });
      filled = applied.filled;
      if (applied.writes.length > 0)
        await this.call(clock, `Write ${txnId}`, (c) => c.write(txnId, applied.writes.map(toClientOp)));
    } catch (err) {
      return this.finish(record, op, 'fail', ops, describeError(err));
    }
    try {
      const outcome = await this.call(clock, `Commit ${txnId}`, (c) => c.commit(txnId));
      if (outcome.outcome === 'COMMITTED') return this.finish(record, op, 'ok', filled);
      return this.finish(record, op, 'fail', ops, `${outcome.abortReason ?? 'ABORTED'}: ${outcome.reason}`);
    } catch (err) {
      const type = err instanceof ConnectionRefusedError ? 'fail' : 'info';
      return this.finish(record, op, type, ops, describeError(err));
    }
  }

  private finish(
    record: TxnRecord,
    op: Op,
    type: CompletionType,
    value: readonly MicroOp[],
    error?: string,
  ): CompletionType {
    record.outcome = type;
    this.history.complete(op, type, value, error);
    return type;
  }
}

function toClientOp(w: ListWrite): ClientOp {
  return { shard: w.shard, table: w.table, kind: w.kind, key: w.key, values: w.values ?? {} };
}
