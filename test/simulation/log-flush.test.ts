/**
 * The decision log's group commit under the simulator's control (chaos/simulation/log-flush.ts), on a
 * real SQLite log: a lazy write lands after lazyFlushDelayMs of virtual time however much real time
 * passes, a forced write after one simulated fsync, and a crash before the flush loses the batch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lazyFlushDelayMs } from '../../coordinator/decision-log/group-commit.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { Incarnation } from '../../chaos/simulation/incarnation.ts';
import { LogFlushControl } from '../../chaos/simulation/log-flush.ts';
import { Scheduler } from '../../chaos/simulation/scheduler.ts';

const fsyncUs = 300;
let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function setup() {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-log-flush-'));
  const file = path.join(dir, 'decisions.db');
  const log = SqliteDecisionLog.open(file);
  const scheduler = new Scheduler(1_000);
  const node = new Incarnation('coordinator', 1);
  const control = new LogFlushControl(log, scheduler, node, () => fsyncUs);
  return { file, log, scheduler, node, control };
}

const commit = (txnId: string) => ({
  txnId,
  shards: ['a', 'b'],
  readOnlyShards: [],
  idempotencyKey: '',
  startedAtMs: 1,
  atMs: 2,
});
const txnA = `tx_${'0'.repeat(11)}1${'a'.repeat(20)}`;
const txnB = `tx_${'0'.repeat(11)}1${'b'.repeat(20)}`;

describe('LogFlushControl', () => {
  it('flushes a lazy write after lazyFlushDelayMs of virtual time, not of real time', async () => {
    const { log, scheduler } = setup();
    let seq = 0n;
    void log.logCommit(commit(txnA)).then((s) => (seq = s));
    await scheduler.run(() => seq > 0n, 10_000);
    expect(scheduler.elapsedUs).toBe(fsyncUs);
    let ended = false;
    void log.logEnd(txnA, 3).then(() => (ended = true));
    await new Promise((resolve) => setTimeout(resolve, lazyFlushDelayMs * 3)); // real time: nothing
    expect(ended).toBe(false);
    await scheduler.run(() => ended, scheduler.elapsedUs + 100_000);
    expect(scheduler.elapsedUs).toBe(fsyncUs + lazyFlushDelayMs * 1000);
    expect((await log.get(txnA))?.endedAtMs).toBe(3);
    await log.close();
  });

  it('lets a forced write pull a waiting lazy batch forward', async () => {
    const { log, scheduler } = setup();
    await scheduler.run(() => false, 0);
    let both = 0;
    void log
      .logOutcome({
        ...commit(txnA),
        outcome: 'ABORTED',
        abortReason: 'CONFLICT',
        reason: 'x',
        invalid: false,
      })
      .then(() => both++);
    void log.logCommit(commit(txnB)).then(() => both++);
    await scheduler.run(() => both === 2, 100_000);
    expect(scheduler.elapsedUs).toBe(fsyncUs);
    await log.close();
  });

  it('loses the queued batch when the coordinator is killed before its fsync', async () => {
    const { file, log, scheduler, node, control } = setup();
    void log.logCommit(commit(txnA));
    expect(control.pending).toBe(1);
    node.alive = false;
    control.crash(true);
    await log.close();
    await scheduler.run(() => false, 100_000);
    const reopened = SqliteDecisionLog.open(file);
    expect(await reopened.get(txnA)).toBeUndefined();
    await reopened.close();
  });
});
