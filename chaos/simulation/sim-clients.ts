/**
 * What the simulated workloads' clients share (bank-clients.ts, list-append-clients.ts): each client
 * is a node of its own on the simulated network with its own clock, records into one Jepsen-style
 * history, runs one op at a time until `opsMax` ops were invoked in all, thinks a little after an op
 * that succeeded and pauses longer after one that did not, and continues as a new process after an op
 * whose outcome is unknown (it may still be in flight). The workload supplies the op (`step`) and how
 * it settles unknown outcomes after the heal.
 */
import type { Random } from '../../common/random.ts';
import type { Coordinator } from '../../coordinator/coordinator.ts';
import { HistoryRecorder, type CompletionType, type Op } from '../history.ts';
import type { CoordinatorNode } from './coordinator-node.ts';
import { COORDINATOR_NODE, Incarnation } from './incarnation.ts';
import type { SimNetwork } from './network.ts';
import { NodeClock } from './node-clock.ts';
import type { Scheduler } from './scheduler.ts';

/** A client's deadline beyond the transaction's timeout, as the SDK gives the coordinator to answer. */
export const clientSlackMs = 2_000;
/** Think time between ops, and the pause after one that did not succeed (virtual ms). */
export const thinkMsMax = 10;
export const failurePauseMs = { min: 20, max: 200 } as const;

export interface SimClientsOptions {
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly coordinator: CoordinatorNode;
  readonly random: Random;
  readonly clients: number;
  readonly opsMax: number;
  readonly txnTimeoutMs: number;
  readonly seed: number;
}

export abstract class SimClients<O extends SimClientsOptions = SimClientsOptions> {
  readonly history: HistoryRecorder;
  /** One clock per client, then `extraClocks` more for the settle phase. */
  protected readonly clocks: NodeClock[];
  private invoked = 0;

  constructor(
    protected readonly o: O,
    extraClocks: number,
  ) {
    this.history = new HistoryRecorder(() => o.scheduler.elapsedUs / 1000);
    this.clocks = Array.from(
      { length: o.clients + extraClocks },
      (_, i) => new NodeClock(o.scheduler, new Incarnation(`client-${i}`, 1)),
    );
  }

  get ops(): readonly Op[] {
    return this.history.ops;
  }

  /** Runs every client until `opsMax` ops were invoked in all; resolves when the last one completed. */
  async run(): Promise<void> {
    await Promise.all(this.clocks.slice(0, this.o.clients).map((clock, i) => this.client(clock, i)));
  }

  /** One op of one client, recorded in the history; its completion type. */
  protected abstract step(clock: NodeClock, process: number): Promise<CompletionType>;

  /** A call to the coordinator's API over the simulated network, with the client's deadline. */
  protected call<T>(clock: NodeClock, what: string, fn: (c: Coordinator) => T | Promise<T>): Promise<T> {
    const deadlineMs = this.o.txnTimeoutMs + clientSlackMs;
    return this.o.network.call(clock, COORDINATOR_NODE, what, deadlineMs, () => fn(this.o.coordinator.api()));
  }

  /** The highest process number in the history so far. */
  protected maxProcess(): number {
    return this.history.ops.reduce((m, op) => Math.max(m, op.process), 0);
  }

  private async client(clock: NodeClock, index: number): Promise<void> {
    const r: Random = this.o.random;
    let process = index;
    while (this.invoked < this.o.opsMax) {
      this.invoked++;
      const type = await this.step(clock, process);
      if (type === 'info') process += this.o.clients;
      await clock.sleep(type === 'ok' ? r.int(0, thinkMsMax) : r.int(failurePauseMs.min, failurePauseMs.max));
    }
  }
}
