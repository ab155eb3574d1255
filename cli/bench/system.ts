/**
 * A system under test, as the bench drives it: started once per invocation, then asked for client
 * transaction functions slice after slice, its processes probed, stopped at the end.
 */
import type { TxnFn } from './closed-loop.ts';
import type { ProcessProbe } from './process-stats.ts';
import type { DeploymentScrape } from './stage-breakdown.ts';
import type { Scenario } from './workload.ts';

export const SYSTEMS = ['twopc', 'postgres', 'sqlite'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface MemoryMark {
  readonly name: string;
  readonly pid: number;
  readonly rssKb: number;
}

export interface SystemUnderTest {
  readonly name: SystemName;
  /** What the bench prints and records about it (version, settings, addresses). */
  readonly description: Readonly<Record<string, string | number | boolean>>;
  /** Whether it runs `scenario` (PostgreSQL and SQLite ship no WAL; SQLite's one file has no 1-shard row). */
  runs(scenario: Scenario): boolean;
  /** Short label of how `scenario` is run on this system, e.g. "PREPARE TRANSACTION on 2 databases". */
  method(scenario: Scenario): string | undefined;
  /** The processes that serve `scenario` (the bench's own process is probed by the bench). */
  probes(scenario: Scenario): readonly ProcessProbe[];
  /** One transaction function per client, for `clients` concurrent clients. */
  clients(scenario: Scenario, clients: number): TxnFn[];
  /** twopc only: every process's /metrics page, for the row's stage breakdown (stage-breakdown.ts). */
  scrape?(scenario: Scenario): Promise<DeploymentScrape>;
  /** Throws (with the log tail) if a process of the system died. */
  checkAlive(): void;
  /** Current RSS of each long-lived process (for the start/end memory check). */
  memory(): MemoryMark[];
  /** Pids of its processes still running: what a second Ctrl-C SIGKILLs. */
  livePids(): number[];
  /** Stops every process and removes what it created; idempotent, never throws. */
  stop(): Promise<void>;
}
