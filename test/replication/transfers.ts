/**
 * A bank workload for the replicated-cluster suites, through the coordinator's public API (a raw
 * gRPC client built from proto/): every transfer moves money between an account on s1 and one on s2
 * and writes a ledger row on BOTH shards holding the signed amount that shard's balances moved. So
 * on any one shard, alone, `sum(balance) = initial + sum(ledger.amount)` holds exactly when no
 * transaction is torn, and the ledger rows name the transfers the shard holds.
 */
import { expect } from 'vitest';
import { seededRandom } from '../../common/random.ts';
import { int, queryRows, text, type RawClient } from '../integration/raw-client.ts';

export const SHARDS = ['s1', 's2'] as const;
export type ShardName = (typeof SHARDS)[number];
export const ACCOUNTS_PER_SHARD = 10;
export const INITIAL_BALANCE = 1_000n;
export const INITIAL_SHARD_TOTAL = INITIAL_BALANCE * BigInt(ACCOUNTS_PER_SHARD);

export type Outcome = 'COMMITTED' | 'ABORTED' | 'UNKNOWN';

export async function seedAccounts(client: RawClient): Promise<void> {
  const ops = SHARDS.flatMap((shard) =>
    Array.from({ length: ACCOUNTS_PER_SHARD }, (_, i) => ({
      shard,
      table: 'accounts',
      kind: 'INSERT',
      key: { id: int(i + 1) },
      values: { owner: text(`${shard}-${i + 1}`), balance: int(INITIAL_BALANCE) },
    })),
  );
  const res = await client.call('Execute', { ops });
  expect(res.outcome).toBe('COMMITTED');
}

/** One transfer from a random account of `from` to a random account of the other shard. */
export async function transfer(
  client: RawClient,
  id: string,
  from: ShardName,
  rnd: ReturnType<typeof seededRandom>,
): Promise<{ outcome: Outcome; reason: string }> {
  const amount = BigInt(rnd.int(1, 20));
  const delta = (shard: ShardName) => (shard === from ? -amount : amount);
  const ops = [
    ...SHARDS.map((shard) => ({
      shard,
      table: 'accounts',
      kind: 'ADD',
      key: { id: int(rnd.int(1, ACCOUNTS_PER_SHARD)) },
      values: { balance: int(delta(shard)) },
    })),
    ...SHARDS.map((shard) => ({
      shard,
      table: 'ledger',
      kind: 'INSERT',
      key: { transfer_id: text(id) },
      values: { amount: int(delta(shard)) },
    })),
  ];
  try {
    const res = await client.call('Execute', { ops });
    return {
      outcome: res.outcome === 'COMMITTED' ? 'COMMITTED' : 'ABORTED',
      reason: String(res.reason ?? ''),
    };
  } catch (err) {
    // A failed call (deadline, shard unreachable): the outcome is not known to the client.
    return { outcome: 'UNKNOWN', reason: (err as Error).message };
  }
}

export interface Workload {
  readonly outcomes: Map<string, { outcome: Outcome; atMs: number }>;
  committed(): number;
  /** Stops starting transfers and waits for those in flight. */
  stop(): Promise<void>;
}

/** `workers` loops of transfers until stopped; ids are `w<worker>-<n>`. */
export function runWorkload(client: RawClient, seed: number, workers: number): Workload {
  const outcomes = new Map<string, { outcome: Outcome; atMs: number }>();
  let stopping = false;
  const loops = Array.from({ length: workers }, async (_, w) => {
    const rnd = seededRandom(seed + w);
    for (let n = 0; !stopping; n++) {
      const id = `w${w}-${n}`;
      const { outcome } = await transfer(client, id, rnd.pick(SHARDS), rnd);
      outcomes.set(id, { outcome, atMs: Date.now() });
    }
  });
  return {
    outcomes,
    committed: () => [...outcomes.values()].filter((o) => o.outcome === 'COMMITTED').length,
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

export function idsWith(workload: Workload, outcome: Outcome): string[] {
  return [...workload.outcomes].filter(([, o]) => o.outcome === outcome).map(([id]) => id);
}

export interface ShardState {
  readonly ledger: Map<string, bigint>;
  readonly balanceTotal: bigint;
}

/** A shard's ledger and balance total, read through the coordinator's Query. */
export async function shardState(client: RawClient, shard: ShardName): Promise<ShardState> {
  const ledger = new Map<string, bigint>();
  for (const row of await queryRows(client, shard, 'SELECT transfer_id, amount FROM ledger'))
    ledger.set(row.transfer_id as string, row.amount as bigint);
  let balanceTotal = 0n;
  for (const row of await queryRows(client, shard, 'SELECT balance FROM accounts')) {
    expect(row.balance as bigint).toBeGreaterThanOrEqual(0n);
    balanceTotal += row.balance as bigint;
  }
  return { ledger, balanceTotal };
}

/** Every transaction whole on this shard: its balances moved by exactly what its ledger says. */
export function expectNoTornTransaction(state: ShardState): void {
  const moved = [...state.ledger.values()].reduce((a, b) => a + b, 0n);
  expect(state.balanceTotal).toBe(INITIAL_SHARD_TOTAL + moved);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last answer. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await sleep(200);
  }
}
