/**
 * A coordinator over fake participants and a real SQLite decision log in a temp dir, with timings
 * small enough for tests. Randomness is seeded (TWOPC_SEED reproduces a run).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClientOp } from '../../common/api.ts';
import { silentLogger } from '../../common/log.ts';
import type { ParticipantClient } from '../../common/protocol.ts';
import { seededRandom, seedFromEnv } from '../../common/random.ts';
import type { Row } from '../../common/value.ts';
import type { CoordinatorConfig } from '../../coordinator/config.ts';
import { Coordinator } from '../../coordinator/coordinator.ts';
import type { DecisionLog } from '../../coordinator/decision-log.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { FakeParticipant } from './fake-participant.ts';

export const seed = seedFromEnv();

export const TEST_CONFIG: Partial<CoordinatorConfig> = Object.freeze({
  prepareTimeoutMs: 300,
  rpcTimeoutMs: 200,
  outcomeProbeWaitMs: 300,
  decisionRetryBackoff: Object.freeze({ baseMs: 5, maxMs: 40 }),
  abortSendAttemptsMax: 3,
  redriveIntervalMs: 100,
});

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'twopc-coord-'));
}

export interface TestCluster {
  readonly dir: string;
  readonly logPath: string;
  log: DecisionLog;
  coordinator: Coordinator;
  readonly shards: Map<string, FakeParticipant>;
  shard(name: string): FakeParticipant;
  /** Closes the coordinator and the log, then opens both again over the same file and shards. */
  restart(options?: { wrapLog?: (log: DecisionLog) => DecisionLog }): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(
  options: {
    shards?: readonly string[];
    config?: Partial<CoordinatorConfig>;
    wrapLog?: (log: DecisionLog) => DecisionLog;
    start?: boolean;
  } = {},
): Promise<TestCluster> {
  const dir = tempDir();
  const logPath = path.join(dir, 'decisions.db');
  const shards = new Map((options.shards ?? ['s1', 's2', 's3']).map((s) => [s, new FakeParticipant(s)]));
  const random = seededRandom(seed);
  const make = async (wrap?: (log: DecisionLog) => DecisionLog) => {
    const raw = SqliteDecisionLog.open(logPath);
    const log = wrap ? wrap(raw) : raw;
    const coordinator = new Coordinator({
      coordinatorId: 'c1',
      log,
      participants: shards as ReadonlyMap<string, ParticipantClient>,
      config: { ...TEST_CONFIG, ...options.config },
      random: random.next,
      logger: silentLogger,
    });
    if (options.start !== false) await coordinator.start();
    return { log, coordinator };
  };
  const first = await make(options.wrapLog);
  const cluster: TestCluster = {
    dir,
    logPath,
    log: first.log,
    coordinator: first.coordinator,
    shards,
    shard: (name) => shards.get(name) as FakeParticipant,
    restart: async (restartOptions = {}) => {
      await cluster.coordinator.close();
      await cluster.log.close();
      const next = await make(restartOptions.wrapLog);
      cluster.log = next.log;
      cluster.coordinator = next.coordinator;
    },
    close: async () => {
      await cluster.coordinator.close();
      await cluster.log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

export function add(shard: string, id: number, delta: bigint): ClientOp {
  return { shard, table: 'accounts', kind: 'ADD', key: { id: BigInt(id) }, values: { balance: delta } };
}

export function upsert(shard: string, id: number, values: Row): ClientOp {
  return { shard, table: 'accounts', kind: 'UPSERT', key: { id: BigInt(id) }, values };
}

export function seedAccounts(cluster: TestCluster, balance = 100n): void {
  for (const s of cluster.shards.values())
    for (let id = 1; id <= 3; id++) s.seed('accounts', { id: BigInt(id) }, { balance });
}

export function balance(cluster: TestCluster, shard: string, id: number): bigint {
  return cluster.shard(shard).row('accounts', { id: BigInt(id) })?.balance as bigint;
}

/** Polls until `condition` holds, or fails after `timeoutMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 3_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (seed ${seed})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
