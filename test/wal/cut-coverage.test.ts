/**
 * Coverage of a cut by a replica that ends before it: shard-a ships t1..t30 and then sits idle while
 * shard-c commits b1 (seq 31). shard-a's replica ends long before seq 31 was decided, yet it holds
 * the whole cut at 31, because no decision made after its last shipped read names it. A log in which
 * a decision after that read does name shard-a must still be refused. (shard-c, not shard-b: the
 * helpers' transactions name shard-b as their peer, and it must not be one of the restored shards.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../helpers/cli.ts';
import { run } from '../../cli/cluster.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { commitRange, commitTxn, range, readShard, shipSync, sleep, tempDir } from './helpers.ts';
import type { ShardStore } from '../../participant/shard-store.ts';

/** Longer than coverageClockMarginMs: shard-a's last read is clearly before b1's decision. */
const idleMs = 1_500;

let dir: string;
let url: string;
let aShippedAtMs: number;
let bDecidedAtMs: number;

async function ship(shard: string, write: (store: ShardStore) => void): Promise<void> {
  const file = path.join(dir, 'src', `${shard}.db`);
  const { store, shipping } = await shipSync(file, url, { shard });
  write(store);
  await shipping.waitDurable({ timeoutMs: 10_000 });
  await shipping.close();
  store.close();
}

/** t1..t30 on shard-a decided at `aAtMs`, then b1 on `bShards` decided at bDecidedAtMs. */
async function writeLog(file: string, aAtMs: number, bShards: string[]): Promise<void> {
  const log = SqliteDecisionLog.open(file);
  const commit = (txnId: string, shards: string[], atMs: number) =>
    log.logCommit({ txnId, shards, readOnlyShards: [], idempotencyKey: '', startedAtMs: atMs, atMs });
  for (let k = 1; k <= 30; k++) await commit(`t${k}`, ['shard-a'], aAtMs);
  expect(await commit('b1', bShards, bDecidedAtMs)).toBe(31n);
  await log.close();
}

beforeAll(async () => {
  dir = tempDir('twopc-cut-coverage-');
  url = `file://${path.join(dir, 'replica')}`;
  const startMs = Date.now();
  await ship('shard-a', (store) => commitRange(store, 1, 30));
  aShippedAtMs = Date.now();
  await sleep(idleMs);
  bDecidedAtMs = Date.now();
  await ship('shard-c', (store) => commitTxn(store, 'b1', 1, 31n));
  // shard-a's decisions well before its last shipped read (more than the clock margin).
  await writeLog(path.join(dir, 'idle.db'), startMs - 5_000, ['shard-c']);
  await writeLog(path.join(dir, 'busy.db'), startMs - 5_000, ['shard-a', 'shard-c']);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `twopc cluster ARGV` in this process: exit code and output. */
function cluster(...argv: string[]): ReturnType<typeof runInProcess> {
  return runInProcess(run, argv);
}

function restoreArgs(log: string, out: string): string[] {
  return [
    'restore', '--replica', url, '--shard', 'shard-a', '--shard', 'shard-c',
    '--decision-log', path.join(dir, log), '--output-dir', path.join(dir, out), '--decision-seq', '31',
  ]; // prettier-ignore
}

describe('cluster restore: a replica that ends before the cut', () => {
  it('covers the cut when no later decision names its shard (an idle shard)', async () => {
    expect(bDecidedAtMs - aShippedAtMs).toBeGreaterThanOrEqual(idleMs);
    const r = await cluster(...restoreArgs('idle.db', 'idle'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/shard-a\s+highest seq 30; .*replica ends before the cut, covered/);
    expect(readShard(path.join(dir, 'idle', 'shard-a', 'shard-a.db')).a).toEqual(range(1, 30));
    expect(readShard(path.join(dir, 'idle', 'shard-c', 'shard-c.db')).a).toEqual([1]);
  });

  it('refuses it when a decision after its last shipped read names it', async () => {
    const r = await cluster(...restoreArgs('busy.db', 'busy'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^twopc: shard shard-a's replica ends at .*before decision seq 31 was made/);
    expect(fs.existsSync(path.join(dir, 'busy', 'shard-a', 'shard-a.db'))).toBe(false);
  });
});
