import { describe, expect, it } from 'vitest';
import {
  checkListAppend,
  type ListAppendAnomaly,
  type ListAppendVerdict,
} from '../../chaos/checkers/list-append.ts';
import { HistoryError } from '../../chaos/history.ts';
import { append, ListAppendHistory, read } from './histories.ts';

function types(verdict: ListAppendVerdict): string[] {
  return Object.keys(verdict.anomalyCounts).sort();
}

function only<T extends ListAppendAnomaly['type']>(
  verdict: ListAppendVerdict,
  type: T,
): ListAppendAnomaly & { type: T } {
  const found = verdict.anomalies.filter((a) => a.type === type);
  expect(found, JSON.stringify(verdict.anomalies, null, 1)).toHaveLength(1);
  return found[0] as ListAppendAnomaly & { type: T };
}

/** The cycle as "T<i> kind T<j> ..." for compact assertions. */
function cycleOf(verdict: ListAppendVerdict, type: ListAppendAnomaly['type']): string {
  const anomaly = verdict.anomalies.find((a) => a.type === type);
  if (!anomaly || !('cycle' in anomaly))
    throw new Error(`no ${type} in ${JSON.stringify(verdict.anomalyCounts)}`);
  return anomaly.cycle.map((s) => `${s.from.index}-${s.kind}->${s.to.index}`).join(' ');
}

describe('list-append checker: valid histories', () => {
  it('accepts an empty history', () => {
    const v = checkListAppend([]);
    expect(v.valid).toBe(true);
    expect(v.counterexample).toBeUndefined();
  });

  it('accepts a serial history over several keys, with and without real-time order', () => {
    const h = new ListAppendHistory()
      .txn([append('x', 1), read('x', [1])])
      .txn([read('x', [1]), append('y', 1), append('x', 2)])
      .txn([read('y', [1]), read('x', [1, 2]), append('y', 2), read('y', [1, 2])])
      .txn([read('x', [1, 2]), read('y', [1, 2])]);
    for (const realtime of [false, true]) {
      const v = checkListAppend(h.ops, { realtime });
      expect(v.valid, JSON.stringify(v.anomalies)).toBe(true);
      expect(v.stats).toMatchObject({ txns: 4, ok: 4, keys: 2, appends: 4, cyclicComponents: 0 });
      expect(v.stats.edges).toBeGreaterThan(0);
    }
  });

  it('accepts concurrent transactions that serialize in an order other than real time', () => {
    const h = new ListAppendHistory();
    const t1 = h.begin([append('x', 1)]);
    const t2 = h.begin([read('x', [])]);
    t1.end();
    t2.end();
    h.txn([read('x', [1])]);
    expect(checkListAppend(h.ops, { realtime: true }).valid).toBe(true);
  });

  it('treats info transactions as possibly committed, never as failed', () => {
    const h = new ListAppendHistory()
      .txn([append('x', 1)], 'info') // committed: observed below
      .txn([append('x', 2)], 'info') // never observed: may not have committed
      .txn([append('y', 1)], 'fail') // failed and never observed: fine
      .txn([read('x', [1]), read('y', [])]);
    const v = checkListAppend(h.ops, { realtime: true });
    expect(v.valid, JSON.stringify(v.anomalies)).toBe(true);
    expect(v.stats).toMatchObject({ ok: 1, fail: 1, info: 2 });
  });

  it('treats a transaction still in flight at the end as info', () => {
    const h = new ListAppendHistory();
    h.begin([append('x', 1)]);
    const v = checkListAppend(h.ops);
    expect(v.valid).toBe(true);
    expect(v.stats.info).toBe(1);
  });

  it('ignores ops whose f is not txn', () => {
    const h = new ListAppendHistory();
    const op = h.rec.invoke(99, 'nemesis', { kill: 'p1' });
    h.rec.complete(op, 'info', { kill: 'p1' });
    h.txn([append('x', 1)]);
    expect(checkListAppend(h.ops).stats.txns).toBe(1);
  });
});

