/**
 * The bank workload: accounts spread over every shard, transfers between accounts on different shards,
 * and full reads.
 *
 * - transfer: one Execute with ADD -amount / +amount on the two accounts and a ledger row named by the
 *   transfer id on BOTH shards (so the ledger also shows a half-applied transfer), idempotency key =
 *   transfer id. `CHECK (balance >= 0)` turns an overdraft into a NO vote: aborts happen on purpose.
 * - read: ONE interactive transaction reading every account, committed (its read set is validated at
 *   prepare), so an ok read is a serializable snapshot whose total must be the initial total.
 * - settle: every transfer of unknown outcome is sent again with its idempotency key (a new invocation
 *   of the same transfer in the history): the coordinator must answer with the first outcome or run it
 *   now, never apply it twice.
 *
 * The ledger rows double as durability markers: an acknowledged transfer must have its row on both shards.
 */
import type { Random } from '../../common/random.ts';
import type { TwopcClient } from '../../client/twopc-client.ts';
import { BANK_READ_F, BANK_TRANSFER_F, checkBank, type Balances, type Transfer } from '../checkers/bank.ts';
import type { CommitRecord } from '../checkers/durability.ts';
import type { CompletionType, Op } from '../history.ts';
import {
  STEP_OK,
  classifyError,
  type StepResult,
  type AnyVerdict,
  type FinalStateReader,
  type Workload,
  type WorkloadEnv,
} from './workload.ts';

export const BANK_ACCOUNTS_PER_SHARD = 3;
export const BANK_INITIAL_BALANCE = 100;
/** Transfers move 1..this: big enough that overdrafts (NO votes) happen, small enough that most pass. */
const transferAmountMax = 30;
/** Share of ops that are full reads. */
const readShare = 0.15;
/** Conflict retries of one full read. */
const readRetries = 8;
/** Unknown transfers re-sent after the heal, at most (the rest stay unknown: still checked). */
const reasksMax = 400;
/** Re-asks in flight at once. */
const reaskConcurrency = 4;

const schemaSql = (shards: readonly string[]) => `
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  balance INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS ledger (
  transfer_id TEXT PRIMARY KEY,
  amount INTEGER NOT NULL
);
INSERT OR IGNORE INTO accounts (id, balance) VALUES
${Array.from({ length: BANK_ACCOUNTS_PER_SHARD }, (_, i) => `  (${i + 1}, ${BANK_INITIAL_BALANCE})`).join(',\n')};
-- ${shards.length} shards
`;

interface Account {
  readonly name: string;
  readonly shard: string;
  readonly id: number;
}

export class BankWorkload implements Workload {
  readonly name = 'bank' as const;
  readonly schemaSql: string;
  readonly #env: WorkloadEnv;
  readonly #accounts: Account[];
  #nextTransfer = 0;
  /** Every transfer ever invoked, by id, with the outcome its invocations add up to. */
  /** `answered`: the outcome came from the coordinator (authoritative), not from a client-side error. */
  readonly #transfers = new Map<string, TransferOutcome>();
  #reasked = 0;

