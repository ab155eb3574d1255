/**
 * Restore to a decision-log cut (`--decision-seq N`) on one shard: the longest prefix of its history
 * with nothing COMMITTED above seq N — found across WAL checkpoints (bisecting inside the index that
 * crosses the cut) and snapshots (a snapshot already past the cut sends the restore to an earlier
 * one). Each transaction commits alone with seq k; t50 is prepared early and committed at its turn,
 * so cuts between its prepare and its commit hold it PREPARED; and every cut holds the next
 * transaction's prepare, which precedes its commit.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commitRange,
  listGenerations,
  prepareOnly,
  range,
  readShard,
  restoreFrom,
  shipSync,
  sleep,
  tempDir,
} from './helpers.ts';

const last = 120;
/** t50 is prepared just before t20 commits, and committed (seq 50) at its turn. */
const early = 50;
const preparedAt = 20;

let dir: string;
let url: string;
beforeAll(async () => {
  dir = tempDir('twopc-cut-');
  url = `file://${path.join(dir, 'replica')}`;
  const file = path.join(dir, 'src', 'shard-a.db');
  const { store, shipping } = await shipSync(file, url, {
    config: { checkpointWalBytesMin: 64 * 1024, snapshotIntervalMs: 100 },
  });
  for (let k = 1; k <= last; k++) {
    if (k === preparedAt) prepareOnly(store, early);
    if (k === early)
      store.decideBatch([{ txnId: `t${early}`, commit: true, decisionSeq: BigInt(early), epoch: 1n }]);
    else commitRange(store, k, 1);
    await shipping.waitDurable({ timeoutMs: 10_000 });
    if (k % 10 === 0) await sleep(60); // time for periodic snapshots
  }
  await shipping.close();
  store.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('restore to a decision-log cut', () => {
  it('restores exactly the prefix before the first commit above N, for every kind of cut', async () => {
    const listing = await listGenerations(url);
    expect(listing.flatMap((g) => g.snapshots).length).toBeGreaterThan(2);
    expect(new Set(listing.flatMap((g) => g.segments.map((s) => s.index))).size).toBeGreaterThan(5);
    const snapshotsUsed = new Set<number>();
    for (const n of [0, 1, 7, preparedAt - 2, preparedAt - 1, 33, early - 1, early, 77, last - 1]) {
      const out = path.join(dir, `cut-${n}.db`);
      const result = await restoreFrom(url, out, { decisionSeq: BigInt(n) });
      snapshotsUsed.add(result.plan.snapshot.index);
      const content = readShard(out);
      expect(content.integrity).toBe('ok');
      expect(content.a, `cut ${n}`).toEqual(range(1, n));
      expect(content.b).toEqual(content.a);
      // The cut falls after t(n+1)'s prepare (its own local commit) and before its commit.
      const next = n + 1 <= last && n + 1 !== early ? [`t${n + 1}`] : [];
      const holdsEarly = n >= preparedAt - 1 && n < early ? [`t${early}`] : [];
      expect(content.prepared, `cut ${n}`).toEqual([...next, ...holdsEarly].sort());
      expect(result.cut).toEqual({ decisionSeq: BigInt(n), reached: true, maxSeq: BigInt(n) });
    }
    // Early cuts had to skip later snapshots: more than one snapshot served.
    expect(snapshotsUsed.size).toBeGreaterThan(1);
    const all = await restoreFrom(url, path.join(dir, 'cut-all.db'), { decisionSeq: 10_000n });
    expect(readShard(path.join(dir, 'cut-all.db')).a).toEqual(range(1, last));
    expect(all.cut).toEqual({ decisionSeq: 10_000n, reached: false, maxSeq: BigInt(last) });
    // A plain restore writes pages straight into the file (page-writer.ts); a cut restore lets SQLite
    // recover and checkpoint each WAL. Both must produce the very same file.
    const latest = await restoreFrom(url, path.join(dir, 'latest.db'));
    expect(latest.plan).toEqual(all.plan);
    expect(sha256(path.join(dir, 'latest.db'))).toBe(sha256(path.join(dir, 'cut-all.db')));
  });
});