describe('list-append checker: cycles', () => {
  it('finds G0: two transactions appended to x and y in opposite orders', () => {
    const h = new ListAppendHistory();
    const t1 = h.begin([append('x', 1), append('y', 1)]);
    const t2 = h.begin([append('x', 2), append('y', 2)]);
    t1.end();
    t2.end();
    h.txn([read('x', [1, 2]), read('y', [2, 1])]);
    const v = checkListAppend(h.ops);
    expect(v.valid).toBe(false);
    expect(types(v)).toEqual(['G0']);
    expect(cycleOf(v, 'G0')).toMatch(/^(0-ww->1 1-ww->0|1-ww->0 0-ww->1)$/);
    expect(v.counterexample?.type).toBe('G0');
    expect(v.counterexample?.message).toMatch(/T\d -ww\((x|y):\d\)-> T\d -ww\((x|y):\d\)-> T\d/);
  });

  it('finds G1c: each transaction read the other one’s append', () => {
    const h = new ListAppendHistory();
    const t1 = h.begin([append('x', 1), read('y', [1])]);
    const t2 = h.begin([append('y', 1), read('x', [1])]);
    t1.end();
    t2.end();
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['G1c']);
    const cycle = only(v, 'G1c').cycle;
    expect(cycle.map((s) => s.kind)).toEqual(['wr', 'wr']);
    expect(cycle.map((s) => s.key).sort()).toEqual(['x', 'y']);
  });

  it('finds G-single: a read saw one of a transaction’s appends but not the other (read skew)', () => {
    const h = new ListAppendHistory();
    const t1 = h.begin([append('x', 1), append('y', 1)]);
    const t2 = h.begin([read('x', [1]), read('y', [])]);
    t1.end();
    t2.end();
    h.txn([read('y', [1])]);
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['G-single']);
    expect(
      only(v, 'G-single')
        .cycle.map((s) => `${s.kind}:${s.key}`)
        .sort(),
    ).toEqual(['rw:y', 'wr:x']);
  });

  it('finds G2: write skew, two anti-dependencies', () => {
    const h = new ListAppendHistory();
    const t1 = h.begin([read('x', []), append('y', 1)]);
    const t2 = h.begin([read('y', []), append('x', 1)]);
    t1.end();
    t2.end();
    h.txn([read('x', [1]), read('y', [1])]);
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['G2']);
    expect(only(v, 'G2').cycle.map((s) => s.kind)).toEqual(['rw', 'rw']);
  });

  it('finds G-single-realtime (a stale read) only when real-time order is required', () => {
    const h = new ListAppendHistory()
      .txn([append('x', 1)])
      .txn([read('x', [])]) // invoked after x=1 was acknowledged
      .txn([read('x', [1])]);
    expect(checkListAppend(h.ops).valid).toBe(true);
    const v = checkListAppend(h.ops, { realtime: true });
    expect(types(v)).toEqual(['G-single-realtime']);
    expect(cycleOf(v, 'G-single-realtime')).toBe('2-rw->0 0-rt->2');
  });

  it('prefers a cycle without rt edges, and reports the shortest one', () => {
    const h = new ListAppendHistory();
    // A G0 ring over keys k0..k4 among five transactions and a two-transaction G0 on a, b, joined into
    // one component by a (ring before pair) and c (pair before ring).
    const ring = [0, 1, 2, 3, 4].map((i) =>
      h.begin([append(`k${i}`, 1), append(`k${(i + 1) % 5}`, 2), append('a', 10 + i), append('c', 10 + i)]),
    );
    for (const t of ring) t.end();
    const pair1 = h.begin([append('a', 1), append('b', 1)]);
    const pair2 = h.begin([append('a', 2), append('b', 2), append('c', 2)]);
    pair1.end();
    pair2.end();
    h.txn([
      ...[0, 1, 2, 3, 4].map((i) => read(`k${i}`, [2, 1])),
      read('a', [10, 11, 12, 13, 14, 1, 2]),
      read('b', [2, 1]),
      read('c', [2, 10, 11, 12, 13, 14]),
    ]);
    const v = checkListAppend(h.ops, { realtime: true });
    expect(v.stats.cyclicComponents).toBe(1);
    expect(types(v)).toEqual(['G0']);
    expect(only(v, 'G0').cycle).toHaveLength(2);
    expect(v.counterexample).toBe(v.anomalies[0]);
  });

  it('reports one cycle per strongly connected component', () => {
    const h = new ListAppendHistory();
    for (const [x, y] of [
      ['a', 'b'],
      ['c', 'd'],
    ] as const) {
      const t1 = h.begin([append(x, 1), read(y, [1])]);
      const t2 = h.begin([append(y, 1), read(x, [1])]);
      t1.end();
      t2.end();
    }
    const v = checkListAppend(h.ops);
    expect(v.stats.cyclicComponents).toBe(2);
    expect(v.anomalyCounts).toEqual({ G1c: 2 });
  });
});

