/**
 * `twopc participant` and `twopc coordinator` as real processes: one human line on stdout once
 * serving, JSON logs on stderr, a graceful exit 0 on SIGINT/SIGTERM, and one-line errors (no stack)
 * when they cannot start.
 */
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwopcClient } from '../../client/twopc-client.ts';
import { lines, runCli, startCli, type RunningCli } from '../helpers/cli.ts';

let dir: string;
let schema: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-servers-'));
  schema = path.join(dir, 'schema.sql');
  writeFileSync(
    schema,
    "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);\nINSERT OR IGNORE INTO kv VALUES ('a', 1);\n",
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function participantArgs(shard: string, listen = '127.0.0.1:0'): string[] {
  return [
    'participant',
    '--shard',
    shard,
    '--listen',
    listen,
    '--data-dir',
    path.join(dir, shard),
    '--schema',
    schema,
  ];
}

async function stop(p: RunningCli, signal: NodeJS.Signals): Promise<number | null> {
  p.child.kill(signal);
  const { code } = await p.exited;
  return code;
}

function expectJsonLogs(stderr: string): void {
  for (const line of lines(stderr)) expect(() => JSON.parse(line), line).not.toThrow();
}

function expectOneLineError(stderr: string, message: RegExp): void {
  const human = lines(stderr).filter((l) => !l.startsWith('{'));
  expect(
    human.some((l) => l.startsWith('    at ')),
    stderr,
  ).toBe(false);
  expect(human[0], stderr).toMatch(/^twopc: /);
  expect(human[0]).toMatch(message);
  expect(human.length).toBeLessThanOrEqual(2);
}

describe('participant', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('serves, says so on stdout, and exits 0 on %s', async (signal) => {
    const p = await startCli(participantArgs(`shard-${signal.toLowerCase()}`));
    expect(p.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(p.address).not.toBe('127.0.0.1:0');
    expect(await stop(p, signal)).toBe(0);
    expect(p.output.stdout).toBe(`twopc participant serving on ${p.address}\n`);
    expectJsonLogs(p.output.stderr);
  });

  it('a schema without a primary key is a one-line usage error', async () => {
    const bad = path.join(dir, 'nopk.sql');
    writeFileSync(bad, 'CREATE TABLE IF NOT EXISTS t (a TEXT);\n');
    const r = await runCli([
      'participant',
      '--shard',
      's',
      '--data-dir',
      path.join(dir, 'nopk'),
      '--schema',
      bad,
    ]);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr, /PRIMARY KEY/);
  });

  it('a busy port is a one-line failure (exit 1)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(participantArgs('busy', `127.0.0.1:${port}`));
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
    } finally {
      blocker.close();
    }
  });
});

describe('coordinator', () => {
  it('serves over a participant, runs a transaction, and exits 0 on SIGTERM', async () => {
    const shard = await startCli(participantArgs('shard-c1'));
    const coordinator = await startCli([
      ...['coordinator', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'coordinator')],
      ...[
        '--participant',
        `shard-c1=${shard.address}`,
        '--coordinator-id',
        'c-test',
        '--txn-timeout-ms',
        '5000',
      ],
    ]);
    const client = new TwopcClient(coordinator.address);
    try {
      expect(coordinator.output.stdout).toBe(`twopc coordinator serving on ${coordinator.address}\n`);
      const r = await client.execute([
        { shard: 'shard-c1', table: 'kv', kind: 'ADD', key: { k: 'a' }, values: { v: 41n } },
      ]);
      expect(r.outcome).toBe('COMMITTED');
      expect((await client.query('shard-c1', 'SELECT v FROM kv WHERE k = ?', ['a'])).rows).toEqual([
        { v: 42n },
      ]);
    } finally {
      client.close();
      expect(await stop(coordinator, 'SIGTERM')).toBe(0);
      expect(await stop(shard, 'SIGTERM')).toBe(0);
    }
    expectJsonLogs(coordinator.output.stderr);
  });
});
