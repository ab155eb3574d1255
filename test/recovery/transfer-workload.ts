/**
 * A concurrent cross-shard transfer workload that survives processes dying under it: every call
 * that fails leaves its transfer UNKNOWN, to be learned later (idempotency keys) or judged by the
 * checkers in shard-files.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { status as grpcStatus } from '@grpc/grpc-js';
import { seededRandom } from '../../common/random.ts';
import { int, text, type RawClient } from '../integration/raw-client.ts';
import { ACCOUNTS_PER_SHARD, SHARDS, type Shard } from './recovery-cluster.ts';

export type Outcome = 'COMMITTED' | 'ABORTED' | 'UNKNOWN';

export interface Transfer {
  readonly id: string;
  readonly from: Shard;
  readonly to: Shard;
  readonly ops: readonly object[];
  /** '' = sent without an idempotency key. */
  readonly key: string;
  outcome: Outcome;
  /** gRPC status name when the call failed (outcome UNKNOWN). */
  error?: string;
}

export interface WorkloadOptions {
  readonly seed: number;
  readonly tag: string;
  readonly workers: number;
  /** A bound on the workload's length whatever happens. */
  readonly transfersPerWorkerMax: number;
}

export interface Workload {
  readonly transfers: Transfer[];
  /** Transfers acknowledged COMMITTED so far. */
  committed(): number;
  /** Asks the workers to stop and waits for their calls in flight. */
  stop(): Promise<void>;
}

/** Share of transfers asking for far more than any balance: a sure NO (CONSTRAINT), so aborts happen. */
const overdraftShare = 0.15;
/** Pause after a failed call, so a worker does not spin on a dead coordinator. */
const errorPauseMs = 50;

/**
 * Workers sending cross-shard transfers: -amount on one shard's account, +amount on another's, and
 * a ledger row with the transfer id on both shards (so each shard's balances must equal its initial
 * total plus its ledger, and a transfer is visible on both shards or on neither). Odd workers use
 * idempotency keys, even ones do not: both recovery paths (INTENT records, unknown ids) get crashes.
 */
export function startWorkload(client: RawClient, options: WorkloadOptions): Workload {
  const transfers: Transfer[] = [];
  let stopping = false;
  let committed = 0;
  const worker = async (w: number) => {
    const rnd = seededRandom(options.seed + w);
    for (let i = 0; i < options.transfersPerWorkerMax && !stopping; i++) {
      const from = rnd.pick(SHARDS);
      const to = rnd.pick(SHARDS.filter((s) => s !== from));
      const amount = BigInt(rnd.next() < overdraftShare ? 1_000_000 : rnd.int(1, 50));
      const id = `${options.tag}-w${w}-${i}`;
      const ops = [
        add(from, rnd.int(1, ACCOUNTS_PER_SHARD), -amount),
        add(to, rnd.int(1, ACCOUNTS_PER_SHARD), amount),
        ledger(from, id, -amount),
        ledger(to, id, amount),
      ];
      const t: Transfer = { id, from, to, ops, key: w % 2 === 1 ? id : '', outcome: 'UNKNOWN' };
      transfers.push(t);
      try {
        const res = await client.call('Execute', { ops, idempotency_key: t.key });
        t.outcome = res.outcome;
        if (t.outcome === 'COMMITTED') committed++;
      } catch (err) {
        t.error = grpcStatus[(err as { code: number }).code] ?? String(err);
        await sleep(errorPauseMs);
      }
    }
  };
  const running = Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)));
  return {
    transfers,
    committed: () => committed,
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}

function add(shard: Shard, id: number, delta: bigint): object {
  return { shard, table: 'accounts', kind: 'ADD', key: { id: int(id) }, values: { balance: int(delta) } };
}

function ledger(shard: Shard, transferId: string, amount: bigint): object {
  return {
    shard,
    table: 'ledger',
    kind: 'INSERT',
    key: { transfer_id: text(transferId) },
    values: { amount: int(amount) },
  };
}

/**
 * Asks again, with the same idempotency key, about every keyed transfer whose outcome the client
 * never heard: the answer must be the original outcome (checked against the shards by checkShards).
 */
export async function learnKeyedOutcomes(client: RawClient, transfers: readonly Transfer[]): Promise<void> {
  const attemptsMax = 20;
  for (const t of transfers.filter((x) => x.outcome === 'UNKNOWN' && x.key !== '')) {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await client.call('Execute', { ops: t.ops, idempotency_key: t.key });
        t.outcome = res.outcome;
        break;
      } catch (err) {
        if (attempt >= attemptsMax)
          throw new Error(`transfer ${t.id}: no outcome after ${attempt} retries: ${String(err)}`);
        await sleep(200);
      }
    }
  }
}

export function summarize(transfers: readonly Transfer[]): Record<Outcome, number> {
  const out: Record<Outcome, number> = { COMMITTED: 0, ABORTED: 0, UNKNOWN: 0 };
  for (const t of transfers) out[t.outcome]++;
  return out;
}
