/**
 * The simulator's pending events: a binary min-heap ordered by virtual time, then by the order they
 * were scheduled, so events due at the same microsecond run first-scheduled-first. That order is the
 * only tie-break: nothing here looks at real time or object identity, which keeps a seed's run
 * reproducible.
 */
import type { Incarnation } from './incarnation.ts';

export interface SimEvent {
  /** Virtual time it is due, in microseconds since the start of the run. */
  readonly atUs: number;
  /** Scheduling order: the tie-break between events due at the same time. */
  readonly seq: number;
  /** The node incarnation it belongs to; it is dropped, not run, if that incarnation has crashed. */
  readonly owner: Incarnation | undefined;
  readonly run: () => void;
  cancelled: boolean;
}

export class EventQueue {
  private readonly heap: SimEvent[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent] as SimEvent)) break;
      heap[i] = heap[parent] as SimEvent;
      i = parent;
    }
    heap[i] = event;
  }

  /** The next event that will run (cancelled and orphaned ones are discarded on the way). */
  peek(): SimEvent | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      if (!top.cancelled && (top.owner === undefined || top.owner.alive)) return top;
      this.removeTop();
    }
  }

  pop(): SimEvent | undefined {
    const top = this.peek();
    if (top !== undefined) this.removeTop();
    return top;
  }

  private removeTop(): void {
    const heap = this.heap;
    const last = heap.pop() as SimEvent;
    if (heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(heap[right] as SimEvent, heap[left] as SimEvent) ? right : left;
      if (!before(heap[child] as SimEvent, last)) break;
      heap[i] = heap[child] as SimEvent;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atUs < b.atUs || (a.atUs === b.atUs && a.seq < b.seq);
}
