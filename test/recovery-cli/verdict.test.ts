/**
 * The decision rules of recovery (coordinator/recovery/verdict.ts): what resolve pushes for an
 * in-doubt transaction, given what the decision log and the running coordinator say.
 */
import { describe, expect, it } from 'vitest';
import type { TxnView } from '../../common/api.ts';
import { verdictFor } from '../../coordinator/recovery/verdict.ts';

function view(txnId: string, state: TxnView['state'], decisionSeq = 0n): TxnView {
  return {
    txnId,
    state,
    shards: [],
    decisionSeq,
    startedAtMs: 1,
    decidedAtMs: 0,
    reason: '',
    idempotencyKey: '',
  };
}

describe('verdicts', () => {
  const commit = {
    txnId: 'tx_c',
    state: 'COMMITTED',
    shards: ['a'],
    readOnlyShards: [],
    idempotencyKey: '',
    decisionSeq: 4n,
    reason: '',
    invalid: false,
    startedAtMs: 1,
    decidedAtMs: 2,
    endedAtMs: 0,
  } as const;
  it('from the log: COMMIT commits with its seq, no COMMIT is presumed abort, heuristics decide', () => {
    expect(verdictFor('tx_c', { log: { record: commit, heuristics: [] } })).toMatchObject({
      kind: 'COMMIT',
      decisionSeq: 4n,
      source: 'log',
    });
    expect(verdictFor('tx_n', { log: { record: undefined, heuristics: [] } })).toMatchObject({
      kind: 'ABORT',
      source: 'presumed-abort',
    });
    const intent = {
      ...commit,
      state: 'INTENT' as const,
      idempotencyKey: 'k',
      decisionSeq: 0n,
      decidedAtMs: 0,
    };
    expect(verdictFor('tx_c', { log: { record: intent, heuristics: [] } }).why).toMatch(/only an INTENT/);
    const audit = [{ txnId: 'tx_h', outcome: 'COMMITTED' as const, operator: 'op', note: 'n', atMs: 1 }];
    expect(verdictFor('tx_h', { log: { record: undefined, heuristics: audit } })).toMatchObject({
      kind: 'COMMIT',
      source: 'heuristic',
    });
    expect(verdictFor('tx_x', {})).toMatchObject({ kind: 'UNKNOWN' });
  });

  it('from the coordinator: live is left alone; absent means no COMMIT; a disagreeing log file is unknown', () => {
    const inFlight = new Map([
      ['tx_live', view('tx_live', 'PREPARING')],
      ['tx_c', view('tx_c', 'COMMITTING', 4n)],
    ]);
    expect(verdictFor('tx_live', { inFlight })).toMatchObject({ kind: 'LIVE' });
    expect(verdictFor('tx_c', { inFlight })).toMatchObject({
      kind: 'COMMIT',
      decisionSeq: 4n,
      source: 'coordinator',
    });
    expect(verdictFor('tx_gone', { inFlight })).toMatchObject({ kind: 'ABORT', source: 'presumed-abort' });
    expect(
      verdictFor('tx_c', { inFlight: new Map(), log: { record: commit, heuristics: [] } }),
    ).toMatchObject({ kind: 'UNKNOWN' });
  });
});
