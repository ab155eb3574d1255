/**
 * The replication flags and commands as a user meets them, through real `node cli/bin.mjs`
 * processes: subcommand help pages (`shard restore --help` is the restore page, as `recover status
 * --help` is the status page), one-line errors for bad replica flags on `participant` and `dev`, and
 * `twopc dev` shipping every shard to `file://DIR/replica` by default, restorable with the command
 * its banner prints.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, lines, runCli, startCli, type CliResult } from '../helpers/cli.ts';
import { freePortRange } from '../helpers/ports.ts';
import { tempDir } from '../wal/helpers.ts';

let dir: string;
let schema: string;
beforeAll(() => {
  dir = tempDir('twopc-cli-replication-');
  schema = path.join(dir, 'schema.sql');
  fs.writeFileSync(schema, 'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY);\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function expectOneLineError(r: CliResult, message: RegExp): void {
  const err = lines(r.stderr);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(err[0]).toMatch(/^twopc: /);
  expect(err[0]).toMatch(message);
  expect(err.length).toBeLessThanOrEqual(2);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('subcommand help', () => {
  it.each([
    [['shard', '--help'], 'Usage: npx twopc shard <subcommand>'],
    [['shard', 'restore', '--help'], 'Usage: npx twopc shard restore --replica URL'],
    [['shard', 'restore', '--bogus', '-h'], 'Usage: npx twopc shard restore --replica URL'],
    [['shard', 'replica', 'ls', '--help'], 'Usage: npx twopc shard replica ls'],
    [['shard', 'replica', 'verify', '--help'], 'Usage: npx twopc shard replica verify'],
    [['recover', 'status', '--help'], 'Usage: npx twopc recover status'],
    [['recover', '--help'], 'Usage: npx twopc recover <subcommand>'],
  ])('%j prints its own page', async (args, heading) => {
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith(heading), r.stdout.slice(0, 200)).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('participant --help says that without --replica nothing is shipped', async () => {
    const r = await runCli(['participant', '--help']);
    expect(r.stdout).toMatch(/--replica URL/);
    expect(r.stdout).toMatch(/--replication MODE/);
    expect(r.stdout).toMatch(/--sync-interval MS/);
    expect(r.stdout).toMatch(/without --replica NOTHING is shipped/);
  });
});

describe('replica flag mistakes are one line and exit 2', () => {
  const participant = (...extra: string[]) =>
    runCli(['participant', '--shard', 's', '--data-dir', path.join(dir, 'p'), '--schema', schema, ...extra]);

  it.each([
    [['--replica', 'ftp://x'], /--replica: "ftp:\/\/x" is not a file:\/\/ or s3:\/\/ URL/],
    [['--replica', 's3://B/x?endpoint=http://h:1'], /"B" is not an S3 bucket name/],
    [['--replica', 's3://bucket/x?colour=red'], /unknown parameter "colour"/],
    [
      ['--replica', 'file:///tmp/r', '--replication', 'eventually'],
      /--replication: "eventually" is not one of async, sync/,
    ],
    [
      ['--replica', 'file:///tmp/r', '--sync-interval', '5'],
      /--sync-interval: "5" is not an integer from 10 to 3600000/,
    ],
    [['--replication', 'sync'], /--replication and --sync-interval need --replica URL/],
    [['--sync-interval', '100'], /--replication and --sync-interval need --replica URL/],
  ])('participant %j', async (extra, message) => {
    expectOneLineError(await participant(...extra), message);
    expect(fs.existsSync(path.join(dir, 'p', 's.db'))).toBe(false); // refused before anything was opened
  });

  it.each([
    [['--replica', 'ftp://x'], /--replica: "ftp:\/\/x" is not a file:\/\/ or s3:\/\/ URL/],
    [['--replication', 'maybe'], /--replication: "maybe" is not one of async, sync/],
  ])('dev %j', async (extra, message) => {
    expectOneLineError(await runCli(['dev', '--data-dir', path.join(dir, 'dev-bad'), ...extra]), message);
  });
});

describe('twopc dev ships to file://DIR/replica by default', () => {
  it('prints the replica and a restore command in its banner; that command restores a shard', async () => {
    const dataDir = path.join(dir, 'dev');
    const basePort = await freePortRange(4);
    const dev = await startCli(['dev', '--data-dir', dataDir, '--port', String(basePort)]);
    try {
      expect(dev.output.stdout).toMatch(/WAL is shipped to file:\/\/\S*replica \(async\)/);
      const transfer = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, 'examples', 'transfer.mjs')], {
          env: { ...process.env, TWOPC_ADDR: dev.address },
          stdio: 'ignore',
        });
        child.once('close', resolve);
      });
      expect(transfer).toBe(0);
    } finally {
      dev.child.kill('SIGTERM');
    }
    expect((await dev.exited).code, dev.output.stderr).toBe(0);

    // The banner's command, with the output moved aside (dev's own file stays as it is).
    const command = /npx twopc (shard restore --replica '([^']+)' --shard (shard-a) --output (\S+))/.exec(
      dev.output.stdout,
    );
    expect(command, dev.output.stdout).not.toBeNull();
    const [, , url, shard, output] = command as RegExpExecArray;
    expect(path.resolve(ROOT, output as string)).toBe(path.join(dataDir, 'shard-a', 'shard-a.db'));
    const restored = path.join(dir, 'restored-shard-a.db');
    const r = await runCli([
      'shard',
      'restore',
      '--replica',
      url as string,
      '--shard',
      shard as string,
      '--output',
      restored,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const db = new Database(restored, { readonly: true });
    try {
      // examples/transfer.mjs moved 10 away from account 1 of shard-a; a graceful stop shipped it.
      expect(db.prepare('SELECT balance FROM accounts WHERE id = 1').get()).toEqual({ balance: 90 });
    } finally {
      db.close();
    }
  });
});
