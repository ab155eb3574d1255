/**
 * `npx twopc shard …` end to end on a real replica: output, exit codes, and one-line errors. The
 * command runs in-process through the same error mapping as `cli/main.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../helpers/cli.ts';
import { run } from '../../cli/shard.ts';
import { commitRange, openStore, prepareOnly, range, readShard, shipSync, tempDir } from './helpers.ts';

let dir: string;
let url: string;
beforeAll(async () => {
  dir = tempDir();
  url = `file://${path.join(dir, 'replica')}`;
  const file = path.join(dir, 'src', 'shard-a.db');
  const { store, shipping } = await shipSync(file, url);
  commitRange(store, 1, 30);
  prepareOnly(store, 31);
  await shipping.waitDurable({ timeoutMs: 10_000 });
  await shipping.close();
  store.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `twopc shard ARGV` in this process: exit code and output. */
function shard(...argv: string[]): ReturnType<typeof runInProcess> {
  return runInProcess(run, argv);
}

describe('npx twopc shard', () => {
  it('replica ls lists the generation', async () => {
    const r = await shard('replica', 'ls', '--replica', url);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/shard shard-a/);
    expect(r.stdout).toMatch(/\d{8}T\d{9}Z-[0-9a-f]{8}\s+1\s+\d+/);
    const json = JSON.parse(
      (await shard('replica', 'ls', '--replica', url, '--shard', 'shard-a', '--json')).stdout,
    );
    expect(json['shard-a']).toHaveLength(1);
  });

  it('replica verify says ok, restore writes a checked file that keeps the in-doubt transaction', async () => {
    expect((await shard('replica', 'verify', '--replica', url, '--shard', 'shard-a')).stdout).toMatch(
      /replica ok/,
    );
    const output = path.join(dir, 'out', 'shard-a.db');
    const r = await shard('restore', '--replica', url, '--shard', 'shard-a', '--output', output);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/integrity\s+ok; 1 prepared transaction/);
    expect(readShard(output).a).toEqual(range(1, 30));
    expect(readShard(output).prepared).toEqual(['t31']);
    const again = await shard('restore', '--replica', url, '--shard', 'shard-a', '--output', output);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists\nhint: .*--force/);
    expect(
      (await shard('restore', '--replica', url, '--shard', 'shard-a', '--output', output, '--force')).code,
    ).toBe(0);
  });

  it('--json prints the summary as one object', async () => {
    const output = path.join(dir, 'json', 'shard-a.db');
    const r = await shard('restore', '--replica', url, '--shard', 'shard-a', '--output', output, '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ shard: 'shard-a', output, inDoubt: 1, integrity: 'ok', walIndexes: 1 });
    expect(summary.segments).toBeGreaterThan(0);
    expect(summary.mbPerSec).toBeGreaterThan(0);
  });

  it("a WAL left beside the output is another database's: refused, and --force removes it unapplied", async () => {
    const output = path.join(dir, 'stale', 'shard-a.db');
    // A foreign database's WAL, with frames SQLite would replay onto whatever file is beside it.
    const foreign = path.join(dir, 'stale-src', 'shard-a.db');
    const store = openStore(foreign);
    commitRange(store, 1000, 5);
    fs.mkdirSync(path.dirname(output), { recursive: true });
    fs.copyFileSync(`${foreign}-wal`, `${output}-wal`);
    store.close();
    const refused = await shard('restore', '--replica', url, '--shard', 'shard-a', '--output', output);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/shard-a\.db-wal exists: the WAL of another database.*\nhint: .*--force/);
    expect(fs.existsSync(output)).toBe(false);
    const forced = await shard(
      'restore',
      '--replica',
      url,
      '--shard',
      'shard-a',
      '--output',
      output,
      '--force',
    );
    expect(forced.code).toBe(0);
    expect(fs.existsSync(`${output}-wal`)).toBe(false);
    const content = readShard(output);
    expect(content.integrity).toBe('ok');
    expect(content.a).toEqual(range(1, 30));
  });

  it('usage mistakes exit 2 with one line; unsupported and impossible requests exit 1', async () => {
    const out = path.join(dir, 'x.db');
    const bad = await shard(
      'restore',
      '--replica',
      url,
      '--shard',
      'shard-a',
      '--output',
      out,
      '--at',
      'yesterday',
    );
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.stderr).toMatch(/^twopc: --at: "yesterday" is not an ISO 8601 time\n/);
    expect((await shard('restore', '--replica', 'ftp://x', '--shard', 'shard-a', '--output', out)).code).toBe(
      2,
    );
    expect((await shard('frobnicate')).code).toBe(2);
    const early = await shard(
      'restore',
      '--replica',
      url,
      '--shard',
      'shard-a',
      '--output',
      out,
      '--at',
      '2001-01-01T00:00:00Z',
    );
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/nothing to restore/);
    const base = ['restore', '--replica', url, '--shard', 'shard-a', '--output', out];
    const both = await shard(...base, '--decision-seq', '5', '--at', '2001-01-01T00:00:00Z');
    expect(both).toMatchObject({
      code: 2,
      stderr: 'twopc: shard restore: give --at TIME or --decision-seq N, not both\n',
    });
    const notSeq = await shard(...base, '--decision-seq', 'x5');
    expect(notSeq.code).toBe(2);
    expect(notSeq.stderr).toMatch(/^twopc: --decision-seq: "x5" is not a decision sequence number\n/);
    expect(fs.existsSync(out)).toBe(false);
    // t1..t30 commit in one local transaction (seqs 1..30): the cut at 5 falls before it, all prepared.
    const cut = await shard(...base, '--decision-seq', '5');
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stdout).toMatch(/cut\s+decision seq 5: found in the replica; highest seq committed here 0\n/);
    expect(cut.stdout).toMatch(/30 prepared transaction\(s\) in doubt/);
    expect(readShard(out).prepared).toHaveLength(30);
  });

  it('replica verify exits 1 and names a damaged object', async () => {
    const seg = fs
      .readdirSync(path.join(dir, 'replica'), { recursive: true, encoding: 'utf8' })
      .find((f) => f.endsWith('.seg')) as string;
    const file = path.join(dir, 'replica', seg);
    const original = fs.readFileSync(file);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 20] = (flipped[flipped.length - 20] as number) ^ 0x10;
    fs.writeFileSync(file, flipped);
    try {
      const r = await shard('replica', 'verify', '--replica', url, '--shard', 'shard-a');
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(path.basename(seg));
      expect(r.stdout).toMatch(/trial restore: FAILED/);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('the last segment cut short (an interrupted upload) is a note, and restore leaves it out', async () => {
    const seg = fs
      .readdirSync(path.join(dir, 'replica'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.seg'))
      .sort()
      .at(-1) as string;
    const file = path.join(dir, 'replica', seg);
    const original = fs.readFileSync(file);
    fs.writeFileSync(file, original.subarray(0, original.length - 1));
    try {
      const r = await shard('replica', 'verify', '--replica', url, '--shard', 'shard-a');
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/note: left out .*an upload a crash cut short/);
      const output = path.join(dir, 'cut-short', 'shard-a.db');
      const restored = await shard('restore', '--replica', url, '--shard', 'shard-a', '--output', output);
      expect(restored.code).toBe(0);
      expect(restored.stdout).toMatch(/note {7}left out .*\.seg: incomplete/);
    } finally {
      fs.writeFileSync(file, original);
    }
  });
});