  constructor(env: WorkloadEnv) {
    this.#env = env;
    this.schemaSql = schemaSql(env.shards);
    this.#accounts = env.shards.flatMap((shard) =>
      Array.from({ length: BANK_ACCOUNTS_PER_SHARD }, (_, i) => ({
        name: `${shard}/${i + 1}`,
        shard,
        id: i + 1,
      })),
    );
  }

  initialBalances(): Balances {
    return Object.fromEntries(this.#accounts.map((a) => [a.name, BANK_INITIAL_BALANCE]));
  }

  step(client: TwopcClient, process: number, rnd: Random): Promise<StepResult> {
    if (rnd.next() < readShare) return this.#read(client, process);
    const from = rnd.pick(this.#accounts);
    const to = rnd.pick(this.#accounts.filter((a) => a.shard !== from.shard));
    const transfer: Transfer = {
      id: `t${this.#env.seed}-${this.#nextTransfer++}`,
      from: from.name,
      to: to.name,
      amount: rnd.int(1, transferAmountMax),
    };
    return this.#transfer(client, process, transfer);
  }

  async settle(client: TwopcClient, process: number): Promise<void> {
    const unknown = [...this.#transfers.values()].filter((t) => t.outcome === 'info').map((t) => t.transfer);
    const todo = unknown.slice(0, reasksMax);
    this.#reasked = todo.length;
    let next = 0;
    const lane = async (p: number) => {
      while (next < todo.length) await this.#transfer(client, p, todo[next++]!);
    };
    await Promise.all(Array.from({ length: reaskConcurrency }, (_, i) => lane(process + i)));
    this.#env.log(`bank: re-sent ${todo.length} transfer(s) of unknown outcome with their idempotency keys`);
  }

  commitRecords(): CommitRecord[] {
    const shardOf = new Map(this.#accounts.map((a) => [a.name, a.shard]));
    return [...this.#transfers.values()].map(({ transfer, outcome, acked }) => ({
      id: transfer.id,
      outcome,
      shards: [shardOf.get(transfer.from)!, shardOf.get(transfer.to)!],
      ...(acked === undefined ? {} : { acked }),
    }));
  }

  markers(state: FinalStateReader): Record<string, string[]> {
    return Object.fromEntries(
      this.#env.shards.map((s) => [
        s,
        state.rows(s, 'SELECT transfer_id FROM ledger').map((r) => String(r.transfer_id)),
      ]),
    );
  }

  check(state: FinalStateReader): AnyVerdict[] {
    const balances: Record<string, number> = {};
    for (const shard of this.#env.shards) {
      for (const r of state.rows(shard, 'SELECT id, balance FROM accounts'))
        balances[`${shard}/${Number(r.id)}`] = Number(r.balance);
    }
    const ledger = Object.values(this.markers(state)).flat();
    const verdict = checkBank(
      this.#env.history.ops as Op[],
      { balances, ledger },
      {
        initialBalances: this.initialBalances(),
        ledgerRowsPerTransfer: 2,
      },
    );
    return [verdict];
  }

  stats(): Record<string, number> {
    return { accounts: this.#accounts.length, reasked: this.#reasked };
  }

  async #transfer(client: TwopcClient, process: number, t: Transfer): Promise<StepResult> {
    const { history, txnTimeoutMs } = this.#env;
    const from = this.#account(t.from);
    const to = this.#account(t.to);
    const op = history.invoke(process, BANK_TRANSFER_F, t);
    let type: CompletionType;
    let answered = false;
    let error: string | undefined;
    let reconnect = false;
    try {
      const r = await client.execute(
        [
          {
            shard: from.shard,
            table: 'accounts',
            kind: 'ADD',
            key: { id: from.id },
            values: { balance: -t.amount },
          },
          {
            shard: to.shard,
            table: 'accounts',
            kind: 'ADD',
            key: { id: to.id },
            values: { balance: t.amount },
          },
          {
            shard: from.shard,
            table: 'ledger',
            kind: 'INSERT',
            key: { transfer_id: t.id },
            values: { amount: -t.amount },
          },
          {
            shard: to.shard,
            table: 'ledger',
            kind: 'INSERT',
            key: { transfer_id: t.id },
            values: { amount: t.amount },
          },
        ],
        { idempotencyKey: t.id, timeoutMs: txnTimeoutMs },
      );
      type = r.outcome === 'COMMITTED' ? 'ok' : 'fail';
      answered = true;
      if (r.outcome === 'ABORTED') error = `${r.abortReason ?? 'ABORTED'}: ${r.reason}`;
    } catch (err) {
      ({ type, error, reconnect } = classifyError(err, true));
    }
    const done = history.complete(op, type, t, error);
    const merged = mergeOutcome(this.#transfers.get(t.id), t, type, answered);
    const acked =
      this.#transfers.get(t.id)?.acked ??
      (type === 'ok' ? { invokedAtMs: op.timeMs, completedAtMs: done.timeMs } : undefined);
    this.#transfers.set(t.id, acked === undefined ? merged : { ...merged, acked });
    return { type, reconnect };
  }

  async #read(client: TwopcClient, process: number): Promise<StepResult> {
    const { history, txnTimeoutMs } = this.#env;
    const op = history.invoke(process, BANK_READ_F, null);
    let commitMaybeSent = false;
    try {
      const balances = await client.transaction(
        async (tx) => {
          const reads = await Promise.all(
            this.#accounts.map((a) => tx.read(a.shard, 'accounts', { id: a.id })),
          );
          commitMaybeSent = true;
          // A missing account is left out: the read then covers too few accounts to be totalled, and
          // the final state (which must hold every account) shows the loss.
          return Object.fromEntries(
            this.#accounts.flatMap((a, i) =>
              reads[i]!.found ? [[a.name, Number(reads[i]!.row.balance)]] : [],
            ),
          );
        },
        // Conflicts with concurrent transfers are the rule for a read of every account: retry them
        // inside the op (the ok value is the committed attempt's snapshot).
        { retries: readRetries, timeoutMs: txnTimeoutMs },
      );
      history.complete(op, 'ok', balances);
      return STEP_OK;
    } catch (err) {
      const result = classifyError(err, commitMaybeSent);
      history.complete(op, result.type, null, result.error);
      return result;
    }
  }

  #account(name: string): Account {
    const a = this.#accounts.find((x) => x.name === name);
    if (!a) throw new Error(`unknown account ${name}`);
    return a;
  }
}

/**
 * What the clients know of a transfer over all its invocations (retries share its idempotency key, so
 * the coordinator answers every one with the first outcome). A coordinator's answer is authoritative;
 * a client-side error is not: a retry that never left the client says nothing about an earlier attempt
 * whose outcome is unknown, so it must not turn "unknown" into "failed" (that would be a false
 * failed-but-applied). Committed wins; then an authoritative abort; then unknown; else failed.
 */
interface TransferOutcome {
  readonly transfer: Transfer;
  readonly outcome: CompletionType;
  readonly answered: boolean;
  /** The invocation told COMMITTED (the first one, if a retry was told again). */
  readonly acked?: { readonly invokedAtMs: number; readonly completedAtMs: number };
}

export function mergeOutcome(
  prev: { outcome: CompletionType; answered: boolean } | undefined,
  transfer: Transfer,
  type: CompletionType,
  answered: boolean,
): { transfer: Transfer; outcome: CompletionType; answered: boolean } {
  if (type === 'ok' || prev?.outcome === 'ok') return { transfer, outcome: 'ok', answered: true };
  if (type === 'fail' && answered) return { transfer, outcome: 'fail', answered: true };
  if (prev?.outcome === 'fail' && prev.answered) return { transfer, outcome: 'fail', answered: true };
  if (type === 'info' || prev?.outcome === 'info') return { transfer, outcome: 'info', answered: false };
  return { transfer, outcome: 'fail', answered: false };
}
