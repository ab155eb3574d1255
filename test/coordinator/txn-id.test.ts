/**
 * Transaction ids: one generator's ids are strictly increasing in the order it made them — within a
 * millisecond too, and with a clock that steps back — and keep their shape.
 */
import { describe, expect, it } from 'vitest';
import { TxnIdGenerator, isTxnId } from '../../coordinator/txn-id.ts';

function strictlyIncreasing(ids: readonly string[]): boolean {
  return ids.every((id, i) => i === 0 || (ids[i - 1] as string) < id);
}

describe('TxnIdGenerator', () => {
  it('makes ids that sort in the order they were made within one millisecond', () => {
    const gen = new TxnIdGenerator();
    const ids = Array.from({ length: 1_000 }, () => gen.next(1_700_000_000_000));
    expect(strictlyIncreasing(ids)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every(isTxnId)).toBe(true);
  });

  it('keeps increasing across milliseconds and when the clock steps back', () => {
    const gen = new TxnIdGenerator();
    const clock = [5_000, 5_000, 5_001, 4_000, 4_000, 5_001, 9_999, 10_000, 3];
    expect(strictlyIncreasing(clock.map((ms) => gen.next(ms)))).toBe(true);
  });

  it('moves to the next millisecond when the random part would overflow', () => {
    const gen = new TxnIdGenerator((n) => new Uint8Array(n).fill(0xff));
    const a = gen.next(42);
    const b = gen.next(42);
    expect(a).toBe(`tx_${(42).toString(16).padStart(12, '0')}${'ff'.repeat(10)}`);
    expect(b.slice(3, 15)).toBe((43).toString(16).padStart(12, '0'));
    expect(a < b).toBe(true);
  });

  it('draws fresh randomness in each new millisecond (ids of two generators do not line up)', () => {
    const one = new TxnIdGenerator();
    const two = new TxnIdGenerator();
    expect(one.next(7)).not.toBe(two.next(7));
  });
});
