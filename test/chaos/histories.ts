/**
 * Hand-made histories for the checker tests: a recorder on a counting clock, plus list-append helpers
 * that write transactions the way the harness will (reads null on invoke, filled in on ok).
 */
import { HistoryRecorder, type CompletionType, type Op } from '../../chaos/history.ts';
import type { Element, MicroOp } from '../../chaos/checkers/list-append.ts';

export function recorder(): HistoryRecorder {
  let now = 0;
  return new HistoryRecorder(() => now++);
}

/** The request a client sends for these micro-ops: the same ops with every read's list unknown. */
export function request(ops: readonly MicroOp[]): MicroOp[] {
  return ops.map((op) => (op[0] === 'r' ? (['r', op[1], null] as const) : op));
}

/** A list-append transaction in flight; `end` completes it. */
export interface OpenTxn {
  end(type?: CompletionType): void;
}

export class ListAppendHistory {
  readonly rec = recorder();
  #nextProcess = 0;

  /** Invokes a transaction on a fresh process; the results are recorded only if it ends ok. */
  begin(ops: readonly MicroOp[]): OpenTxn {
    const invoked = this.rec.invoke(this.#nextProcess++, 'txn', request(ops));
    return {
      end: (type: CompletionType = 'ok') => {
        this.rec.complete(
          invoked,
          type,
          type === 'ok' ? ops : invoked.value,
          type === 'ok' ? undefined : 'test',
        );
      },
    };
  }

  /** A transaction invoked and completed before anything else happens. */
  txn(ops: readonly MicroOp[], type: CompletionType = 'ok'): this {
    this.begin(ops).end(type);
    return this;
  }

  get ops(): readonly Op[] {
    return this.rec.ops;
  }
}

export const append = (key: string, element: number): MicroOp => ['append', key, element];
export const read = (key: string, list: readonly Element[]): MicroOp => ['r', key, list];
