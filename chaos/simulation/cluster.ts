/**
 * One simulated cluster: the scheduler, the network, a coordinator and N participants, each on real
 * SQLite files in a run directory of its own (on /dev/shm when the machine has it: fsync is then
 * nearly free, and a lost fsync is not simulated anyway, see participant-node.ts).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../../common/log.ts';
import type { CoordinatorConfig } from '../../coordinator/config.ts';
import type { InDoubtPoll } from '../checkers/liveness.ts';
import { CoordinatorNode } from './coordinator-node.ts';
import { SimDecisionSource } from './decision-link.ts';
import type { Mutant } from './mutants.ts';
import { SimNetwork } from './network.ts';
import { ParticipantNode } from './participant-node.ts';
import { Scheduler } from './scheduler.ts';
import { deriveRandom } from './sim-random.ts';
import { COORDINATOR_NODE } from './incarnation.ts';

export interface SimClusterOptions {
  readonly seed: number;
  readonly shards: readonly string[];
  readonly schemaSql: string;
  readonly coordinatorConfig: Partial<CoordinatorConfig>;
  readonly eventsMax: number;
  readonly logger: Logger;
  /** Parent of the run directory (default /dev/shm if present, else the OS temp dir). */
  readonly dir?: string;
  readonly mutant?: Mutant;
}

export class SimCluster {
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly coordinator: CoordinatorNode;
  readonly participants: readonly ParticipantNode[];
  readonly runDir: string;

  constructor(o: SimClusterOptions) {
    this.runDir = mkdtempSync(path.join(o.dir ?? defaultRunParent(), 'twopc-sim-'));
    this.scheduler = new Scheduler(o.eventsMax);
    this.network = new SimNetwork(this.scheduler, deriveRandom(o.seed, 'network'));
    const byShard = new Map<string, ParticipantNode>();
    this.participants = o.shards.map((shard) => {
      const node = new ParticipantNode({
        shard,
        path: path.join(this.runDir, `${shard}.db`),
        schemaSql: o.schemaSql,
        scheduler: this.scheduler,
        random: deriveRandom(o.seed, `participant:${shard}`),
        logger: o.logger,
        decisionSource: (clock) =>
          new SimDecisionSource(clock, this.network, this.coordinator, (s) => byShard.get(s)),
        voteBeforeDurable: o.mutant === 'vote-before-durable',
      });
      byShard.set(shard, node);
      this.network.register(shard, () => node.current());
      return node;
    });
    this.coordinator = new CoordinatorNode({
      logPath: path.join(this.runDir, 'decisions.db'),
      scheduler: this.scheduler,
      network: this.network,
      random: deriveRandom(o.seed, 'coordinator'),
      idRandom: deriveRandom(o.seed, 'txn-ids'),
      logger: o.logger,
      config: o.coordinatorConfig,
      participants: byShard,
      ...(o.mutant === undefined ? {} : { mutant: o.mutant }),
    });
    this.network.register(COORDINATOR_NODE, () => this.coordinator.current());
  }

  start(): void {
    for (const p of this.participants) p.start();
    this.coordinator.start();
  }

  /** Every shard's in-doubt transactions, read from the stores directly (all must be up). */
  pollInDoubt(): InDoubtPoll {
    const timeMs = this.scheduler.elapsedUs / 1000;
    return {
      timeMs,
      inDoubt: this.participants.flatMap((p) =>
        p.listInDoubt().map((t) => ({ txnId: t.txnId, shard: p.shard })),
      ),
    };
  }

  /** Rows of a read-only query on one shard's committed state, integers as numbers. */
  rows(shard: string, sql: string): Record<string, unknown>[] {
    const node = this.participants.find((p) => p.shard === shard);
    if (node === undefined) throw new Error(`no shard ${shard}`);
    const result = node.query(sql, []);
    return result.rows.map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
    );
  }

  /** Kills every node (no shutdown code runs: nothing is left to wait for) and removes the files. */
  dispose(keepFiles: boolean): void {
    this.coordinator.crash(false);
    for (const p of this.participants) p.crash();
    if (!keepFiles) rmSync(this.runDir, { recursive: true, force: true });
  }
}

function defaultRunParent(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // no /dev/shm here: the OS temp dir will do
  }
  return tmpdir();
}
