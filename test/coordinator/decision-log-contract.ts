/**
 * The DecisionLog (and HeuristicDecisionLog) contract, as one suite any backend runs against a real
 * store: group commit, seqs, durability across a reopen, idempotent writes, refusals, listing, GC,
 * heuristic decisions. `test/coordinator/decision-log.test.ts` runs it on SQLite files,
 * `test/redis/decision-log.test.ts` on real redis-server processes (one server, and a Cluster).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../common/assert.ts';
import type { DecisionLog, HeuristicDecisionLog } from '../../coordinator/decision-log.ts';

export type ContractLog = DecisionLog & HeuristicDecisionLog;

export interface ContractBackend {
  /** Before each test: a fresh, empty store. */
  setup(): Promise<void>;
  /** Opens the log over the store (a coordinator open: the epoch goes up). */
  open(): Promise<ContractLog>;
  /** Rewrites the stored record of `txnId` so that its shards are not a list. */
  corruptShards(txnId: string): Promise<void>;
  /** After each test (the log is closed already). */
  teardown(): Promise<void>;
}

const heuristic = (txnId: string, outcome: 'COMMITTED' | 'ABORTED') => ({
  txnId,
  outcome,
  shards: ['a', 'b'],
  operator: 'ops',
  note: 'the log was lost',
  startedAtMs: 10,
  atMs: 20,
});

const aborted = (txnId: string, key: string) => ({
  txnId,
  outcome: 'ABORTED' as const,
  shards: ['a', 'b'],
  idempotencyKey: key,
  abortReason: 'CONFLICT' as const,
  reason: 'busy',
  invalid: false,
  startedAtMs: 1,
  atMs: 2,
});

