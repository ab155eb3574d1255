/**
 * `npx twopc chaos` as a user meets it: help, one-line errors with exit 2, and Ctrl-C in the middle of
 * a run (nothing left behind, s3rver and redis-server included; exit 130).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_BIN, ROOT, lines, runCli } from '../helpers/cli.ts';
import { processesMentioning } from './chaos-runs.ts';

describe('twopc chaos flags', () => {
  it('prints its help with every fault kind', async () => {
    const r = await runCli(['chaos', '--help']);
    expect(r.code).toBe(0);
    for (const word of [
      '--seed',
      '--duration',
      '--workload',
      '--faults',
      '--out',
      '--clients',
      'kill',
      'pause',
      'partition',
      'delay',
      'failpoints',
      'replica-outage',
      'redis-outage',
      '--replication',
      '--decision-log',
    ])
      expect(r.stdout).toContain(word);
  });

  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['--workload', 'ledger'], /--workload: "ledger" is not bank or list-append/],
    [['--faults', 'kill,flood'], /--faults: unknown fault "flood"/],
    [['--faults', 'replica-outage', '--replication', 'off'], /replica-outage needs WAL shipping/],
    [
      ['--faults', 'kill,redis-outage', '--decision-log', 'sqlite'],
      /redis-outage needs the Redis decision log/,
    ],
    [['--replication', 'maybe'], /--replication: "maybe" is not one of off, async, sync/],
    [['--decision-log', 'etcd'], /--decision-log: "etcd" is not one of sqlite, redis/],
    [['--duration', '5x'], /--duration: "5x" is not a duration/],
    [['--duration', '0s'], /--duration: "0s" is not a duration/],
    [['--clients', '0'], /--clients: "0" is not an integer from 1/],
    [['--targets', 'shard-z'], /--targets: unknown target "shard-z"/],
    [['--mutation', 'typo'], /--mutation: unknown mutation "typo"/],
  ])('refuses %j with one line and exit 2', async (args, message) => {
    const r = await runCli(['chaos', ...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const err = lines(r.stderr);
    expect(err[0]).toMatch(/^twopc: /);
    expect(err[0]).toMatch(message);
    expect(err.length).toBeLessThanOrEqual(2);
  });
});

describe('twopc chaos on SIGINT', () => {
  it('kills every process it started, writes what it has, and exits 130', { timeout: 120_000 }, async () => {
    const outDir = mkdtempSync(path.join(tmpdir(), 'twopc-chaos-sigint-'));
    const args = [
      'chaos',
      '--seed',
      '9',
      '--duration',
      '60s',
      '--faults',
      'pause,kill,replica-outage,redis-outage',
      '--out',
      outDir,
    ];
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const running = new Promise<void>((resolve) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        // The workload is running: interrupt a little later, in the middle of things.
        if (/chaos: bank with/.test(stderr)) setTimeout(resolve, 3_000);
      });
    });
    const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await Promise.race([running, closed]);
    child.kill('SIGINT');
    const code = await closed;
    const context = `stdout:\n${stdout}\nstderr:\n${stderr}`;
    expect(code, context).toBe(130);
    expect(stdout, context).toMatch(/INTERRUPTED/);
    expect(existsSync(path.join(outDir, 'history.jsonl'))).toBe(true);
    expect(existsSync(path.join(outDir, 'summary.json'))).toBe(true);
    expect(processesMentioning(outDir), context).toEqual([]);
    rmSync(outDir, { recursive: true, force: true });
  });
});
