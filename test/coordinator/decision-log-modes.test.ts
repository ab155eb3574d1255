/**
 * The SQLite decision log's open modes for tools (read-only, tool) and heuristic decisions, against
 * real files: a tool never bumps the epoch, a reader never writes, and a heuristic decision is one
 * atomic, forced write that refuses where the log already decided.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { tempDir } from './harness.ts';

let dir: string;
let file: string;

beforeEach(() => {
  dir = tempDir();
  file = path.join(dir, 'decisions.db');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function withLog<T>(
  mode: 'coordinator' | 'tool' | 'read-only',
  fn: (log: SqliteDecisionLog) => Promise<T>,
): Promise<T> {
  const log = SqliteDecisionLog.open(file, { mode });
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
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

describe('SqliteDecisionLog open modes', () => {
  it('read-only and tool opens never bump the epoch; a coordinator open still does', async () => {
    const first = await withLog('coordinator', async (log) => {
      await log.logCommit({
        txnId: 'tx_1',
        shards: ['a'],
        readOnlyShards: [],
        idempotencyKey: '',
        startedAtMs: 1,
        atMs: 2,
      });
      return log.epoch;
    });
    expect(await withLog('read-only', async (log) => log.epoch)).toBe(first);
    expect(await withLog('tool', async (log) => log.epoch)).toBe(first);
    expect(await withLog('coordinator', async (log) => log.epoch)).toBe(first + 1n);
  });

  it('read-only refuses every write and leaves the file as it was', async () => {
    await withLog('coordinator', async () => {});
    const before = readFileSync(file);
    await withLog('read-only', async (log) => {
      expect(log.writable).toBe(false);
      await expect(log.logEnd('tx_1', 5)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(log.logHeuristicDecision(heuristic('tx_1', 'ABORTED'))).rejects.toBeInstanceOf(TwopcError);
      await expect(log.gc(1, 1)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      expect(await log.get('tx_1')).toBeUndefined();
    });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('a missing file is NOT_FOUND for readers and tools (unless told to create it); garbage is FAILED_PRECONDITION', () => {
    expect(() => SqliteDecisionLog.open(file, { mode: 'read-only' })).toThrow(/does not exist/);
    expect(() => SqliteDecisionLog.open(file, { mode: 'tool' })).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
    const created = SqliteDecisionLog.open(path.join(dir, 'new', 'decisions.db'), {
      mode: 'tool',
      create: true,
    });
    expect(created.epoch).toBe(0n);
    void created.close();
    writeFileSync(file, 'not a database, just text that is long enough to be read as a header '.repeat(20));
    expect(() => SqliteDecisionLog.open(file, { mode: 'read-only' })).toThrow(
      expect.objectContaining({ code: 'FAILED_PRECONDITION' }),
    );
  });
});

// The semantics of heuristic decisions are in the contract suite (decision-log-contract.ts); this is
// only the recovery CLI's path: a tool open recording into a file a coordinator wrote.
describe('heuristic decisions through a tool open', () => {
  it('a commit writes the audit row and a COMMIT record with a fresh seq, re-driven like any other', async () => {
    await withLog('coordinator', async (log) => {
      await log.logCommit({
        txnId: 'tx_0',
        shards: ['a'],
        readOnlyShards: [],
        idempotencyKey: '',
        startedAtMs: 1,
        atMs: 2,
      });
    });
    await withLog('tool', async (log) => {
      expect(await log.logHeuristicDecision(heuristic('tx_1', 'COMMITTED'))).toEqual({
        recorded: true,
        decisionSeq: 2n,
      });
      expect(await log.get('tx_1')).toMatchObject({
        state: 'COMMITTED',
        decisionSeq: 2n,
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
  });
});
