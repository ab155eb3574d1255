/**
 * Time behind an interface, so the protocol logic runs on the real clock in production and on a
 * simulated, seeded clock in the chaos simulator.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (deadlines that cross processes use this). */
  nowMs(): number;
  /** Resolves after `ms`; rejects with the signal's reason if aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Runs `fn` after `ms` unless the returned cancel function runs first. Optional: the hot path uses
   * it (through `startTimer`) to avoid an AbortController, a promise and a DOMException per call.
   */
  timer?(ms: number, fn: () => void): CancelTimer;
}

/** Cancels a timer; calling it after the timer fired, or twice, does nothing. */
export type CancelTimer = () => void;

/** `clock.timer` when the clock has one, else the same through `clock.sleep` and an AbortController. */
export function startTimer(clock: Clock, ms: number, fn: () => void): CancelTimer {
  if (clock.timer !== undefined) return clock.timer(ms, fn);
  const stop = new AbortController();
  clock.sleep(ms, stop.signal).then(fn, () => {});
  return () => stop.abort();
}

export const systemClock: Clock = Object.freeze({
  nowMs: () => Date.now(),
  sleep: (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
  timer: (ms: number, fn: () => void): CancelTimer => {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
});
