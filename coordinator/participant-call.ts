/**
 * Every call to a participant goes through `callParticipant`: it has a deadline of its own (even if
 * the ParticipantClient forgets to honor its timeout), stops early when `signal` aborts, and turns
 * anything thrown into a TwopcError. `settle` makes the expected failures values, so the protocol
 * code branches on them instead of catching, and no rejection is ever left unhandled.
 */
import { startTimer, type CancelTimer, type Clock } from '../common/clock.ts';
import { TwopcError, describeError } from '../common/errors.ts';

export type Settled<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TwopcError };

export function toTwopcError(err: unknown, what: string): TwopcError {
  if (err instanceof TwopcError) return err;
  return new TwopcError('INTERNAL', `${what}: ${describeError(err)}`, { cause: err });
}

export function callParticipant<T>(
  clock: Clock,
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  call: (timeoutMs: number) => Promise<T>,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(cancelled(what, signal));
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      cancelTimer();
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => finish(() => reject(cancelled(what, signal)));
    signal?.addEventListener('abort', onAbort, { once: true });
    // A plain timer, not sleep + AbortController: this runs for every message of every transaction.
    // (Declared after `finish`, which uses it: both only ever fire later, from the event loop.)
    const cancelTimer = startTimer(clock, timeoutMs, () =>
      finish(() => reject(new TwopcError('DEADLINE_EXCEEDED', `${what}: no answer within ${timeoutMs} ms`))),
    );
    let pending: Promise<T>;
    try {
      pending = call(timeoutMs);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (value) => finish(() => resolve(value)),
      (err: unknown) => finish(() => reject(toTwopcError(err, what))),
    );
  });
}

function cancelled(what: string, signal: AbortSignal | undefined): TwopcError {
  const reason: unknown = signal?.reason;
  return reason instanceof TwopcError ? reason : new TwopcError('UNAVAILABLE', `${what}: cancelled`);
}

export async function settle<T>(promise: Promise<T>, what: string): Promise<Settled<T>> {
  try {
    return { ok: true, value: await promise };
  } catch (err) {
    return { ok: false, error: toTwopcError(err, what) };
  }
}

/** Sleeps, but resolves `false` instead of rejecting when `signal` aborts first. */
export async function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits for `promise` at most `ms`; true if it settled in time (its rejection is then the caller's). */
export async function settlesWithin(
  clock: Clock,
  promise: Promise<unknown>,
  ms: number,
  signal?: AbortSignal,
): Promise<boolean> {
  let cancelTimer: CancelTimer | undefined;
  let onStop: (() => void) | undefined;
  try {
    return await new Promise<boolean>((resolve) => {
      cancelTimer = startTimer(clock, ms, () => resolve(false));
      if (signal !== undefined) {
        onStop = () => resolve(false);
        signal.addEventListener('abort', onStop, { once: true });
      }
      promise.then(
        () => resolve(true),
        () => resolve(true),
      );
    });
  } finally {
    cancelTimer?.();
    if (onStop !== undefined) signal?.removeEventListener('abort', onStop);
  }
}
