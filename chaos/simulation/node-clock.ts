/**
 * The Clock (common/clock.ts) one node incarnation sees: virtual time, and sleeps that are events
 * in the scheduler. When the incarnation crashes its pending sleeps never settle, so whatever was
 * waiting on them stops for good, as a killed process's code does.
 */
import type { CancelTimer, Clock } from '../../common/clock.ts';
import type { Incarnation } from './incarnation.ts';
import type { Scheduler } from './scheduler.ts';

export class NodeClock implements Clock {
  constructor(
    private readonly scheduler: Scheduler,
    readonly incarnation: Incarnation,
  ) {}

  nowMs(): number {
    return this.scheduler.nowMs();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        this.scheduler.cancel(event);
        reject(signal?.reason);
      };
      const event = this.scheduler.after(Math.max(0, ms) * 1000, this.incarnation, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  timer(ms: number, fn: () => void): CancelTimer {
    const event = this.scheduler.after(Math.max(0, ms) * 1000, this.incarnation, fn);
    return () => this.scheduler.cancel(event);
  }
}
