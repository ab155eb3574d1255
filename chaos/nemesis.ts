/**
 * The nemesis: runs a schedule (schedule.ts) against the cluster and its network, one lane of faults
 * at a time per lane, and records every fault twice — as `nemesis` entries in the history (Jepsen's
 * convention: the checkers ignore them, a reader of the history sees them in place) and as a
 * FaultRecord with the times it was really applied and healed (a restart takes a while, so a window
 * can end later than planned).
 *
 * What each fault does:
 * - kill: SIGKILL the process; at the window's end start it again on the same port.
 * - pause: SIGSTOP; SIGCONT at the end.
 * - failpoints: restart the process with TWOPC_FAILPOINTS=NAME=N*crash; it crashes itself at that step
 *   (the runner restarts it clean). If it has not fired by the window's end, it is restarted clean.
 * - partition: the target's links blackholed (or dropped: connections reset and refused), both ways
 *   or one way.
 * - delay: latency added per chunk on the target's links, both ways or one way.
 * - replica-outage, redis-outage: the S3-compatible store or the Redis decision log SIGKILLed (started
 *   again on its port and directory at the end) or SIGSTOPped (SIGCONT at the end).
 *
 * stop() ends the lanes and heals everything: every proxy back to pass, paused processes continued,
 * dead ones started, armed ones restarted clean.
 */
import type { HistoryRecorder } from './history.ts';
import type { ClusterRunner } from './cluster-runner.ts';
import type { Network } from './network.ts';
import { describeWindow, laneOf, type FaultWindow } from './schedule.ts';

export const NEMESIS_F = 'nemesis';
/** History process ids of the nemesis lanes (far above any client's). */
export const NEMESIS_PROCESS_BASE = 1_000_000;

export interface FaultRecord {
  readonly window: FaultWindow;
  readonly summary: string;
  /** When applying began (a restart for failpoints takes a while: they may fire before it ends). */
  requestedAtMs?: number;
  appliedAtMs?: number;
  /** When healing began (a restart takes a while: the fault lasts at least until here). */
  healRequestedAtMs?: number;
  healedAtMs?: number;
  /** What happened beyond the plan: links touched, a failpoint that fired, an error applying it. */
  readonly notes: string[];
}

export interface NemesisDeps {
  readonly cluster: ClusterRunner;
  readonly network: Network;
  readonly history: HistoryRecorder;
  readonly clockMs: () => number;
  readonly log: (line: string) => void;
}

export class Nemesis {
  readonly records: FaultRecord[];
  readonly #deps: NemesisDeps;
  readonly #stop = new AbortController();
  #lanes: Promise<void>[] = [];

  constructor(schedule: readonly FaultWindow[], deps: NemesisDeps) {
    this.#deps = deps;
    this.records = schedule.map((window) => ({ window, summary: describeWindow(window), notes: [] }));
  }

  /** Starts every lane; resolves at once. */
  start(): void {
    const lanes = new Map<string, FaultRecord[]>();
    for (const r of this.records) {
      const lane = laneOf(r.window.kind);
      lanes.set(lane, [...(lanes.get(lane) ?? []), r]);
    }
    this.#lanes = [...lanes.values()].map((records, i) => this.#runLane(records, NEMESIS_PROCESS_BASE + i));
  }

  /** Ends the lanes without healing anything (the cluster is being killed). */
  halt(): void {
    this.#stop.abort();
  }

  /** Ends the lanes (a window in progress is healed), then heals everything; resolves when done. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#lanes);
    const { cluster, network, history, clockMs } = this.#deps;
    const process = NEMESIS_PROCESS_BASE + this.#lanes.length;
    const op = history.invoke(process, NEMESIS_F, { action: 'heal-all' });
    network.healAll();
    await cluster.healAll();
    history.complete(op, 'info', { action: 'heal-all', atMs: clockMs() });
  }

  async #runLane(records: readonly FaultRecord[], process: number): Promise<void> {
    const signal = this.#stop.signal;
    for (const record of records) {
      const w = record.window;
      if (!(await this.#sleepUntil(w.startMs, signal))) return;
      await this.#step(record, process, 'start', () => this.#apply(record));
      await this.#sleepUntil(w.startMs + w.durationMs, signal);
      await this.#step(record, process, 'heal', () => this.#heal(record));
      if (signal.aborted) return;
    }
  }

  async #step(
    record: FaultRecord,
    process: number,
    action: 'start' | 'heal',
    fn: () => Promise<void>,
  ): Promise<void> {
    const { history, clockMs, log } = this.#deps;
    const w = record.window;
    const value = { action, fault: w.id, kind: w.kind, target: w.target, detail: w.detail };
    const op = history.invoke(process, NEMESIS_F, value);
    if (action === 'start') record.requestedAtMs = clockMs();
    else record.healRequestedAtMs = clockMs();
    try {
      await fn();
    } catch (err) {
      record.notes.push(`${action} failed: ${String(err)}`);
    }
    const atMs = clockMs();
    if (action === 'start') record.appliedAtMs = atMs;
    else record.healedAtMs = atMs;
    history.complete(op, 'info', { ...value, atMs });
    log(`nemesis: ${action} ${record.summary}${record.notes.length ? ` (${record.notes.join('; ')})` : ''}`);
  }

  async #apply(record: FaultRecord): Promise<void> {
    const { cluster, network } = this.#deps;
    const w = record.window;
    const d = w.detail;
    switch (d.kind) {
      case 'kill':
        return cluster.kill(w.target);
      case 'pause':
        return cluster.pause(w.target, w.durationMs);
      case 'failpoints':
        return cluster.armFailpoints(w.target, `${d.failpoint}=${d.onHit}*crash`);
      case 'partition': {
        const links = network.apply(w.target, d.flow, { kind: d.mode });
        record.notes.push(`links ${links.join(', ')}`);
        return;
      }
      case 'delay': {
        const links = network.apply(w.target, d.flow, { kind: 'latency', ms: d.latencyMs });
        record.notes.push(`links ${links.join(', ')}`);
        return;
      }
      case 'replica-outage':
      case 'redis-outage':
        return cluster.spec.services.outage(w.target, d.mode, w.durationMs);
    }
  }

  async #heal(record: FaultRecord): Promise<void> {
    const { cluster, network } = this.#deps;
    const w = record.window;
    switch (w.kind) {
      case 'kill':
      case 'pause':
        return cluster.heal(w.target);
      case 'failpoints': {
        const fired = cluster.exits.find(
          (e) => e.name === w.target && e.failpoint !== undefined && e.atMs >= (record.requestedAtMs ?? 0),
        );
        record.notes.push(fired ? `fired at ${fired.atMs} ms` : 'did not fire');
        return cluster.heal(w.target);
      }
      case 'partition':
      case 'delay':
        return network.heal(w.target);
      case 'replica-outage':
      case 'redis-outage':
        return cluster.spec.services.heal(w.target);
    }
  }

  /** False if stopped first. */
  async #sleepUntil(atMs: number, signal: AbortSignal): Promise<boolean> {
    const waitMs = atMs - this.#deps.clockMs();
    if (signal.aborted) return false;
    if (waitMs <= 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, waitMs);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
