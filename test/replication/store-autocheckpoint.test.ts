/**
 * ShardStore's `walAutocheckpointPages`: with SQLite's default the store's own connection
 * checkpoints and the WAL file stops growing at about 1000 pages; with 0 (what the participant uses
 * when WAL shipping is on, the shipper owning checkpoints) it never checkpoints, so the WAL keeps
 * every frame until the shipper has shipped it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrepareMessage } from '../../common/protocol.ts';
import { ShardStore, WAL_AUTOCHECKPOINT_PAGES_DEFAULT } from '../../participant/shard-store.ts';
import { tempDir } from '../wal/helpers.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);';
const PAGE_BYTES = 4096;
/** A WAL frame is a 24-byte header and a page. */
const FRAME_BYTES = PAGE_BYTES + 24;
/** About one page per row (it is written twice: the pending after-image, then the row). */
const payload = 'x'.repeat(3_500);

let dir: string;
beforeAll(() => {
  dir = tempDir('twopc-autocheckpoint-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function prepare(k: number): PrepareMessage {
  return {
    txnId: `t${k}`,
    ops: [{ table: 't', kind: 'INSERT', key: { k: BigInt(k) }, values: { v: payload } }],
    reads: [],
    onePhase: false,
    readOnlyOk: false,
    peers: [{ shard: 'shard-b', address: '127.0.0.1:1' }],
    coordinatorId: 'coord-test',
    epoch: 1n,
    deadlineMs: Date.now() + 60_000,
  };
}

/** Commits `rows` one-page rows in batches of 50 and returns the WAL's size in frames. */
function writeAndMeasure(walAutocheckpointPages: number | undefined, rows: number): number {
  const file = path.join(dir, `auto-${walAutocheckpointPages ?? 'default'}.db`);
  const store = ShardStore.open({
    path: file,
    shard: 'shard-a',
    schemaSql: SCHEMA,
    ...(walAutocheckpointPages === undefined ? {} : { walAutocheckpointPages }),
  });
  try {
    for (let first = 1; first <= rows; first += 50) {
      const ks = Array.from({ length: 50 }, (_, i) => first + i);
      const votes = store.prepareBatch(ks.map(prepare));
      expect(votes.every((v) => v.vote === 'YES')).toBe(true);
      store.decideBatch(ks.map((k) => ({ txnId: `t${k}`, commit: true, decisionSeq: BigInt(k), epoch: 1n })));
    }
    return fs.statSync(`${file}-wal`).size / FRAME_BYTES;
  } finally {
    store.close();
  }
}

describe('ShardStore walAutocheckpointPages', () => {
  it("defaults to SQLite's 1000 pages: the WAL stops growing", () => {
    expect(WAL_AUTOCHECKPOINT_PAGES_DEFAULT).toBe(1_000);
    const frames = writeAndMeasure(undefined, 1_500);
    expect(frames).toBeLessThan(WAL_AUTOCHECKPOINT_PAGES_DEFAULT + 400);
  });

  it('0 turns automatic checkpoints off: the WAL keeps every frame', () => {
    const frames = writeAndMeasure(0, 1_500);
    expect(frames).toBeGreaterThan(2 * 1_500);
  });

  it('refuses a value that is not a page count', () => {
    for (const bad of [-1, 1.5, Number.NaN])
      expect(() =>
        ShardStore.open({
          path: path.join(dir, 'bad.db'),
          shard: 'shard-a',
          schemaSql: SCHEMA,
          walAutocheckpointPages: bad,
        }),
      ).toThrow(/walAutocheckpointPages/);
  });
});
