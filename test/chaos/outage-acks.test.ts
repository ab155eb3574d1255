/**
 * The decision-log-outage checker over hand-made records: a multi-shard transaction invoked and told
 * COMMITTED entirely inside an outage is reported; one that straddles a window's edge, a one-shard
 * (one-phase) commit, and aborted or unknown ones are not.
 */
import { describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../chaos/checkers/durability.ts';
import { checkOutageAcks } from '../../chaos/checkers/outage-acks.ts';

const windows = [{ id: 3, fromMs: 1_000, toMs: 2_000 }];
const ok = (id: string, invokedAtMs: number, completedAtMs: number, shards = ['a', 'b']): CommitRecord => ({
  id,
  outcome: 'ok',
  shards,
  acked: { invokedAtMs, completedAtMs },
});

describe('checkOutageAcks', () => {
  it('passes commits acknowledged outside the outage or straddling its edges', () => {
    const v = checkOutageAcks([ok('t1', 500, 900), ok('t2', 900, 1_100), ok('t3', 1_900, 2_100)], windows);
    expect(v.valid).toBe(true);
    expect(v.stats).toEqual({ windows: 1, acknowledged: 3 });
  });

  it('reports a multi-shard commit invoked and acknowledged while the log was down', () => {
    const v = checkOutageAcks([ok('t1', 500, 900), ok('t4', 1_200, 1_300)], windows, { checker: 'x' });
    expect(v.checker).toBe('x');
    expect(v.valid).toBe(false);
    expect(v.counterexample).toMatchObject({ type: 'acknowledged-during-outage', id: 't4', window: 3 });
    expect(v.counterexample!.message).toMatch(
      /t4 .* told COMMITTED at 1300 ms, while the decision log was down/,
    );
  });

  it('ignores one-phase commits and transactions not told COMMITTED', () => {
    const records: CommitRecord[] = [
      ok('single', 1_200, 1_300, ['a']),
      { id: 'f', outcome: 'fail', shards: ['a', 'b'] },
      { id: 'i', outcome: 'info', shards: ['a', 'b'] },
    ];
    expect(checkOutageAcks(records, windows).valid).toBe(true);
  });
});
