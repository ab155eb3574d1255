/**
 * The simulated bank's clients. Each is a node of its own on the simulated network (its requests to
 * the coordinator are delayed, reordered, duplicated or lost like any message) and runs one op at a
 * time, recording it Jepsen's way in a chaos/history.ts history:
 *
 * - transfer: one Execute with the transfer id as idempotency key. COMMITTED is ok, ABORTED is fail;
 *   a refused connection is fail on a first attempt (nothing was delivered) and info on a re-send (an
 *   earlier attempt may have committed); anything else (a deadline, an UNAVAILABLE) is info.
 * - read: one interactive transaction reading every account, then Commit (its reads are validated at
 *   prepare), retried on conflict; ok carries the balances of a serializable snapshot.
 *
 * A process whose op ended info may still have it in flight, so the client continues as a new process
 * (Jepsen's convention). `settle` re-sends every transfer of unknown outcome with its key once the
 * faults are healed: the coordinator must answer with the first outcome or run it now, never twice.
 */
import type { TxnOutcome } from '../../common/api.ts';
import { describeError } from '../../common/errors.ts';
import { BANK_READ_F, BANK_TRANSFER_F, type Balances, type Transfer } from '../checkers/bank.ts';
import type { CommitRecord } from '../checkers/durability.ts';
import type { CompletionType } from '../history.ts';
import type { BankLedger } from './bank-ledger.ts';
import { ConnectionRefusedError } from './network.ts';
import type { NodeClock } from './node-clock.ts';
import { SimClients, type SimClientsOptions } from './sim-clients.ts';

/** Transfers move 1..this: big enough that overdrafts (NO votes) happen, small enough that most pass. */
const transferAmountMax = 40;
/** Share of ops that are full reads, and of transfers that stay on one shard (one-phase commit). */
const readShare = 0.15;
const sameShardShare = 0.2;
/** Conflict retries of one full read. */
const readRetries = 5;
/** Lanes re-sending unknown transfers after the heal. */
const settleLanes = 2;

export interface BankClientsOptions extends SimClientsOptions {
  readonly ledger: BankLedger;
}

export class BankClients extends SimClients<BankClientsOptions> {
  /** Every transfer invoked, by id, with what its invocations add up to (ok wins, then fail). */
  private readonly transfers = new Map<string, { transfer: Transfer; outcome: CompletionType }>();
  private nextTransfer = 0;

  constructor(o: BankClientsOptions) {
    super(o, settleLanes);
  }

  /** Re-sends every transfer of unknown outcome with its idempotency key. */
  async settle(): Promise<number> {
    const unknown = [...this.transfers.values()].filter((t) => t.outcome === 'info').map((t) => t.transfer);
    let next = 0;
    const lane = async (clock: NodeClock, process: number) => {
      while (next < unknown.length) {
        const t = unknown[next++] as Transfer;
        if ((await this.transfer(clock, process, t)) === 'info') process += settleLanes;
      }
    };
    const base = this.maxProcess() + 1;
    const lanes = this.clocks.slice(this.o.clients);
    await Promise.all(lanes.map((clock, i) => lane(clock, base + i)));
    return unknown.length;
  }

  commitRecords(): CommitRecord[] {
    return [...this.transfers.values()].map(({ transfer, outcome }) => ({
      id: transfer.id,
      outcome,
      shards: this.o.ledger.shardsOf(transfer),
    }));
  }

  protected step(clock: NodeClock, process: number): Promise<CompletionType> {
    return this.o.random.next() < readShare
      ? this.read(clock, process)
      : this.transfer(clock, process, this.newTransfer());
  }

  private newTransfer(): Transfer {
    const r = this.o.random;
    const accounts = this.o.ledger.accounts;
    const from = r.pick(accounts);
    const sameShard = r.next() < sameShardShare;
    const to = r.pick(accounts.filter((a) => a !== from && (a.shard === from.shard) === sameShard));
    return {
      id: `t${this.o.seed}-${this.nextTransfer++}`,
      from: from.name,
      to: to.name,
      amount: r.int(1, transferAmountMax),
    };
  }

