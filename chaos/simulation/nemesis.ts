/**
 * The simulator's nemesis: a seeded schedule of faults during the workload, then the heal. Faults:
 *
 * - crash-coordinator / crash-participant: SIGKILL, restart after 0..downMsMax (a coordinator crash
 *   loses its unflushed log batch half the time: the kill came before or after the fsync);
 * - partition: one link blackholed, one way or both; isolate: a node cut off from every other;
 * - lossy: a node's links drop, duplicate and delay messages heavily (reordering them);
 * - slow-disk: a participant's fsyncs take tens of ms.
 *
 * Which kinds a run uses, and how often they come, is itself drawn from the seed (a FaultProfile),
 * so a batch of seeds covers calm runs, rare faults and fault storms.
 */
import type { Random } from '../../common/random.ts';
import type { CoordinatorNode } from './coordinator-node.ts';
import type { SimEvent } from './event-queue.ts';
import type { LinkCondition, SimNetwork } from './network.ts';
import type { ParticipantNode } from './participant-node.ts';
import type { Scheduler } from './scheduler.ts';
import { COORDINATOR_NODE } from './incarnation.ts';

export const FAULT_KINDS = [
  'crash-coordinator',
  'crash-participant',
  'partition',
  'isolate',
  'lossy',
  'slow-disk',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultProfile {
  readonly kinds: readonly FaultKind[];
  /** Mean virtual time between the starts of two faults. */
  readonly meanGapMs: number;
}

/** How long a node stays down, and how long a link fault lasts, at most (virtual ms). */
const downMsMax = 2_000;
const linkFaultMs = { min: 20, max: 1_500 } as const;
const meanGapsMs = [30, 100, 300] as const;
/** Share of seeds that run without any fault: the baseline every fault is compared against. */
const calmShare = 0.1;

/** Draws a profile from the seed's profile stream; `kinds` limits what may be drawn. */
export function drawProfile(random: Random, kinds: readonly FaultKind[] = FAULT_KINDS): FaultProfile {
  if (kinds.length === 0 || random.next() < calmShare) return { kinds: [], meanGapMs: meanGapsMs[0] };
  const drawn = kinds.filter(() => random.next() < 0.7);
  return { kinds: drawn.length > 0 ? drawn : [random.pick(kinds)], meanGapMs: random.pick(meanGapsMs) };
}

export interface FaultRecord {
  /** Virtual ms since the start of the run. */
  readonly atMs: number;
  readonly what: string;
}

export interface NemesisOptions {
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly random: Random;
  readonly coordinator: CoordinatorNode;
  readonly participants: readonly ParticipantNode[];
  readonly clients: readonly string[];
  readonly profile: FaultProfile;
}

export class Nemesis {
  /** Every fault started and healed, in order. */
  readonly record: FaultRecord[] = [];
  readonly counts: Partial<Record<FaultKind, number>> = {};
  private readonly pending = new Set<SimEvent>();
  private healed = false;

  constructor(private readonly o: NemesisOptions) {}

  start(): void {
    if (this.o.profile.kinds.length > 0) this.scheduleNext();
  }

  /** No more faults: every link healthy, every node up, every disk fast. */
  heal(): void {
    this.healed = true;
    for (const event of this.pending) this.o.scheduler.cancel(event);
    this.pending.clear();
    this.o.network.healAll();
    for (const p of this.o.participants) {
      p.slowDisk = false;
      if (!p.up) p.start();
    }
    if (!this.o.coordinator.up) this.o.coordinator.start();
    this.note('heal: every link healthy, every node up');
  }

  private scheduleNext(): void {
    const gapMs = this.o.random.next() * 2 * this.o.profile.meanGapMs;
    this.later(gapMs, () => {
      this.inject(this.o.random.pick(this.o.profile.kinds));
      this.scheduleNext();
    });
  }

  private inject(kind: FaultKind): void {
    const r = this.o.random;
    const durationMs = r.int(linkFaultMs.min, linkFaultMs.max);
    switch (kind) {
      case 'crash-coordinator': {
        const node = this.o.coordinator;
        if (!node.up) return;
        this.count(kind);
        const loseQueued = r.next() < 0.5;
        node.crash(loseQueued);
        this.note(`crash coordinator${loseQueued ? ' (unflushed log batch lost)' : ''}`);
        this.later(r.int(0, downMsMax), () => {
          node.start();
          this.note('restart coordinator');
        });
        return;
      }
      case 'crash-participant': {
        const node = r.pick(this.o.participants);
        if (!node.up) return;
        this.count(kind);
        node.crash();
        this.note(`crash ${node.shard}`);
        this.later(r.int(0, downMsMax), () => {
          node.start();
          this.note(`restart ${node.shard}`);
        });
        return;
      }
      case 'partition': {
        this.count(kind);
        const [a, b] = this.pair();
        const oneWay = r.next() < 0.3;
        this.o.network.block(a, b);
        if (!oneWay) this.o.network.block(b, a);
        this.note(`partition ${a} ${oneWay ? '->' : '<->'} ${b} for ${durationMs} ms`);
        this.later(durationMs, () => {
          this.o.network.unblock(a, b);
          this.o.network.unblock(b, a);
        });
        return;
      }
      case 'isolate': {
        this.count(kind);
        const node = r.pick(this.nodes());
        const others = this.nodes().filter((n) => n !== node);
        for (const o of others) {
          this.o.network.block(node, o);
          this.o.network.block(o, node);
        }
        this.note(`isolate ${node} for ${durationMs} ms`);
        this.later(durationMs, () => {
          for (const o of others) {
            this.o.network.unblock(node, o);
            this.o.network.unblock(o, node);
          }
        });
        return;
      }
      case 'lossy': {
        this.count(kind);
        const node = r.pick(this.nodes());
        const condition = this.lossyLink();
        const others = this.nodes().filter((n) => n !== node);
        for (const o of others) {
          this.o.network.degrade(node, o, condition);
          this.o.network.degrade(o, node, condition);
        }
        this.note(
          `lossy links at ${node} for ${durationMs} ms (drop ${condition.dropRate.toFixed(2)}, dup ${condition.duplicateRate.toFixed(2)})`,
        );
        this.later(durationMs, () => {
          for (const o of others) {
            this.o.network.restore(node, o);
            this.o.network.restore(o, node);
          }
        });
        return;
      }
      case 'slow-disk': {
        this.count(kind);
        const node = r.pick(this.o.participants);
        node.slowDisk = true;
        this.note(`slow disk at ${node.shard} for ${durationMs} ms`);
        this.later(durationMs, () => (node.slowDisk = false));
        return;
      }
    }
  }

  private lossyLink(): LinkCondition {
    const r = this.o.random;
    return {
      dropRate: 0.05 + r.next() * 0.35,
      duplicateRate: 0.05 + r.next() * 0.25,
      delayUsMin: 100,
      delayUsMax: 20_000,
      slowRate: 0.1,
      slowUsMax: 1_500_000,
    };
  }

  /** Nodes that links connect: the coordinator, the shards, the clients. */
  private nodes(): string[] {
    return [COORDINATOR_NODE, ...this.o.participants.map((p) => p.shard), ...this.o.clients];
  }

  private pair(): [string, string] {
    const nodes = this.nodes();
    const a = this.o.random.pick(nodes);
    const b = this.o.random.pick(nodes.filter((n) => n !== a));
    return [a, b];
  }

  private later(ms: number, run: () => void): void {
    const event = this.o.scheduler.after(ms * 1000, undefined, () => {
      this.pending.delete(event);
      if (!this.healed) run();
    });
    this.pending.add(event);
  }

  private count(kind: FaultKind): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  private note(what: string): void {
    this.record.push({ atMs: this.o.scheduler.elapsedUs / 1000, what });
  }
}
