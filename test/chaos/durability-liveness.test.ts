import { describe, expect, it } from 'vitest';
import { checkDurability, type CommitRecord } from '../../chaos/checkers/durability.ts';
import { checkLiveness, type InDoubtPoll } from '../../chaos/checkers/liveness.ts';
import { HistoryError } from '../../chaos/history.ts';

const commits: CommitRecord[] = [
  { id: 'ok-1', outcome: 'ok', shards: ['p1', 'p2'] },
  { id: 'ok-2', outcome: 'ok', shards: ['p3'] },
  { id: 'fail-1', outcome: 'fail', shards: ['p1', 'p3'] },
  { id: 'info-1', outcome: 'info', shards: ['p2', 'p3'] }, // committed after all
  { id: 'info-2', outcome: 'info', shards: ['p1', 'p2'] }, // aborted after all
];
const recovered = { p1: ['ok-1'], p2: ['ok-1', 'info-1'], p3: ['ok-2', 'info-1'] };

describe('durability checker', () => {
  it('accepts every acknowledged commit everywhere, no abort anywhere, unknown ones all or nothing', () => {
    const v = checkDurability(commits, recovered);
    expect(v.valid, JSON.stringify(v.anomalies)).toBe(true);
    expect(v.stats).toEqual({
      commits: 5,
      acknowledged: 2,
      aborted: 1,
      unknown: 2,
      unknownCommitted: 1,
      markers: 5,
    });
  });

  it('finds an acknowledged commit missing from one of its shards', () => {
    const v = checkDurability(commits, { ...recovered, p2: ['info-1'] });
    expect(v.anomalyCounts).toEqual({ 'lost-commit': 1 });
    expect(v.counterexample).toMatchObject({ id: 'ok-1', presentOn: ['p1'], missingOn: ['p2'] });
  });

  it('finds an aborted transaction that left a marker', () => {
    const v = checkDurability(commits, { ...recovered, p3: ['ok-2', 'info-1', 'fail-1'] });
    expect(v.anomalyCounts).toEqual({ 'aborted-present': 1 });
    expect(v.counterexample).toMatchObject({ id: 'fail-1', presentOn: ['p3'] });
  });

  it('finds an unknown-outcome transaction committed on some shards only', () => {
    const v = checkDurability(commits, { ...recovered, p3: ['ok-2'] });
    expect(v.anomalyCounts).toEqual({ 'partial-commit': 1 });
    expect(v.counterexample).toMatchObject({ id: 'info-1', presentOn: ['p2'], missingOn: ['p3'] });
  });

  it('finds markers nobody wrote there, and shards it could not read', () => {
    const v = checkDurability(commits, { p1: ['ok-1', 'ghost', 'ok-2'], p2: ['ok-1', 'info-1'] });
    expect(v.anomalyCounts).toEqual({ 'unknown-marker': 2, 'shard-unreadable': 1 });
  });

  it('refuses duplicate commit records', () => {
    expect(() => checkDurability([commits[0]!, commits[0]!], recovered)).toThrow(HistoryError);
  });
});

const poll = (timeMs: number, ...txnIds: string[]): InDoubtPoll => ({
  timeMs,
  inDoubt: txnIds.map((txnId) => ({ txnId, shard: 'p1' })),
});

describe('liveness checker', () => {
  it('accepts in-doubt transactions resolved within the bound after the heal', () => {
    const v = checkLiveness({
      healedAtMs: 1000,
      resolutionBoundMs: 500,
      polls: [poll(900, 'a'), poll(1100, 'a', 'b'), poll(1300), poll(2000)],
    });
    expect(v.valid).toBe(true);
    expect(v.stats).toEqual({ polls: 4, inDoubtAfterHeal: 2, resolvedAfterMs: 300 });
  });

  it('finds transactions still in doubt when the bound expired', () => {
    const v = checkLiveness({
      healedAtMs: 1000,
      resolutionBoundMs: 500,
      polls: [poll(1100, 'a', 'b'), poll(1400, 'b'), poll(1600)],
    });
    expect(v.anomalyCounts).toEqual({ unresolved: 1 });
    expect(v.counterexample).toMatchObject({ timeMs: 1400, inDoubt: [{ txnId: 'b', shard: 'p1' }] });
    expect(v.stats.resolvedAfterMs).toBe(-1);
  });

  it('finds transactions in doubt again after everything was resolved', () => {
    const v = checkLiveness({ healedAtMs: 0, resolutionBoundMs: 500, polls: [poll(100), poll(200, 'c')] });
    expect(v.anomalyCounts).toEqual({ 'in-doubt-again': 1 });
  });

  it('proves nothing without a poll after the heal, or within the bound', () => {
    expect(
      checkLiveness({ healedAtMs: 1000, resolutionBoundMs: 500, polls: [poll(900)] }).anomalyCounts,
    ).toEqual({
      'no-poll-after-heal': 1,
    });
    const late = checkLiveness({ healedAtMs: 1000, resolutionBoundMs: 500, polls: [poll(1600)] });
    expect(late.anomalyCounts).toEqual({ unresolved: 1 });
    expect(late.counterexample?.message).toMatch(/no poll was taken within 500 ms/);
  });

  it('refuses polls out of time order and a negative bound', () => {
    expect(() => checkLiveness({ healedAtMs: 0, resolutionBoundMs: 1, polls: [poll(2), poll(1)] })).toThrow(
      HistoryError,
    );
    expect(() => checkLiveness({ healedAtMs: 0, resolutionBoundMs: -1, polls: [] })).toThrow(HistoryError);
  });
});
