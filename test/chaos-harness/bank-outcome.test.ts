/** How the bank workload merges the outcomes of a transfer's invocations (retries share its key). */
import { describe, expect, it } from 'vitest';
import { mergeOutcome } from '../../chaos/workloads/bank.ts';
import type { Transfer } from '../../chaos/checkers/bank.ts';

const t: Transfer = { id: 't1', from: 'a', to: 'b', amount: 1 };

describe('bank outcome merge', () => {
  it('a retry that never left the client keeps an earlier unknown outcome unknown', () => {
    const first = mergeOutcome(undefined, t, 'info', false);
    expect(mergeOutcome(first, t, 'fail', false).outcome).toBe('info');
  });

  it('the coordinator answering ABORTED to a keyed retry settles it as failed', () => {
    const first = mergeOutcome(undefined, t, 'info', false);
    expect(mergeOutcome(first, t, 'fail', true).outcome).toBe('fail');
  });

  it('committed wins over everything; never-sent alone is failed', () => {
    expect(mergeOutcome(mergeOutcome(undefined, t, 'ok', true), t, 'fail', true).outcome).toBe('ok');
    expect(mergeOutcome(mergeOutcome(undefined, t, 'info', false), t, 'ok', true).outcome).toBe('ok');
    expect(mergeOutcome(undefined, t, 'fail', false).outcome).toBe('fail');
  });
});