export function describeDecisionLogContract(name: string, backend: ContractBackend): void {
  describe(`DecisionLog contract: ${name}`, () => {
    let log: ContractLog;

    const commit = (txnId: string, extra: { key?: string; at?: number } = {}) =>
      log.logCommit({
        txnId,
        shards: ['a', 'b'],
        readOnlyShards: [],
        idempotencyKey: extra.key ?? '',
        startedAtMs: 1,
        atMs: extra.at ?? 1_000,
      });

    beforeEach(async () => {
      await backend.setup();
      log = await backend.open();
    });

    afterEach(async () => {
      await log.close();
      await backend.teardown();
    });

    it('group-commits concurrent COMMITs: fewer batches than calls, seqs unique and increasing', async () => {
      const n = 200;
      const seqs = await Promise.all(
        Array.from({ length: n }, (_, i) => commit(`tx_${String(i).padStart(4, '0')}`)),
      );
      expect(new Set(seqs).size).toBe(n);
      expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
      expect(seqs[0]).toBeGreaterThan(0n);
      const stats = log.stats();
      expect(stats.records).toBe(n);
      expect(stats.batches).toBeLessThan(n / 10);
      expect(stats.batchRecordsMax).toBeGreaterThan(1);
      // A later batch continues the sequence.
      expect(await commit('tx_later')).toBe((seqs[n - 1] as bigint) + 1n);
    });

    it('keeps forced records across a reopen, with a higher epoch and seqs that never repeat', async () => {
      const seq = await commit('tx_a', { key: 'k1' });
      await log.logIntent({ txnId: 'tx_b', idempotencyKey: 'k2', shards: ['a'], atMs: 5 });
      const epoch = log.epoch;
      await log.close();
      log = await backend.open();
      expect(log.epoch).toBe(epoch + 1n);
      expect(await log.get('tx_a')).toMatchObject({
        state: 'COMMITTED',
        decisionSeq: seq,
        shards: ['a', 'b'],
        idempotencyKey: 'k1',
        endedAtMs: 0,
      });
      expect((await log.byIdempotencyKey('k1'))?.txnId).toBe('tx_a');
      expect((await log.byIdempotencyKey('k2'))?.txnId).toBe('tx_b');
      expect((await log.unfinished(0n, 10)).map((r) => r.txnId)).toEqual(['tx_a']);
      expect(await commit('tx_c')).toBe(seq + 1n);
    });

    it('makes logCommit idempotent and refuses a COMMIT for an aborted transaction', async () => {
      const seq = await commit('tx_a');
      expect(await commit('tx_a')).toBe(seq);
      await log.logIntent({ txnId: 'tx_x', idempotencyKey: 'kx', shards: ['a', 'b'], atMs: 1 });
      await log.logOutcome(aborted('tx_x', 'kx'));
      await expect(commit('tx_x')).rejects.toBeInstanceOf(AssertionError);
      // A refused record does not sink the others in its batch.
      const [bad, good] = await Promise.allSettled([commit('tx_x'), commit('tx_y')]);
      expect(bad.status).toBe('rejected');
      expect(good.status).toBe('fulfilled');
      expect((await log.get('tx_x'))?.state).toBe('ABORTED');
      expect(await log.byIdempotencyKey('kx')).toMatchObject({ txnId: 'tx_x', state: 'ABORTED' });
      // An outcome is idempotent too, and one that contradicts the record is refused.
      await log.logOutcome(aborted('tx_x', 'kx'));
      await expect(log.logOutcome({ ...aborted('tx_a', ''), outcome: 'ABORTED' })).rejects.toBeInstanceOf(
        AssertionError,
      );
      expect((await log.get('tx_a'))?.state).toBe('COMMITTED');
    });

    it('gives an idempotency key to the first transaction that claims it', async () => {
      const claim = (txnId: string) => log.logIntent({ txnId, idempotencyKey: 'k', shards: ['a'], atMs: 1 });
      expect(await claim('tx_1')).toBe('tx_1');
      expect(await claim('tx_2')).toBe('tx_1');
      expect(await claim('tx_1')).toBe('tx_1');
      // The loser left nothing behind.
      expect(await log.get('tx_2')).toBeUndefined();
      // Racing claims in one batch: one owner for all.
      const owners = await Promise.all(
        ['tx_5', 'tx_6', 'tx_7'].map((t) =>
          log.logIntent({ txnId: t, idempotencyKey: 'race', shards: ['a'], atMs: 1 }),
        ),
      );
      expect(new Set(owners).size).toBe(1);
      const seq = await commit('tx_1', { key: 'k' });
      expect(await log.byIdempotencyKey('k')).toMatchObject({
        txnId: 'tx_1',
        state: 'COMMITTED',
        decisionSeq: seq,
      });
      expect(await log.byIdempotencyKey('nobody')).toBeUndefined();
    });

    it('ENDs commits, lists by status and page, and GC removes only what is finished and old', async () => {
      await commit('tx_1', { at: 100 });
      await commit('tx_2', { at: 100 });
      await log.logEnd('tx_1', 200);
      await log.logEnd('tx_1', 250); // idempotent: the first END stands
      await log.logIntent({ txnId: 'tx_3', idempotencyKey: 'k3', shards: ['a'], atMs: 100 });
      await log.logOutcome({
        txnId: 'tx_3',
        outcome: 'COMMITTED',
        shards: ['a'],
        idempotencyKey: 'k3',
        reason: '',
        invalid: false,
        startedAtMs: 100,
        atMs: 150,
      });
      await log.logHeuristic({
        txnId: 'tx_2',
        outcome: 'COMMITTED',
        operator: 'ops',
        note: 'test',
        atMs: 300,
      });
      expect((await log.get('tx_1'))?.endedAtMs).toBe(200);
      expect((await log.unfinished(0n, 10)).map((r) => r.txnId)).toEqual(['tx_2']);
      const listed = async (
        statuses: ('INTENT' | 'COMMITTING' | 'COMMITTED' | 'ABORTED')[],
        after = '',
        limit = 10,
      ) => (await log.list({ statuses, afterTxnId: after, limit })).map((r) => r.txnId);
      expect(await listed(['COMMITTING'])).toEqual(['tx_2']);
      expect(await listed(['COMMITTED'])).toEqual(['tx_1', 'tx_3']);
      expect(await listed([], 'tx_1', 1)).toEqual(['tx_2']);
      expect(await listed([])).toEqual(['tx_1', 'tx_2', 'tx_3']);

      expect(await log.gc(199, 100)).toBe(1); // tx_3 (decided 150); tx_1 ended at 200 is younger
      expect(await log.gc(10_000, 100)).toBe(1); // tx_1; tx_2 has no END and stays
      expect(await log.get('tx_1')).toBeUndefined();
      expect(await log.get('tx_3')).toBeUndefined();
      expect((await log.get('tx_2'))?.state).toBe('COMMITTED');
      expect(await log.byIdempotencyKey('k3')).toBeUndefined();
      expect(await listed([])).toEqual(['tx_2']);
      expect(await log.heuristics('tx_2')).toEqual([
        { txnId: 'tx_2', outcome: 'COMMITTED', operator: 'ops', note: 'test', atMs: 300 },
      ]);
      // A collected key is free again; seqs keep increasing after GC removed records.
      expect(await log.logIntent({ txnId: 'tx_9', idempotencyKey: 'k3', shards: ['a'], atMs: 20_000 })).toBe(
        'tx_9',
      );
      const before = (await log.get('tx_2'))?.decisionSeq as bigint;
      expect(await commit('tx_4')).toBeGreaterThan(before);
    });

    it('GC removes INTENTs that never got an outcome, and pages through unfinished commits by seq', async () => {
      await log.logIntent({ txnId: 'tx_i', idempotencyKey: 'ki', shards: ['a', 'b'], atMs: 50 });
      const seqs = [];
      for (const t of ['tx_p', 'tx_q', 'tx_r']) seqs.push(await commit(t));
      const first = await log.unfinished(0n, 2);
      expect(first.map((r) => r.txnId)).toEqual(['tx_p', 'tx_q']);
      expect((await log.unfinished(first[1]!.decisionSeq, 2)).map((r) => r.txnId)).toEqual(['tx_r']);
      expect(await log.gc(60, 100)).toBe(1);
      expect(await log.get('tx_i')).toBeUndefined();
      expect(await log.byIdempotencyKey('ki')).toBeUndefined();
      expect((await log.unfinished(0n, 10)).length).toBe(3);
    });

    it('refuses to read a corrupted record back', async () => {
      await commit('tx_1');
      await backend.corruptShards('tx_1');
      await expect(log.get('tx_1')).rejects.toBeInstanceOf(AssertionError);
    });

    it('rejects writes and reads after close', async () => {
      await log.close();
      await expect(commit('tx_1')).rejects.toThrow(/closed/);
      await expect(log.get('tx_1')).rejects.toThrow(/closed/);
      log = await backend.open();
    });

    describe('heuristic decisions', () => {
      it('a commit writes the audit row and a COMMIT record with a fresh seq, re-driven like any other', async () => {
        const first = await commit('tx_0');
        expect(await log.logHeuristicDecision(heuristic('tx_1', 'COMMITTED'))).toEqual({
          recorded: true,
          decisionSeq: first + 1n,
        });
        expect(await log.get('tx_1')).toMatchObject({
          state: 'COMMITTED',
          decisionSeq: first + 1n,
          shards: ['a', 'b'],
          startedAtMs: 10,
          decidedAtMs: 20,
          endedAtMs: 0,
        });
        expect((await log.unfinished(0n, 10)).map((r) => r.txnId)).toEqual(['tx_0', 'tx_1']);
        expect(await log.listHeuristics(10)).toEqual([
          { txnId: 'tx_1', outcome: 'COMMITTED', operator: 'ops', note: 'the log was lost', atMs: 20 },
        ]);
      });

      it("an abort writes an ABORTED outcome with reason HEURISTIC and keeps an INTENT's key", async () => {
        await log.logIntent({ txnId: 'tx_1', idempotencyKey: 'k1', shards: ['a', 'b'], atMs: 3 });
        expect(await log.logHeuristicDecision(heuristic('tx_1', 'ABORTED'))).toEqual({
          recorded: true,
          decisionSeq: 0n,
        });
        expect(await log.byIdempotencyKey('k1')).toMatchObject({
          txnId: 'tx_1',
          state: 'ABORTED',
          abortReason: 'HEURISTIC',
          reason: 'heuristic abort by ops: the log was lost',
          startedAtMs: 3,
        });
      });

      it('writes nothing where the log already decided: a COMMIT, an outcome, or an earlier heuristic', async () => {
        await commit('tx_c');
        await log.logOutcome({ ...aborted('tx_o', 'k'), shards: ['a'] });
        const refused = await log.logHeuristicDecision(heuristic('tx_c', 'ABORTED'));
        expect(refused).toMatchObject({ recorded: false, existing: { state: 'COMMITTED' }, heuristics: [] });
        expect(await log.logHeuristicDecision(heuristic('tx_o', 'COMMITTED'))).toMatchObject({
          recorded: false,
        });
        // Two operators at once: one decides, the other is told.
        const both = await Promise.all([
          log.logHeuristicDecision(heuristic('tx_n', 'COMMITTED')),
          log.logHeuristicDecision(heuristic('tx_n', 'ABORTED')),
        ]);
        expect(both.map((r) => r.recorded)).toEqual([true, false]);
        expect((await log.heuristics('tx_n')).map((h) => h.outcome)).toEqual(['COMMITTED']);
        expect(await log.heuristics('tx_c')).toEqual([]);
      });
    });
  });
}
