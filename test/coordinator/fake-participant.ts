/**
 * An in-memory shard implementing ParticipantClient honestly enough for the coordinator's tests:
 * committed rows with versions, prepared transactions holding key locks, tombstones, one-phase
 * commits, read-only votes, read validation. Tests can make it vote NO, refuse as malformed, slow
 * down any method (a slow message is still processed after the caller gave up, as on a network), go
 * down (every call UNAVAILABLE), and count every message.
 */
import { TwopcError } from '../../common/errors.ts';
import type {
  AbortReason,
  Ack,
  DecisionMessage,
  InDoubtTxn,
  Peer,
  LocalState,
  ParticipantClient,
  PrepareMessage,
  QueryResult,
  ReadCheck,
  ReadResult,
  ShardOp,
  TableInfo,
  TxnStateInfo,
  Vote,
} from '../../common/protocol.ts';
import { encodeRow, type Row, type SqlValue } from '../../common/value.ts';

type Method = 'prepare' | 'decide' | 'read' | 'query' | 'txnState' | 'listInDoubt';

interface LocalTxn {
  state: LocalState;
  ops: readonly ShardOp[];
  decisionSeq: bigint;
  preparedAtMs: number;
  decidedAtMs: number;
  coordinatorId: string;
  peers: readonly Peer[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function rowKey(table: string, key: Row): string {
  const sorted = Object.fromEntries(Object.entries(key).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${table}\u0000${encodeRow(sorted)}`;
}

export class FakeParticipant implements ParticipantClient {
  readonly address: string;
  /** rowKey -> committed row. */
  readonly rows = new Map<string, Row>();
  /** rowKey -> version (kept after a delete: versions never go back). */
  readonly versions = new Map<string, bigint>();
  readonly txns = new Map<string, LocalTxn>();
  /** rowKey -> txn holding the lock. */
  readonly locks = new Map<string, string>();
  readonly calls: Record<Method, number> = {
    prepare: 0,
    decide: 0,
    read: 0,
    query: 0,
    txnState: 0,
    listInDoubt: 0,
  };
  readonly prepares: PrepareMessage[] = [];
  readonly decisions: DecisionMessage[] = [];
  /** Tables this shard has; an op on another one is refused as malformed. */
  tables = new Set(['accounts', 'ledger']);
  /** Every call fails UNAVAILABLE (the message never arrives). */
  down = false;
  /** Calls of these methods fail UNAVAILABLE. */
  readonly downMethods = new Set<Method>();
  /** Prepares vote NO with this. */
  voteNo: { reasonCode: AbortReason; reason: string; invalid: boolean } | undefined;
  /** Delay before a message is processed, per method. */
  delayMs: Partial<Record<Method, number>> = {};

  constructor(readonly shard: string) {
    this.address = `fake://${shard}`;
  }

  seed(table: string, key: Row, values: Row): void {
    const k = rowKey(table, key);
    this.rows.set(k, { ...key, ...values });
    this.versions.set(k, (this.versions.get(k) ?? 0n) + 1n);
  }

  row(table: string, key: Row): Row | undefined {
    return this.rows.get(rowKey(table, key));
  }

  state(txnId: string): LocalState {
    return this.txns.get(txnId)?.state ?? 'UNKNOWN';
  }

  prepare(message: PrepareMessage, timeoutMs: number): Promise<Vote> {
    return this.call('prepare', timeoutMs, () => {
      this.prepares.push(message);
      return this.vote(message);
    });
  }

  decide(message: DecisionMessage, timeoutMs: number): Promise<Ack> {
    return this.call('decide', timeoutMs, () => {
      this.decisions.push(message);
      return { txnId: message.txnId, state: this.applyDecision(message) };
    });
  }

  read(table: string, key: Row, timeoutMs: number): Promise<ReadResult> {
    return this.call('read', timeoutMs, () => {
      if (!this.tables.has(table)) throw new TwopcError('INVALID_ARGUMENT', `no table ${table}`);
      const k = rowKey(table, key);
      const row = this.rows.get(k);
      return { found: row !== undefined, row: row ?? {}, version: this.versions.get(k) ?? 0n };
    });
  }

  query(_sql: string, _params: readonly SqlValue[], timeoutMs: number): Promise<QueryResult> {
    return this.call('query', timeoutMs, () => ({ columns: ['n'], rows: [{ n: BigInt(this.rows.size) }] }));
  }

  txnState(txnId: string, timeoutMs: number): Promise<TxnStateInfo> {
    return this.call('txnState', timeoutMs, () => {
      const t = this.txns.get(txnId);
      return {
        txnId,
        state: t?.state ?? 'UNKNOWN',
        decisionSeq: t?.decisionSeq ?? 0n,
        preparedAtMs: t?.preparedAtMs ?? 0,
        decidedAtMs: t?.decidedAtMs ?? 0,
      };
    });
  }

  listInDoubt(timeoutMs: number): Promise<readonly InDoubtTxn[]> {
    return this.call('listInDoubt', timeoutMs, () =>
      [...this.txns]
        .filter(([, t]) => t.state === 'PREPARED')
        .map(([txnId, t]) => ({
          txnId,
          coordinatorId: t.coordinatorId,
          preparedAtMs: t.preparedAtMs,
          peers: t.peers,
        })),
    );
  }

  async describe(): Promise<readonly TableInfo[]> {
    return [];
  }

  close(): void {}

  /** Delivers the message after the delay whatever the caller does; the caller gives up at its timeout. */
  private call<T>(method: Method, timeoutMs: number, process: () => T): Promise<T> {
    this.calls[method]++;
    if (this.down || this.downMethods.has(method))
      return Promise.reject(new TwopcError('UNAVAILABLE', `${this.shard} is down`));
    const delay = this.delayMs[method] ?? 0;
    const processed = delay > 0 ? sleep(delay).then(process) : Promise.resolve().then(process);
    if (delay <= timeoutMs) return processed;
    processed.catch(() => {});
    return sleep(timeoutMs).then(() => {
      throw new TwopcError(
        'DEADLINE_EXCEEDED',
        `${method} at ${this.shard}: no answer within ${timeoutMs} ms`,
      );
    });
  }

  private vote(m: PrepareMessage): Vote {
    const no = (reasonCode: AbortReason, reason: string, invalid = false): Vote => ({
      txnId: m.txnId,
      vote: 'NO',
      reasonCode,
      reason,
      invalid,
    });
    const existing = this.txns.get(m.txnId);
    if (existing?.state === 'ABORTED') return no('CONFLICT', 'aborted here (tombstone)');
    if (existing?.state === 'PREPARED') return { txnId: m.txnId, vote: 'YES' };
    if (existing?.state === 'COMMITTED')
      return { txnId: m.txnId, vote: m.onePhase ? 'COMMITTED_ONE_PHASE' : 'YES' };
    if (Date.now() > m.deadlineMs) return this.refuse(m, no('TIMEOUT', 'prepare arrived after the deadline'));
    if (this.voteNo)
      return this.refuse(m, no(this.voteNo.reasonCode, this.voteNo.reason, this.voteNo.invalid));
    const bad = [...m.ops, ...m.reads].find((x) => !this.tables.has(x.table));
    if (bad) return this.refuse(m, no('CONSTRAINT', `no such table: ${bad.table}`, true));
    const problem = this.check(m.txnId, m.ops, m.reads);
    if (problem) return this.refuse(m, no(problem[0], problem[1]));
    const writes = m.ops.filter((op) => op.kind !== 'CHECK');
    if (m.onePhase) {
      this.apply(m.ops);
      this.txns.set(m.txnId, {
        state: 'COMMITTED',
        ops: m.ops,
        decisionSeq: 0n,
        preparedAtMs: Date.now(),
        decidedAtMs: Date.now(),
        coordinatorId: m.coordinatorId,
        peers: m.peers,
      });
      return { txnId: m.txnId, vote: 'COMMITTED_ONE_PHASE' };
    }
    if (m.readOnlyOk && writes.length === 0) return { txnId: m.txnId, vote: 'READ_ONLY' };
    for (const x of [...m.ops, ...m.reads]) this.locks.set(rowKey(x.table, x.key), m.txnId);
    this.txns.set(m.txnId, {
      state: 'PREPARED',
      ops: m.ops,
      decisionSeq: 0n,
      preparedAtMs: Date.now(),
      decidedAtMs: 0,
      coordinatorId: m.coordinatorId,
      peers: m.peers,
    });
    return { txnId: m.txnId, vote: 'YES' };
  }

  /** A NO leaves the transaction aborted here, so a re-sent Prepare gets the same answer. */
  private refuse(m: PrepareMessage, vote: Vote): Vote {
    this.txns.set(m.txnId, {
      state: 'ABORTED',
      ops: [],
      decisionSeq: 0n,
      preparedAtMs: 0,
      decidedAtMs: Date.now(),
      coordinatorId: m.coordinatorId,
      peers: m.peers,
    });
    return vote;
  }

  private check(
    txnId: string,
    ops: readonly ShardOp[],
    reads: readonly ReadCheck[],
  ): [AbortReason, string] | undefined {
    for (const x of [...ops, ...reads]) {
      const holder = this.locks.get(rowKey(x.table, x.key));
      if (holder !== undefined && holder !== txnId) return ['CONFLICT', `row locked by ${holder}`];
    }
    for (const r of reads) {
      if ((this.versions.get(rowKey(r.table, r.key)) ?? 0n) !== r.version)
        return ['CONFLICT', `stale read of ${r.table}`];
    }
    for (const op of ops) {
      const k = rowKey(op.table, op.key);
      const exists = this.rows.has(k);
      if (op.expectedVersion !== undefined && (this.versions.get(k) ?? 0n) !== op.expectedVersion)
        return ['CONFLICT', 'version changed'];
      if (op.kind === 'INSERT' && exists) return ['CONSTRAINT', 'UNIQUE constraint failed: row exists'];
      if ((op.kind === 'UPDATE' || op.kind === 'ADD') && !exists) return ['CONSTRAINT', 'row missing'];
      if (op.kind === 'ADD') {
        const row = this.rows.get(k) as Row;
        for (const [c, d] of Object.entries(op.values)) {
          if (typeof d === 'bigint' && typeof row[c] === 'bigint' && (row[c] as bigint) + d < 0n)
            return ['CONSTRAINT', 'CHECK constraint failed: balance >= 0'];
        }
      }
    }
    return undefined;
  }

  private apply(ops: readonly ShardOp[]): void {
    for (const op of ops) {
      if (op.kind === 'CHECK') continue;
      const k = rowKey(op.table, op.key);
      const row = this.rows.get(k);
      if (op.kind === 'DELETE') this.rows.delete(k);
      else if (op.kind === 'ADD') {
        const next = { ...(row as Row) };
        for (const [c, d] of Object.entries(op.values)) next[c] = (next[c] as bigint) + (d as bigint);
        this.rows.set(k, next);
      } else this.rows.set(k, { ...(op.kind === 'INSERT' ? {} : row), ...op.key, ...op.values });
      this.versions.set(k, (this.versions.get(k) ?? 0n) + 1n);
    }
  }

  private applyDecision(m: DecisionMessage): LocalState {
    const t = this.txns.get(m.txnId);
    if (m.commit) {
      if (t === undefined) return 'UNKNOWN';
      if (t.state === 'PREPARED') {
        this.apply(t.ops);
        this.release(m.txnId);
        Object.assign(t, { state: 'COMMITTED', decisionSeq: m.decisionSeq, decidedAtMs: Date.now() });
      }
      return t.state;
    }
    if (t === undefined) {
      this.txns.set(m.txnId, {
        state: 'ABORTED',
        ops: [],
        decisionSeq: 0n,
        preparedAtMs: 0,
        decidedAtMs: Date.now(),
        coordinatorId: '',
        peers: [],
      });
      return 'ABORTED';
    }
    if (t.state === 'PREPARED') {
      this.release(m.txnId);
      Object.assign(t, { state: 'ABORTED', decidedAtMs: Date.now() });
    }
    return t.state;
  }

  private release(txnId: string): void {
    for (const [k, holder] of this.locks) if (holder === txnId) this.locks.delete(k);
  }
}
