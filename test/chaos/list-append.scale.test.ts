/**
 * The list-append checker at the size of a long chaos run: tens of thousands of transactions. Keys
 * rotate (as the workload's should) so lists stay short; the time limits are loose bounds for a shared
 * two-core machine, there to catch quadratic behaviour, not to benchmark.
 */
import { describe, expect, it } from 'vitest';
import { checkListAppend, type Element, type MicroOp } from '../../chaos/checkers/list-append.ts';
import { append, ListAppendHistory, read, type OpenTxn } from './histories.ts';

/** A small seeded generator (mulberry32), so the big histories are the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `txnCount` serial transactions over a window of 8 live keys, rendered with 10 in flight at once. */
function bigHistory(txnCount: number): ListAppendHistory {
  const rand = random(42);
  const lists = new Map<string, Element[]>();
  const h = new ListAppendHistory();
  const open: OpenTxn[] = [];
  let next = 1;
  for (let i = 0; i < txnCount; i++) {
    const ops: MicroOp[] = [];
    for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) {
      const key = `k${Math.floor(i / 200) + Math.floor(rand() * 8)}`;
      const list = lists.get(key) ?? [];
      lists.set(key, list);
      if (rand() < 0.5) {
        list.push(next);
        ops.push(append(key, next++));
      } else {
        ops.push(read(key, [...list]));
      }
    }
    open.push(h.begin(ops));
    if (open.length > 10) open.shift()!.end();
  }
  for (const t of open) t.end();
  return h;
}

describe('list-append checker at scale', () => {
  it('checks 30,000 transactions (60,000 ops) quickly, with real-time edges', () => {
    const h = bigHistory(30_000);
    const started = performance.now();
    const v = checkListAppend(h.ops, { realtime: true });
    const elapsedMs = performance.now() - started;
    expect(v.valid, JSON.stringify(v.anomalies.slice(0, 3))).toBe(true);
    expect(v.stats.txns).toBe(30_000);
    expect(elapsedMs).toBeLessThan(15_000);
  });

  it('classifies a 20,000-transaction G0 ring within its search budget', () => {
    const n = 20_000;
    const h = new ListAppendHistory();
    const open = Array.from({ length: n }, (_, i) =>
      h.begin([append(`k${i}`, 1), append(`k${(i + 1) % n}`, 2)]),
    );
    for (const t of open) t.end();
    h.txn(Array.from({ length: n }, (_, i) => read(`k${i}`, [2, 1])));
    const started = performance.now();
    const v = checkListAppend(h.ops, { cycleSearchStepsMax: 200_000 });
    const elapsedMs = performance.now() - started;
    expect(v.stats.cyclicComponents).toBe(1);
    expect(v.anomalyCounts).toEqual({ G0: 1 });
    expect(v.counterexample && 'cycle' in v.counterexample && v.counterexample.cycle.length).toBe(n);
    expect(elapsedMs).toBeLessThan(15_000);
  });

  it('reports each of many small cycles', () => {
    const h = new ListAppendHistory();
    const pairs = 2_000;
    for (let i = 0; i < pairs; i++) {
      const t1 = h.begin([append(`x${i}`, 1), read(`y${i}`, [1])]);
      const t2 = h.begin([append(`y${i}`, 1), read(`x${i}`, [1])]);
      t1.end();
      t2.end();
    }
    const v = checkListAppend(h.ops, { realtime: true });
    expect(v.stats.cyclicComponents).toBe(pairs);
    expect(v.anomalyCounts).toEqual({ G1c: pairs });
    expect(v.anomalies).toHaveLength(20);
  });
});
