/**
 * The workload every system runs: money transfers between accounts, `balance - 1` on one account and
 * `balance + 1` on another, with `CHECK (balance >= 0)` on the table.
 *
 * Uncontended by construction: client c owns accounts [c * accountsPerClient + 1, (c + 1) *
 * accountsPerClient] on each shard and walks through them in order, so no two clients ever touch the
 * same row, and a client reuses a row only `accountsPerClient` transactions later. Contention is a
 * different benchmark (twopc refuses a locked row with a CONFLICT vote; PostgreSQL waits for the lock).
 */
export const SCENARIOS = ['2shard', '1shard', '2shard-wal-async', '2shard-wal-sync'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const SCENARIO_TITLES: Readonly<Record<Scenario, string>> = Object.freeze({
  '2shard': '2-shard transfer',
  '1shard': '1-shard transfer',
  '2shard-wal-async': '2-shard, WAL async → s3rver',
  '2shard-wal-sync': '2-shard, WAL sync → s3rver',
});

/** The two transfers; the WAL scenarios run the 2-shard one on participants that ship their WAL. */
export type Transfer = '2shard' | '1shard';
/** How the participants ship their WAL: not at all, or to s3rver in one of the replication modes. */
export type Shipping = 'none' | 'async' | 'sync';

export interface ScenarioSpec {
  readonly transfer: Transfer;
  readonly shipping: Shipping;
}

export const SCENARIO_SPECS: Readonly<Record<Scenario, ScenarioSpec>> = Object.freeze({
  '2shard': { transfer: '2shard', shipping: 'none' },
  '1shard': { transfer: '1shard', shipping: 'none' },
  '2shard-wal-async': { transfer: '2shard', shipping: 'async' },
  '2shard-wal-sync': { transfer: '2shard', shipping: 'sync' },
});

/** The scenario that runs the same transfer without WAL shipping: what a WAL row's cost is measured against. */
export function baselineOf(scenario: Scenario): Scenario | undefined {
  const spec = SCENARIO_SPECS[scenario];
  if (spec.shipping === 'none') return undefined;
  return SCENARIOS.find(
    (s) => SCENARIO_SPECS[s].transfer === spec.transfer && SCENARIO_SPECS[s].shipping === 'none',
  );
}

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
