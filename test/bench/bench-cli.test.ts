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
import { memorySoakSecMin } from '../../cli/bench/targets.ts';
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
    [['--soak', 'soon'], /--soak: "soon" is not a duration from 0 ms to 86400 s/],
    [['--soak=-5m'], /--soak: "-5m" is not a duration/],
    [['--soak', '1500m'], /--soak: "1500m" is not a duration from 0 ms to 86400 s/],
    [['--soak', '500ms'], /--soak: "500ms" is shorter than 1 s/],
    [['--soak', '1m', '--systems', 'postgres'], /--soak runs twopc, which is not among --systems/],
    [['--duration', '0', '--soak', '0'], /--duration 0 runs no regular slices, and there is no soak/],
    [['--duration', '0', '--systems', 'sqlite'], /--duration 0 runs no regular slices, and there is no soak/],
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
    // The full run's soak is long enough to judge the memory target.
    expect(full.soakMs).toBe(420_000);
    expect(full.soakMs).toBeGreaterThanOrEqual(memorySoakSecMin * 1000);
    const quick = parseBenchOptions(['--quick', '--clients', '4,1,4', '--systems', 'sqlite,twopc'], '/x');
    expect(quick).toMatchObject({
      quick: true,
      durationMs: 1_000,
      warmupMs: 250,
      prewarmMs: 0,
      rounds: 1,
      clients: [4, 1],
      soakMs: 0,
    });
    expect(quick.systems).toEqual(['twopc', 'sqlite']);
    expect(parseBenchOptions(['--duration', '1.5m', '--warmup', '0', '--prewarm', '2s'], '/x')).toMatchObject(
      {
        durationMs: 90_000,
        warmupMs: 0,
        prewarmMs: 2_000,
      },
    );
    expect(parseBenchOptions(['--soak', '0'], '/x').soakMs).toBe(0);
    expect(parseBenchOptions(['--systems', 'postgres,sqlite'], '/x').soakMs).toBe(0);
    expect(parseBenchOptions(['--quick', '--soak', '3s'], '/x').soakMs).toBe(3_000);
    expect(parseBenchOptions(['--duration', '0', '--soak', '10m'], '/x')).toMatchObject({
      durationMs: 0,
      soakMs: 600_000,
    });
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
      expect(r.stdout).toMatch(/^scenario\s+clients\s+protocol ms\s+prepare\s+decision\s+commit\s+flush ms/m);

      const report = JSON.parse(readFileSync(path.join(cwd, 'bench-results.json'), 'utf8'));
      expect(report).toMatchObject({
        formatVersion: 1,
        interrupted: false,
        settings: { quick: true, clients: [1, 4], soakMs: 0 },
        soak: null,
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
          // Where the time went, from the processes' /metrics: every committed 2-shard transaction
          // went through every stage, and a flush wrote at least one message.
          const stages = row.stages;
          expect(stages, `${row.scenario} ${row.clients}: stages`).toBeDefined();
          expect(stages.protocolMs).toBeGreaterThan(0);
          expect(stages.flushMs).toBeGreaterThan(0);
          expect(stages.messagesPerFlush).toBeGreaterThanOrEqual(1);
          expect(Object.keys(stages.eventLoop).sort()).toEqual(['coordinator', 'shard-a', 'shard-b']);
          if (row.scenario !== '1shard') {
            expect(stages.prepareMs).toBeGreaterThan(0);
            expect(stages.decisionMs).toBeGreaterThan(0);
            expect(stages.commitMs).toBeGreaterThan(0);
            expect(stages.protocolMs).toBeGreaterThanOrEqual(stages.prepareMs);
          }
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

describe('twopc bench --soak (smoke)', () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'twopc-bench-soak-test-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));
  const processNames = ['coordinator', 'shard-a', 'shard-b'];

  it(
    'soaks twopc after the regular slices: the RSS series and a memory verdict that is not judged, with the hint',
    async () => {
      const args = [
        '--quick',
        '--systems',
        'twopc',
        '--scenarios',
        '2shard',
        '--clients',
        '2',
        '--soak',
        '3s',
      ];
      const r = await runBench([...args, '--dir', cwd, '--json', 'soak.json'], cwd);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /^Soak: 2-shard transfer, 2 clients, closed loop, 3\.\d s; twopc RSS every 0\.6 s/m,
      );
      expect(r.stdout).toMatch(/^ {2}load: \d+ txn\/s \(between samples \d+–\d+\), p50 /m);
      for (const name of processNames)
        expect(r.stdout).toMatch(
          new RegExp(`^  ${name} \\(pid \\d+\\): start \\d+ MB, end \\d+ MB, max \\d+ MB$`, 'm'),
        );
      expect(r.stdout).toMatch(
        /^ {2}\[NOT JUDGED\] each twopc process's RSS flat .* run with --soak 7m or longer for a verdict$/m,
      );
      expect(r.stdout).toMatch(/^twopc RSS over the regular slices, whose load changes/m);
      expect(r.stderr).toMatch(/soak: 2-shard transfer, 2 clients for 3 s/);

      const report = JSON.parse(readFileSync(path.join(cwd, 'soak.json'), 'utf8'));
      expect(report.settings.soakMs).toBe(3_000);
      expect(report.rows.map((row: { clients: number }) => row.clients)).toEqual([2]);
      const soak = report.soak;
      expect(soak).toMatchObject({
        system: 'twopc',
        scenario: '2shard',
        clients: 2,
        soakSec: 3,
        sampleSec: 0.6,
      });
      expect(soak.committed).toBeGreaterThan(0);
      expect(soak.errors).toBe(0);
      // The start is the first sample (a fifth of 3 s in); a busy machine delays timers, never skips the start.
      expect(soak.startAtSec).toBe(soak.samples[0].atSec);
      expect(soak.startAtSec).toBeGreaterThan(0.55);
      expect(soak.endAtSec).toBeCloseTo(soak.measuredSec, 1);
      expect(soak.spanSec).toBeLessThan(300);
      // Ticks at 0.6, 1.2, 1.8, 2.4 s (3.0 s, if it fires, gives way to the end sample); fewer if timers lag.
      expect(soak.samples.length).toBeGreaterThanOrEqual(3);
      expect(soak.samples.length).toBeLessThanOrEqual(6);
      const times = soak.samples.map((x: { atSec: number }) => x.atSec);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      for (const sample of soak.samples) {
        expect(Object.keys(sample.rssMb).sort()).toEqual(processNames);
        for (const mb of Object.values(sample.rssMb)) expect(mb).toBeGreaterThan(10);
      }
      expect(soak.processes.map((p: { name: string }) => p.name).sort()).toEqual(processNames);
      for (const p of soak.processes) {
        expect(p.rssMaxMb).toBeGreaterThanOrEqual(Math.max(p.rssStartMb, p.rssEndMb));
        expect(processAlive(p.pid), `pid ${p.pid}`).toBe(false);
      }
      const memory = report.targets.find((t: { id: string }) => t.id === 'memory-flat');
      expect(memory.met).toBeNull();
      expect(memory.margin).toMatch(
        /start and end samples are \d s apart \(< 300 s\); run with --soak 7m or longer/,
      );
    },
    smokeRunTimeoutMs,
  );

  it(
    'runs only the soak with --duration 0: no rows, the other systems skipped, one twopc cluster',
    async () => {
      const args = [
        '--systems',
        'twopc,sqlite',
        '--scenarios',
        '1shard,2shard-wal-async',
        '--clients',
        '1,3',
      ];
      const timing = ['--duration', '0', '--soak', '1s', '--prewarm', '0s', '--warmup', '100ms'];
      const r = await runBench([...args, ...timing, '--dir', cwd, '--json', 'only.json'], cwd);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(path.join(cwd, 'only.json'), 'utf8'));
      expect(report.rows).toEqual([]);
      expect(report.slices).toEqual([]);
      expect(report.memory).toEqual([]);
      expect(report.restores).toEqual([]);
      expect(report.systems.find((s: { name: string }) => s.name === 'sqlite')).toMatchObject({
        status: 'skipped',
        note: expect.stringMatching(/--duration 0/),
      });
      // No 2-shard scenario in the run: the first twopc runs, at the most clients.
      expect(report.soak).toMatchObject({ scenario: '1shard', clients: 3, sampleSec: 0.2 });
      expect(report.soak.processes.map((p: { name: string }) => p.name).sort()).toEqual(processNames);
      expect(r.stderr).not.toMatch(/s3rver/);
    },
    smokeRunTimeoutMs,
  );
});