describe('list-append checker: read anomalies', () => {
  it('finds G1a: a read saw an element appended by a failed transaction', () => {
    const h = new ListAppendHistory().txn([append('x', 1)], 'fail').txn([read('x', [1])]);
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['G1a']);
    const a = only(v, 'G1a');
    expect([a.writer.index, a.reader.index, a.key, a.element]).toEqual([0, 2, 'x', 1]);
  });

  it('finds G1b: a read ended at an element that was not its writer’s last append to the key', () => {
    const h = new ListAppendHistory();
    const t1 = h.begin([append('x', 1), append('x', 2)]);
    const t2 = h.begin([read('x', [1])]);
    t1.end();
    t2.end();
    h.txn([read('x', [1, 2])]);
    const v = checkListAppend(h.ops);
    expect(v.anomalyCounts.G1b).toBe(1);
    expect(only(v, 'G1b')).toMatchObject({ key: 'x', element: 1, finalElement: 2 });
    // Seeing half of a transaction's appends is also a wr + rw cycle between the two.
    expect(types(v)).toEqual(['G-single', 'G1b']);
  });

  it('does not call a transaction’s read of its own intermediate append G1b', () => {
    const h = new ListAppendHistory()
      .txn([append('x', 1), read('x', [1]), append('x', 2)])
      .txn([read('x', [1, 2])]);
    expect(checkListAppend(h.ops).valid).toBe(true);
  });

  it('finds an incompatible order: two reads that are not prefixes of one another', () => {
    const h = new ListAppendHistory()
      .txn([append('x', 1)])
      .txn([append('x', 2)])
      .txn([read('x', [1, 2])])
      .txn([read('x', [2, 1])]);
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['incompatible-order']);
    const a = only(v, 'incompatible-order');
    expect(a.reads.map((r) => r.list)).toEqual([
      [2, 1],
      [1, 2],
    ]);
    expect(v.stats.unorderedKeys).toBe(1);
  });

  it('finds a lost append: acknowledged before the last read of its key was invoked, yet missing from it', () => {
    const h = new ListAppendHistory()
      .txn([append('x', 1)])
      .txn([append('x', 2)])
      .txn([read('x', [1])]);
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['lost-append']);
    expect(only(v, 'lost-append')).toMatchObject({
      key: 'x',
      element: 2,
      writer: { index: 2 },
      lastRead: { index: 4 },
    });
  });

  it('finds a lost append of an info transaction once a reader had seen it', () => {
    const h = new ListAppendHistory()
      .txn([append('x', 1)], 'info')
      .txn([read('x', [1])])
      .txn([read('x', [])]);
    expect(types(checkListAppend(h.ops))).toEqual(['lost-append']);
  });

  it('does not call an append lost when the last read was concurrent with it', () => {
    const h = new ListAppendHistory();
    const reader = h.begin([read('x', [])]);
    h.txn([append('x', 1)]);
    reader.end();
    expect(checkListAppend(h.ops).valid).toBe(true);
  });

  it('finds duplicated elements', () => {
    const h = new ListAppendHistory().txn([append('x', 1)]).txn([read('x', [1, 1])]);
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['duplicate-elements']);
    expect(v.stats.unorderedKeys).toBe(1);
  });

  it('finds garbage: an element nobody appended', () => {
    const v = checkListAppend(new ListAppendHistory().txn([read('x', [7])]).ops);
    expect(types(v)).toEqual(['garbage-read']);
    expect(only(v, 'garbage-read').element).toBe(7);
  });

  it('finds internal inconsistency: a read that ignores the transaction’s own append', () => {
    const h = new ListAppendHistory().txn([read('x', []), append('x', 1), read('x', [])]);
    const v = checkListAppend(h.ops);
    expect(types(v)).toEqual(['internal']);
    expect(only(v, 'internal')).toMatchObject({ expected: [1], actual: [] });
  });

  it('finds internal inconsistency when a first read lacks an earlier own append', () => {
    const h = new ListAppendHistory().txn([append('x', 1)]).txn([append('x', 2), read('x', [1])]);
    expect(types(checkListAppend(h.ops))).toEqual(['internal']);
  });

  it('keeps the first anomalies of each type and counts the rest', () => {
    const h = new ListAppendHistory();
    for (let i = 0; i < 30; i++) h.txn([read(`k${i}`, [i])]);
    const v = checkListAppend(h.ops, { anomaliesPerTypeMax: 5 });
    expect(v.anomalies).toHaveLength(5);
    expect(v.anomalyCounts['garbage-read']).toBe(30);
  });
});

describe('list-append checker: malformed histories', () => {
  it('refuses an element appended twice to one key', () => {
    const h = new ListAppendHistory().txn([append('x', 1)]).txn([append('x', 1)]);
    expect(() => checkListAppend(h.ops)).toThrow(HistoryError);
  });

  it('refuses malformed micro-ops and ok reads without a list', () => {
    const h = new ListAppendHistory();
    const bad = h.rec.invoke(0, 'txn', [['write', 'x', 1]]);
    h.rec.complete(bad, 'ok', [['write', 'x', 1]]);
    expect(() => checkListAppend(h.ops)).toThrow(/micro-op f/);
    const h2 = new ListAppendHistory();
    const op = h2.rec.invoke(0, 'txn', [['r', 'x', null]]);
    h2.rec.complete(op, 'ok', [['r', 'x', null]]);
    expect(() => checkListAppend(h2.ops)).toThrow(/reads of an ok txn/);
  });
});
