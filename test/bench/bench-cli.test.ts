/**
 * `npx twopc bench` through the real CLI: flag mistakes, and one tiny run of every system that checks
 * the JSON's shape, that ratios are computed, and that nothing is left behind. Not a timed assertion:
 * the numbers of a 1-second run on a shared machine mean nothing.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchOptions, usage } from '../../cli/bench.ts';
import { CLI_BIN, lines, processAlive, runCli } from '../helpers/cli.ts';

/** Start-up of s3rver, nine twopc processes and a PostgreSQL initdb, then ~14 one-second slices, on a busy box. */
const smokeRunTimeoutMs = 240_000;

function runBench(
  args: readonly string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, 'bench', ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), smokeRunTimeoutMs - 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('twopc bench flags', () => {
  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['--clients', '0'], /--clients: "0" is not an integer from 1 to 512/],
    [['--clients', '1,x'], /--clients: "x"/],
    [['--systems', 'twopc,mysql'], /--systems: "mysql" is not one of twopc, postgres, sqlite/],
    [['--scenarios', '3shard'], /--scenarios: "3shard"/],
    [['--duration', 'soon'], /--duration: "soon" is not a duration/],
    [['--duration', '200ms', '--rounds', '4'], /slices under 100 ms/],
  ])('%j is a usage error: one line, exit 2', async (args, message) => {
    const r = await runCli(['bench', ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const [first] = lines(r.stderr);
    expect(first).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('has defaults for a full run and a --quick one', () => {
    const full = parseBenchOptions([], '/x');
    expect(full).toMatchObject({
      quick: false,
      durationMs: 10_000,
      warmupMs: 1_000,
      prewarmMs: 10_000,
      rounds: 2,
      clients: [1, 16, 64],
      systems: ['twopc', 'postgres', 'sqlite'],
      scenarios: ['2shard', '1shard', '2shard-wal-async', '2shard-wal-sync'],
      jsonPath: '/x/bench-results.json',
    });
    const quick = parseBenchOptions(['--quick', '--clients', '4,1,4', '--systems', 'sqlite,twopc'], '/x');
    expect(quick).toMatchObject({
      quick: true,
      durationMs: 1_000,
      warmupMs: 250,
      prewarmMs: 0,
      rounds: 1,
      clients: [4, 1],
    });
    expect(quick.systems).toEqual(['twopc', 'sqlite']);
    expect(parseBenchOptions(['--duration', '1.5m', '--warmup', '0', '--prewarm', '2s'], '/x')).toMatchObject(
      {
        durationMs: 90_000,
        warmupMs: 0,
        prewarmMs: 2_000,
      },
    );
  });
});

describe('docs/benchmarks.md', () => {
  it('documents every flag of twopc bench', () => {
    const doc = readFileSync(new URL('../../docs/benchmarks.md', import.meta.url), 'utf8');
    const flags = [...usage.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => `--${m[1]}`);
    expect(flags.length).toBeGreaterThan(5);
    expect(flags.filter((f) => !doc.includes(`\`${f}`))).toEqual([]);
  });
});

describe('twopc bench --quick (smoke)', () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'twopc-bench-test-'));
  // As root the bench runs PostgreSQL as the `postgres` user, who must be able to traverse --dir.
  chmodSync(cwd, 0o755);
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it(
    'runs every system, prints the table, writes JSON with ratios, and leaves nothing behind',
    async () => {
      const r = await runBench(
        ['--quick', '--duration', '1s', '--warmup', '200ms', '--clients', '1,4', '--dir', cwd],
        cwd,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^scenario\s+clients\s+system\s+txn\/s\s+p50 ms\s+p99 ms/m);
      expect(r.stdout).toMatch(/Targets \(issue 7\):/);

      const report = JSON.parse(readFileSync(path.join(cwd, 'bench-results.json'), 'utf8'));
      expect(report).toMatchObject({
        formatVersion: 1,
        interrupted: false,
        settings: { quick: true, clients: [1, 4] },
      });
      expect(report.machine.cpus).toBeGreaterThan(0);
      const pgRan = report.systems.some(
        (s: { name: string; status: string }) => s.name === 'postgres' && s.status === 'ran',
      );
      if (!pgRan) {
        expect(report.systems.find((s: { name: string }) => s.name === 'postgres')).toMatchObject({
          status: 'skipped',
        });
      }

      const measured = report.rows.filter((row: { status: string }) => row.status === 'measured');
      const expected = [
        ...['2shard', '1shard', '2shard-wal-async', '2shard-wal-sync'].flatMap((sc) =>
          [1, 4].map((c) => `twopc/${sc}/${c}`),
        ),
        ...(pgRan ? ['2shard', '1shard'].flatMap((sc) => [1, 4].map((c) => `postgres/${sc}/${c}`)) : []),
        'sqlite/2shard/1',
        'sqlite/2shard/4',
      ];
      const keys = measured.map(
        (row: { system: string; scenario: string; clients: number }) =>
          `${row.system}/${row.scenario}/${row.clients}`,
      );
      expect(keys.sort()).toEqual(expected.sort());
      for (const row of measured) {
        expect(row.committed, `${row.system} ${row.scenario} ${row.clients}`).toBeGreaterThan(0);
        expect(row.txnPerSec).toBeGreaterThan(0);
        expect(row.latencyMs.p50).toBeGreaterThan(0);
        expect(row.latencyMs.p99).toBeGreaterThanOrEqual(row.latencyMs.p50);
        expect(row.errors).toBe(0);
        expect(row.processes.map((p: { name: string }) => p.name)).toContain('bench');
        for (const p of row.processes) expect(p.cpuPercent).toBeGreaterThanOrEqual(0);
        if (row.system === 'twopc') {
          const wal = row.scenario.startsWith('2shard-wal-');
          expect(row.processes.map((p: { name: string }) => p.name)).toEqual([
            'coordinator',
            'shard-a',
            'shard-b',
            ...(wal ? ['s3rver'] : []),
            'bench',
          ]);
          if (wal) {
            // The cost of shipping: this row over twopc's 2-shard row of the same clients.
            const none = measured.find(
              (q: { system: string; scenario: string; clients: number }) =>
                q.system === 'twopc' && q.scenario === '2shard' && q.clients === row.clients,
            );
            expect(row.vsNoShipping.throughput).toBeCloseTo(row.txnPerSec / none.txnPerSec, 6);
          }
          if (pgRan) {
            const pg = measured.find(
              (q: { system: string; scenario: string; clients: number }) =>
                q.system === 'postgres' &&
                q.scenario === (wal ? '2shard' : row.scenario) &&
                q.clients === row.clients,
            );
            expect(row.vsPostgres.throughput).toBeCloseTo(row.txnPerSec / pg.txnPerSec, 6);
            expect(row.vsPostgres.p99).toBeCloseTo(row.latencyMs.p99 / pg.latencyMs.p99, 6);
          } else {
            expect(row.vsPostgres).toBeNull();
          }
        }
      }
      expect(report.rows.every((row: { status: string }) => row.status === 'measured')).toBe(true);
      expect(report.targets.map((t: { id: string }) => t.id)).toEqual([
        'peak-throughput',
        'p99-at-16',
        'p50-at-1',
        'wal-async-cost',
        'memory-flat',
      ]);
      expect(report.memory.map((m: { name: string }) => m.name).sort()).toEqual(
        ['', ' (wal-async)', ' (wal-sync)']
          .flatMap((l) => [`coordinator${l}`, `shard-a${l}`, `shard-b${l}`])
          .sort(),
      );
      expect(r.stdout).toMatch(/^scenario\s+clients\s+txn\/s\s+p50 ms\s+p99 ms\s+txn\/s ÷none\s+cost/m);
      expect(report.slices.length).toBe(measured.length);
      // Restore speed: one shard of each WAL cluster restored from s3rver by the real CLI.
      expect(report.restores.map((x: { cluster: string }) => x.cluster)).toEqual(['wal-async', 'wal-sync']);
      for (const x of report.restores) {
        expect(x.segments).toBeGreaterThan(0);
        expect(x.mbPerSec).toBeGreaterThan(0);
      }
      expect(r.stdout).toMatch(/restore of shard-a \(wal-sync\) from s3rver .* MB\/s/);

      // Nothing left behind: every process the bench measured is gone, and so is its data directory.
      const pids = new Set<number>(
        measured.flatMap((row: { processes: { name: string; pid: number }[] }) =>
          row.processes.filter((p) => p.name !== 'bench').map((p) => p.pid),
        ),
      );
      for (const pid of pids) expect(processAlive(pid), `pid ${pid}`).toBe(false);
      for (const s of report.systems)
        if (s.description?.dataDir) expect(existsSync(s.description.dataDir)).toBe(false);
    },
    smokeRunTimeoutMs,
  );
});