  private async transfer(clock: NodeClock, process: number, t: Transfer): Promise<CompletionType> {
    const op = this.history.invoke(process, BANK_TRANSFER_F, t);
    const firstAttempt = !this.transfers.has(t.id);
    let type: CompletionType;
    let error: string | undefined;
    try {
      const input = {
        ops: this.o.ledger.transferOps(t),
        timeoutMs: this.o.txnTimeoutMs,
        idempotencyKey: t.id,
      };
      const outcome = await this.call(clock, `Execute ${t.id}`, (c) => c.execute(input));
      type = outcome.outcome === 'COMMITTED' ? 'ok' : 'fail';
      if (outcome.outcome === 'ABORTED') error = `${outcome.abortReason ?? 'ABORTED'}: ${outcome.reason}`;
    } catch (err) {
      type = err instanceof ConnectionRefusedError && firstAttempt ? 'fail' : 'info';
      error = describeError(err);
    }
    this.history.complete(op, type, t, error);
    const known = this.transfers.get(t.id)?.outcome ?? 'info';
    const merged =
      known === 'ok' || type === 'ok' ? 'ok' : known === 'fail' || type === 'fail' ? 'fail' : 'info';
    this.transfers.set(t.id, { transfer: t, outcome: merged });
    return type;
  }

  private async read(clock: NodeClock, process: number): Promise<CompletionType> {
    const op = this.history.invoke(process, BANK_READ_F, null);
    const r = this.o.random;
    for (let attempt = 0; ; attempt++) {
      const result = await this.readOnce(clock);
      const retry =
        result.kind === 'aborted' && result.outcome.abortReason === 'CONFLICT' && attempt < readRetries;
      if (retry) {
        await clock.sleep(r.int(1, 5 * 2 ** attempt));
        continue;
      }
      if (result.kind === 'ok') this.history.complete(op, 'ok', result.balances);
      else if (result.kind === 'aborted') this.history.complete(op, 'fail', null, result.outcome.reason);
      else this.history.complete(op, result.kind, null, result.error);
      return result.kind === 'aborted' ? 'fail' : result.kind;
    }
  }

  /** One attempt: Begin, read every account, Commit. Before Commit is sent, nothing can commit. */
  private async readOnce(
    clock: NodeClock,
  ): Promise<
    | { kind: 'ok'; balances: Balances }
    | { kind: 'aborted'; outcome: TxnOutcome }
    | { kind: 'fail' | 'info'; error: string }
  > {
    const accounts = this.o.ledger.accounts;
    let rows: Array<{ found: boolean; row: Record<string, unknown> }>;
    let txnId: string;
    try {
      ({ txnId } = await this.call(clock, 'Begin', (c) =>
        c.begin({ timeoutMs: this.o.txnTimeoutMs, idempotencyKey: '' }),
      ));
      rows = await Promise.all(
        accounts.map((a) =>
          this.call(clock, `Read ${a.name}`, (c) => c.read(txnId, a.shard, 'accounts', { id: BigInt(a.id) })),
        ),
      );
    } catch (err) {
      return { kind: 'fail', error: describeError(err) };
    }
    try {
      const outcome = await this.call(clock, `Commit ${txnId}`, (c) => c.commit(txnId));
      if (outcome.outcome !== 'COMMITTED') return { kind: 'aborted', outcome };
    } catch (err) {
      return { kind: 'info', error: describeError(err) };
    }
    // A missing account is left out: the read then covers too few accounts to be totalled.
    const balances = Object.fromEntries(
      accounts.flatMap((a, i) => (rows[i]?.found ? [[a.name, Number(rows[i]?.row.balance)]] : [])),
    );
    return { kind: 'ok', balances };
  }
}
