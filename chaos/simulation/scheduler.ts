/**
 * Virtual time and the loop that advances it.
 *
 * The protocol code is real, asynchronous TypeScript: a step (a message delivered, a timer firing)
 * starts promise chains that run as microtasks. The scheduler therefore alternates two things:
 *
 *   1. drain the real event loop: yield to it (setImmediate turns) until the step's microtasks and
 *      anything they started have run and scheduled their own next events;
 *   2. take the next event in (virtual time, scheduling order), move the clock to it, run it.
 *
 * Virtual time only moves in step 2, when the real event loop has nothing left to do for the
 * simulation, so how long anything takes in real time never changes what happens. That holds as long
 * as the code under simulation never waits on real timers or real I/O: every timer goes through a
 * NodeClock, every message through the SimNetwork, SQLite is synchronous, and the decision log's group
 * commit is driven by the scheduler (log-flush.ts). A seed therefore replays the same run.
 */
import { EventQueue, type SimEvent } from './event-queue.ts';
import type { Incarnation } from './incarnation.ts';

/** Wall-clock ms at virtual time zero: realistic epoch ms, so ids and stored times look normal. */
export const SIM_EPOCH_MS = 1_700_000_000_000;
/**
 * setImmediate turns per drain. One turn runs every microtask a step queued (Node drains the
 * microtask queue before the check phase); the second catches work that a setImmediate of the code
 * under test deferred by one turn, should any appear.
 */
export const drainTurns = 2;

/** Thrown when a run exceeds its event budget: a livelock, or a budget set too low. */
export class SimulationBudgetError extends Error {
  override name = 'SimulationBudgetError';
}

export class Scheduler {
  private nowUs = 0;
  private seq = 0;
  private readonly queue = new EventQueue();
  /** Events run so far. */
  eventsRun = 0;

  constructor(
    /** Events one run may execute before it is declared a livelock. */
    private readonly eventsMax: number,
  ) {}

  /** Virtual microseconds since the start of the run. */
  get elapsedUs(): number {
    return this.nowUs;
  }

  /** Virtual wall-clock ms (integer, as stored times must be). */
  nowMs(): number {
    return SIM_EPOCH_MS + Math.floor(this.nowUs / 1000);
  }

  /** Runs `run` after `delayUs` of virtual time, unless `owner` has crashed by then. */
  after(delayUs: number, owner: Incarnation | undefined, run: () => void): SimEvent {
    const event: SimEvent = {
      atUs: this.nowUs + Math.max(0, Math.round(delayUs)),
      seq: this.seq++,
      owner,
      run,
      cancelled: false,
    };
    this.queue.push(event);
    return event;
  }

  cancel(event: SimEvent | undefined): void {
    if (event !== undefined) event.cancelled = true;
  }

  /**
   * Runs events until `done()` holds (checked whenever the real event loop is idle) or the next event
   * lies beyond `untilUs` (virtual time then moves to `untilUs`). Resolves whether `done()` held.
   */
  async run(done: () => boolean, untilUs: number): Promise<boolean> {
    for (;;) {
      await drainRealLoop();
      if (done()) return true;
      const next = this.queue.peek();
      if (next === undefined || next.atUs > untilUs) {
        this.nowUs = Math.max(this.nowUs, untilUs);
        return false;
      }
      this.queue.pop();
      this.nowUs = next.atUs;
      if (++this.eventsRun > this.eventsMax)
        throw new SimulationBudgetError(`more than ${this.eventsMax} events: livelock?`);
      next.run();
    }
  }

  /** Lets `ms` of virtual time pass, running whatever falls due. */
  async advance(ms: number): Promise<void> {
    await this.run(() => false, this.nowUs + ms * 1000);
  }
}

function drainRealLoop(): Promise<void> {
  return new Promise<void>((resolve) => {
    let turns = 0;
    const turn = () => (++turns >= drainTurns ? resolve() : setImmediate(turn));
    setImmediate(turn);
  });
}
