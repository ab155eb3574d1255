/**
 * The workload every system runs: money transfers between accounts, `balance - 1` on one account and
 * `balance + 1` on another, with `CHECK (balance >= 0)` on the table.
 *
 * Uncontended by construction: client c owns accounts [c * accountsPerClient + 1, (c + 1) *
 * accountsPerClient] on each shard and walks through them in order, so no two clients ever touch the
 * same row, and a client reuses a row only `accountsPerClient` transactions later. Contention is a
 * different benchmark (twopc refuses a locked row with a CONFLICT vote; PostgreSQL waits for the lock).
 */
export const SCENARIOS = ['2shard', '1shard'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const SCENARIO_TITLES: Readonly<Record<Scenario, string>> = Object.freeze({
  '2shard': '2-shard transfer',
  '1shard': '1-shard transfer',
});

/** Rows each client owns per shard: a row is reused only this many transactions later. */
export const accountsPerClient = 100;
/** Starting balance: a run never drains an account (a million transfers at most move a million). */
export const balanceInitial = 1_000_000_000;
/** The most clients a run may ask for (PostgreSQL needs two connections per client). */
export const clientsMax = 512;
/** Shard (database) names of the 2-shard transfer; the 1-shard transfer uses the first. */
export const SHARDS = ['shard-a', 'shard-b'] as const;

/** Accounts per shard that a run with at most `clientsMax` clients needs. */
export function accountsFor(clients: number): number {
  return clients * accountsPerClient;
}

/** The accounts of client `client`'s `seq`-th transaction (ids start at 1). */
export function transferAccounts(client: number, seq: number): { from: number; to: number } {
  const base = client * accountsPerClient;
  const i = seq % accountsPerClient;
  // 1-shard: from and to must differ; the 2-shard transfer uses the same pair on two shards.
  return { from: base + i + 1, to: base + ((i + 1) % accountsPerClient) + 1 };
}
