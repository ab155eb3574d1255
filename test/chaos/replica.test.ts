/**
 * The replica checker over hand-made states: a replica that caught up passes; one missing a marker,
 * holding an extra one, failing verify or failing to restore is reported, with the shard and the id.
 */
import { describe, expect, it } from 'vitest';
import { checkReplica, type ShardReplicaState } from '../../chaos/checkers/replica.ts';

const caughtUp: ShardReplicaState[] = [
  {
    shard: 'a',
    verified: true,
    verifyOutput: 'replica ok',
    shardMarkers: ['t1', 't2'],
    restored: { markers: ['t2', 't1'] },
  },
  { shard: 'b', verified: true, verifyOutput: 'replica ok', shardMarkers: [], restored: { markers: [] } },
];

describe('checkReplica', () => {
  it('passes a replica that holds exactly what each shard holds', () => {
    const v = checkReplica(caughtUp);
    expect(v.valid).toBe(true);
    expect(v.stats).toEqual({ shards: 2, restoredMarkers: 2 });
  });

  it('reports a marker the restored file lacks (shipping did not catch up)', () => {
    const v = checkReplica([{ ...caughtUp[0]!, restored: { markers: ['t1'] } }, caughtUp[1]!]);
    expect(v.valid).toBe(false);
    expect(v.anomalyCounts).toEqual({ 'not-caught-up': 1 });
    expect(v.counterexample).toMatchObject({ shard: 'a', id: 't2' });
  });

  it('reports a marker only the restored file holds', () => {
    const v = checkReplica([caughtUp[0]!, { ...caughtUp[1]!, restored: { markers: ['t9'] } }]);
    expect(v.anomalyCounts).toEqual({ 'replica-ahead': 1 });
  });

  it('reports a replica that fails verify, and a restore that failed', () => {
    const v = checkReplica([
      {
        ...caughtUp[0]!,
        verified: false,
        verifyOutput: 'generation g: PROBLEMS\n  - x.seg is corrupt\n1 problem(s) found',
      },
      { ...caughtUp[1]!, restored: { error: 'exit 1: segment missing' } },
    ]);
    expect(v.anomalyCounts).toEqual({ 'verify-failed': 1, 'restore-failed': 1 });
    expect(v.anomalies[0]!.message).toMatch(/a: replica verify failed: .*corrupt/);
  });
});
