/**
 * callParticipant / settlesWithin: every call has its own deadline, stops on its signal, and leaves
 * no timer behind once it settled (they run for every message of every transaction, so a leaked
 * timer per call would be a leak per transaction).
 */
import { describe, expect, it } from 'vitest';
import { startTimer, systemClock, type CancelTimer, type Clock } from '../../common/clock.ts';
import { TwopcError } from '../../common/errors.ts';
import { callParticipant, settlesWithin } from '../../coordinator/participant-call.ts';

/** A real-time clock that counts the timers it holds. */
class CountingClock implements Clock {
  live = 0;
  nowMs(): number {
    return Date.now();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
  timer(ms: number, fn: () => void): CancelTimer {
    this.live++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.live--;
      return true;
    };
    const handle = setTimeout(() => {
      if (settle()) fn();
    }, ms);
    return () => {
      if (settle()) clearTimeout(handle);
    };
  }
}

/** A clock without `timer`: startTimer falls back to sleep + AbortController. */
const sleepOnlyClock: Clock = { nowMs: () => Date.now(), sleep: systemClock.sleep };

const never = () => new Promise<never>(() => {});

describe('callParticipant', () => {
  it('answers with the value and leaves no timer behind', async () => {
    const clock = new CountingClock();
    await expect(callParticipant(clock, 'Prepare t1', 60_000, undefined, async () => 'yes')).resolves.toBe(
      'yes',
    );
    expect(clock.live).toBe(0);
  });

  it('turns a rejection into a TwopcError and leaves no timer behind', async () => {
    const clock = new CountingClock();
    const err = await callParticipant(clock, 'Prepare t1', 60_000, undefined, () =>
      Promise.reject(new Error('boom')),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TwopcError);
    expect((err as TwopcError).message).toContain('Prepare t1: boom');
    expect(clock.live).toBe(0);
  });

  it('fails with DEADLINE_EXCEEDED when the participant never answers', async () => {
    for (const clock of [new CountingClock(), sleepOnlyClock, systemClock]) {
      const started = Date.now();
      const err = await callParticipant(clock, 'Commit t2', 30, undefined, never).catch((e: unknown) => e);
      expect((err as TwopcError).code).toBe('DEADLINE_EXCEEDED');
      expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    }
  });

  it('stops at once when its signal aborts, with the reason, and leaves no timer behind', async () => {
    const clock = new CountingClock();
    const stop = new AbortController();
    const call = callParticipant(clock, 'Prepare t3', 60_000, stop.signal, never);
    stop.abort(new TwopcError('ABORTED', 'txn t3 aborted'));
    const err = await call.catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('ABORTED');
    expect(clock.live).toBe(0);
  });
});

describe('settlesWithin', () => {
  it('is true when the promise settles in time (either way) and cancels its timer', async () => {
    const clock = new CountingClock();
    expect(await settlesWithin(clock, Promise.resolve(1), 60_000)).toBe(true);
    expect(await settlesWithin(clock, Promise.reject(new Error('x')), 60_000)).toBe(true);
    expect(clock.live).toBe(0);
  });

  it('is false after `ms`, and false at once when the signal aborts', async () => {
    const clock = new CountingClock();
    expect(await settlesWithin(clock, never(), 20)).toBe(false);
    const stop = new AbortController();
    const waiting = settlesWithin(clock, never(), 60_000, stop.signal);
    stop.abort();
    expect(await waiting).toBe(false);
    expect(clock.live).toBe(0);
  });
});

describe('startTimer', () => {
  it('fires once, and not at all when cancelled first, with or without clock.timer', async () => {
    for (const clock of [systemClock, sleepOnlyClock]) {
      let fired = 0;
      startTimer(clock, 5, () => fired++);
      const cancel = startTimer(clock, 5, () => fired++);
      cancel();
      cancel();
      await new Promise((r) => setTimeout(r, 30));
      expect(fired).toBe(1);
    }
  });
});
