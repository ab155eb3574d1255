/**
 * Restore: point in time across checkpoints and snapshots; damaged or missing segments are
 * detected and reported, never applied (and nothing is written); retention keeps every point in
 * its window restorable.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKey } from '../../participant/replica/layout.ts';
import { openReplicaClient, parseReplicaUrl } from '../../participant/replica/replica-url.ts';
import { ShardReplica } from '../../participant/replica/shard-replica.ts';
import { verifyReplica } from '../../participant/restore/verify.ts';
import { startWalShipping } from '../../participant/wal/start-wal-shipping.ts';
import {
  commitRange,
  listGenerations,
  openStore,
  range,
  readShard,
  restoreFrom,
  S3rverProcess,
  shipSync,
  sleep,
  tempDir,
  useS3rverCredentials,
} from './helpers.ts';

let s3: S3rverProcess;
let dir: string;
beforeAll(async () => {
  useS3rverCredentials();
  s3 = await S3rverProcess.start();
  dir = tempDir();
});
afterAll(async () => {
  await s3.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('point-in-time restore', () => {
  it('returns exactly the acknowledged state at each time, across checkpoints and snapshots', async () => {
    const file = path.join(dir, 'pit', 'shard-a.db');
    const url = s3.url('pit');
    const { store, shipping } = await shipSync(file, url, {
      config: { checkpointWalBytesMin: 64 * 1024, snapshotIntervalMs: 150 },
    });
    const marks: number[] = [];
    for (let phase = 0; phase < 5; phase++) {
      for (let b = 0; b < 5; b++) {
        commitRange(store, phase * 50 + b * 10 + 1, 10);
        await shipping.waitDurable({ timeoutMs: 10_000 });
      }
      await sleep(40);
      marks.push(Date.now());
      await sleep(40);
    }
    await shipping.close();
    store.close();
    const snapshots = (await listGenerations(url)).flatMap((g) => g.snapshots);
    expect(snapshots.length).toBeGreaterThan(1);
    const used = new Set<number>();
    for (const [phase, atMs] of marks.entries()) {
      const out = path.join(dir, 'pit', `at-${phase}.db`);
      const result = await restoreFrom(url, out, { atMs });
      used.add(result.plan.snapshot.index);
      const content = readShard(out);
      expect(content.a, `phase ${phase}`).toEqual(range(1, (phase + 1) * 50));
      expect(content.b).toEqual(content.a);
      expect(content.integrity).toBe('ok');
    }
    expect(used.size).toBeGreaterThan(1); // later points start from later snapshots
    await expect(
      restoreFrom(url, path.join(dir, 'pit', 'early.db'), { atMs: (marks[0] as number) - 60_000 }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('damaged replicas', () => {
  let replicaDir: string;
  let url: string;

  beforeAll(async () => {
    replicaDir = path.join(dir, 'damage-replica');
    url = `file://${replicaDir}`;
    const file = path.join(dir, 'damage', 'shard-a.db');
    const { store, shipping } = await shipSync(file, url, { config: { checkpointWalBytesMin: 400 * 1024 } });
    for (let k = 1; k <= 200; k += 5) {
      commitRange(store, k, 5);
      await shipping.waitDurable({ timeoutMs: 10_000 });
    }
    await shipping.close();
    store.close();
  });

  /** Segment files by index, in order. */
  function segments(): Map<number, string[]> {
    const wal = fs
      .readdirSync(replicaDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.seg'))
      .sort();
    const byIndex = new Map<number, string[]>();
    for (const f of wal) {
      const parsed = parseKey('shard-a', f, 0);
      if (parsed.kind !== 'segment') continue;
      byIndex.set(parsed.ref.index, [...(byIndex.get(parsed.ref.index) ?? []), path.join(replicaDir, f)]);
    }
    return byIndex;
  }

  /** Applies `damage` to the replica, expects restore and verify to report it, then undoes it. */
  async function expectDetected(damage: () => () => void, message: RegExp): Promise<void> {
    const undo = damage();
    try {
      const out = path.join(dir, 'damage', `restored-${Math.random().toString(16).slice(2)}.db`);
      await expect(restoreFrom(url, out)).rejects.toThrow(message);
      expect(fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith(path.basename(out)))).toEqual([]); // nothing written
      const replica = new ShardReplica(await openReplicaClient(parseReplicaUrl(url)), 'shard-a');
      const report = await verifyReplica(replica, { trialRestore: false });
      expect(report.problems).toBeGreaterThan(0);
      expect(report.generations.flatMap((g) => g.problems).join('\n')).toMatch(message);
    } finally {
      undo();
    }
  }

  function middleIndex(): { index: number; files: string[] } {
    const withSeveral = [...segments()].filter(([i, files]) => i > 0 && files.length >= 3);
    const [index, files] = withSeveral[Math.floor(withSeveral.length / 2)] as [number, string[]];
    return { index, files };
  }

  function replaceFile(file: string, bytes: Buffer | undefined): () => void {
    const original = fs.readFileSync(file);
    if (bytes === undefined) fs.rmSync(file);
    else fs.writeFileSync(file, bytes);
    return () => fs.writeFileSync(file, original);
  }

  it('the intact replica restores and verifies', async () => {
    expect(segments().size).toBeGreaterThan(2);
    const out = path.join(dir, 'damage', 'intact.db');
    await restoreFrom(url, out);
    expect(readShard(out).a).toEqual(range(1, 200));
    const replica = new ShardReplica(await openReplicaClient(parseReplicaUrl(url)), 'shard-a');
    expect((await verifyReplica(replica)).problems).toBe(0);
  });

  it('a flipped bit in a segment', async () => {
    const file = middleIndex().files[1] as string;
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 0x10;
    await expectDetected(() => replaceFile(file, bytes), /is corrupt/);
  });

  it('a truncated segment', async () => {
    const file = middleIndex().files[1] as string;
    await expectDetected(() => replaceFile(file, fs.readFileSync(file).subarray(0, 40)), /is corrupt/);
  });

  function lastSegment(): string {
    const byIndex = segments();
    return byIndex.get(Math.max(...byIndex.keys()))?.at(-1) as string;
  }

  it('the last segment cut short (an interrupted upload to a store without atomic writes) is left out', async () => {
    const file = lastSegment();
    const key = path.relative(replicaDir, file);
    for (const length of [0, 10, 200]) {
      const undo = replaceFile(file, fs.readFileSync(file).subarray(0, length));
      try {
        const out = path.join(dir, 'damage', `cut-short-${length}.db`);
        const result = await restoreFrom(url, out);
        expect(result.leftOut).toEqual([key]);
        const content = readShard(out);
        expect(content.integrity).toBe('ok');
        // A prefix of the history that stops just before the cut-short segment's commits.
        expect(content.a).toEqual(range(1, content.a.length));
        expect(content.a.length).toBeGreaterThanOrEqual(190);
        expect(content.a.length).toBeLessThan(200);
        const replica = new ShardReplica(await openReplicaClient(parseReplicaUrl(url)), 'shard-a');
        const report = await verifyReplica(replica);
        expect(report.problems).toBe(0);
        expect(report.generations.flatMap((g) => g.notes).join('\n')).toMatch(
          /left out .*an upload a crash cut short/,
        );
      } finally {
        undo();
      }
    }
  });

  it('a prefix beside a complete segment at the same WAL offset (a dead incarnation’s upload, superseded) is left out', async () => {
    const file = middleIndex().files[1] as string;
    const m = /^(\d+)-(\d+)-(\d+)\.seg$/.exec(path.basename(file));
    expect(m).not.toBeNull();
    // The dead incarnation read the same WAL offset a moment earlier: its key sorts just before.
    const readAtMs = String(Number(m![3]) - 1).padStart(m![3]!.length, '0');
    const zombie = path.join(path.dirname(file), `${m![1]}-${m![2]}-${readAtMs}.seg`);
    const key = path.relative(replicaDir, zombie);
    for (const length of [0, 30]) {
      fs.writeFileSync(zombie, fs.readFileSync(file).subarray(0, length));
      try {
        const out = path.join(dir, 'damage', `superseded-${length}.db`);
        const result = await restoreFrom(url, out);
        expect(result.leftOut).toEqual([key]);
        expect(readShard(out).a).toEqual(range(1, 200));
        const replica = new ShardReplica(await openReplicaClient(parseReplicaUrl(url)), 'shard-a');
        expect((await verifyReplica(replica, { trialRestore: false })).problems).toBe(0);
      } finally {
        fs.rmSync(zombie);
      }
    }
  });

  it('the last segment damaged in any other way is still an error', async () => {
    const file = lastSegment();
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 0x10;
    await expectDetected(() => replaceFile(file, bytes), /is corrupt/);
  });

  it('a segment missing in the middle of a WAL index', async () => {
    await expectDetected(
      () => replaceFile(middleIndex().files[1] as string, undefined),
      /segment missing: .*jumps from offset/,
    );
  });

  it('the first segment of a WAL index missing', async () => {
    await expectDetected(() => replaceFile(middleIndex().files[0] as string, undefined), /segment missing/);
  });

  it('a whole WAL index missing', async () => {
    const { files } = middleIndex();
    await expectDetected(() => {
      const undos = files.map((f) => replaceFile(f, undefined));
      return () => undos.forEach((u) => u());
    }, /segment missing: no segment of WAL index/);
  });

  it('a corrupted snapshot', async () => {
    const snap = fs
      .readdirSync(replicaDir, { recursive: true, encoding: 'utf8' })
      .find((f) => f.endsWith('.snap')) as string;
    const file = path.join(replicaDir, snap);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x01;
    await expectDetected(() => replaceFile(file, bytes), /is corrupt/);
  });
});

