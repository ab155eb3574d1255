/**
 * What every process the nemesis drives has in common — a cluster process (cluster-process.ts) and a
 * service under the cluster (service-process.ts): its state, one queue in which every lifecycle step
 * runs (so an automatic restart and a nemesis action never race), and pauses that come with a
 * detached SIGCONT watchdog (pause.ts). The owner keeps how it starts and stops its process.
 */
import { PauseWatchdog } from './pause.ts';

export type ProcessState = 'running' | 'paused' | 'down';

export class ProcessLifecycle {
  state: ProcessState = 'down';
  /** The SIGCONT watchdog of the current pause. */
  readonly watchdog = new PauseWatchdog();
  #queue: Promise<unknown> = Promise.resolve();

  /** `pid` is the running incarnation's, if any. */
  constructor(private readonly pid: () => number | undefined) {}

  /** Runs `fn` after every earlier step; a step that fails does not stop the ones after it. */
  serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Resolves once every step queued so far has run. */
  drained(): Promise<unknown> {
    return this.#queue;
  }

  /** SIGSTOP for at most `boundMs` (queued): the watchdog sends SIGCONT then, whatever happens to us. */
  pause(boundMs: number): Promise<void> {
    return this.serial(async () => {
      const pid = this.pid();
      if (this.state !== 'running' || pid === undefined) return;
      this.watchdog.stop(pid, boundMs);
      this.state = 'paused';
    });
  }

  /** SIGCONT, now, if paused. */
  continue(): void {
    const pid = this.pid();
    if (this.state !== 'paused' || pid === undefined) return;
    this.watchdog.resume(pid);
    this.state = 'running';
  }
}
