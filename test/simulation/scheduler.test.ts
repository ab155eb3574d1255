/**
 * The scheduler and the node clocks: events run in (virtual time, scheduling order), cancelled and
 * crashed incarnations' events never run, promise chains settle before virtual time moves, sleeps
 * honour their AbortSignal, and a crashed incarnation's sleeps never settle.
 */
import { describe, expect, it } from 'vitest';
import { Incarnation } from '../../chaos/simulation/incarnation.ts';
import { NodeClock } from '../../chaos/simulation/node-clock.ts';
import { SIM_EPOCH_MS, Scheduler, SimulationBudgetError } from '../../chaos/simulation/scheduler.ts';

describe('Scheduler', () => {
  it('runs events by virtual time, ties in scheduling order, skipping cancelled ones', async () => {
    const s = new Scheduler(1_000);
    const ran: string[] = [];
    s.after(300, undefined, () => ran.push('c'));
    s.after(100, undefined, () => ran.push('a'));
    s.after(100, undefined, () => ran.push('b'));
    const cancelled = s.after(200, undefined, () => ran.push('cancelled'));
    s.cancel(cancelled);
    await s.run(() => false, 1_000);
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(s.elapsedUs).toBe(1_000);
    expect(s.nowMs()).toBe(SIM_EPOCH_MS + 1);
  });

  it('drops the events of a crashed incarnation', async () => {
    const s = new Scheduler(1_000);
    const node = new Incarnation('n', 1);
    const ran: string[] = [];
    s.after(10, node, () => ran.push('before'));
    s.after(20, undefined, () => (node.alive = false));
    s.after(30, node, () => ran.push('after'));
    await s.run(() => false, 100);
    expect(ran).toEqual(['before']);
  });

  it('lets promise chains started by one event finish before the next event runs', async () => {
    const s = new Scheduler(1_000);
    const seen: string[] = [];
    s.after(10, undefined, () => {
      void (async () => {
        for (let i = 0; i < 50; i++) await Promise.resolve();
        seen.push('chain done');
        s.after(0, undefined, () => seen.push('scheduled by the chain'));
      })();
    });
    s.after(10, undefined, () => seen.push('second event'));
    await s.run(() => false, 100);
    expect(seen).toEqual(['chain done', 'second event', 'scheduled by the chain']);
  });

  it('stops when done() holds, and refuses to run past its event budget', async () => {
    const s = new Scheduler(5);
    let n = 0;
    const tick = () => (n++, s.after(1, undefined, tick));
    s.after(1, undefined, tick);
    expect(await s.run(() => n === 3, 1_000)).toBe(true);
    await expect(s.run(() => false, 1_000)).rejects.toBeInstanceOf(SimulationBudgetError);
  });
});

describe('NodeClock', () => {
  it('sleeps in virtual time and rejects with the signal reason when aborted', async () => {
    const s = new Scheduler(1_000);
    const clock = new NodeClock(s, new Incarnation('n', 1));
    let wokeAtMs = 0;
    void clock.sleep(5).then(() => (wokeAtMs = clock.nowMs() - SIM_EPOCH_MS));
    const controller = new AbortController();
    const aborted = clock.sleep(50, controller.signal).catch((err: unknown) => err);
    s.after(1_000, undefined, () => controller.abort(new Error('stop')));
    await s.run(() => false, 100_000);
    expect(wokeAtMs).toBe(5);
    expect(await aborted).toEqual(new Error('stop'));
  });

  it('never settles the sleeps of a crashed incarnation', async () => {
    const s = new Scheduler(1_000);
    const node = new Incarnation('n', 1);
    const clock = new NodeClock(s, node);
    let settled = false;
    clock.sleep(5).then(
      () => (settled = true),
      () => (settled = true),
    );
    node.alive = false;
    await s.run(() => false, 100_000);
    expect(settled).toBe(false);
  });
});