describe('retention', () => {
  it('deletes what no restore in the window needs; every point in the window stays restorable', async () => {
    const file = path.join(dir, 'retention', 'shard-a.db');
    const url = `file://${path.join(dir, 'retention-replica')}`;
    const store = openStore(file);
    const retentionMs = 500;
    const shipping = await startWalShipping({
      dbPath: file,
      shard: 'shard-a',
      replicaUrl: url,
      mode: 'async',
      syncIntervalMs: 40,
      config: {
        checkpointWalBytesMin: 0,
        snapshotIntervalMs: 150,
        retentionMs,
        retentionCheckIntervalMs: 50,
      },
    });
    const marks: Array<{ atMs: number; last: number }> = [];
    let next = 1;
    const endMs = Date.now() + 1_800;
    while (Date.now() < endMs) {
      commitRange(store, next, 2);
      next += 2;
      await shipping.waitDurable({ timeoutMs: 10_000 });
      marks.push({ atMs: Date.now(), last: next - 1 });
      await sleep(15);
    }
    const nowMs = Date.now();
    // Retention deletes snapshots before segments (an interrupted run never leaves a gap), so a listing
    // taken while a run is deleting can show segments below the oldest snapshot for a moment. Between
    // runs (every 50 ms) it cannot: look until a listing shows a settled replica.
    let generation: Awaited<ReturnType<typeof listGenerations>>[number] | undefined;
    for (let attempt = 0; attempt < 40; attempt++) {
      [generation] = await listGenerations(url);
      if (generation?.segments[0]?.index === generation?.snapshots[0]?.index) break;
      await sleep(10);
    }
    await shipping.close();
    store.close();
    expect(generation?.snapshots[0]?.index).toBeGreaterThan(0); // old snapshots were deleted
    expect(generation?.segments[0]?.index).toBe(generation?.snapshots[0]?.index); // and the segments before them
    // A point well inside the window (retention runs every 50 ms, so allow that much).
    const inside = marks.filter((m) => m.atMs >= nowMs - retentionMs + 150).at(0) as {
      atMs: number;
      last: number;
    };
    const out = path.join(dir, 'retention', 'inside.db');
    await restoreFrom(url, out, { atMs: inside.atMs });
    expect(readShard(out).a).toEqual(range(1, inside.last));
    const latest = path.join(dir, 'retention', 'latest.db');
    await restoreFrom(url, latest);
    expect(readShard(latest).a).toEqual(range(1, next - 1));
  });
});
