/**
 * `twopc dev` end to end: a coordinator and three participants as child processes on free ports,
 * examples/transfer.mjs committing a cross-shard transfer against it, a graceful SIGTERM that leaves
 * no child behind, a restart that keeps the data (the seed never overwrites), and a child that dies
 * on its own being named.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, processAlive, startCli, type RunningCli } from '../helpers/cli.ts';
import { freePortRange } from '../helpers/ports.ts';

const TRANSFER = path.join(ROOT, 'examples', 'transfer.mjs');
/** How long a stopped process may take to be gone for good. */
const goneTimeoutMs = 15_000;

let dir: string;
let basePort: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-dev-'));
  basePort = await freePortRange(4);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function startDev(): Promise<RunningCli> {
  return startCli(['dev', '--data-dir', dir, '--port', String(basePort)], {
    env: { TWOPC_LOG_LEVEL: 'info' },
  });
}

/** The pids the banner lists, by process name. */
function pids(stdout: string): Map<string, number> {
  return new Map([...bannerRows(stdout)].map(([name, row]) => [name, row.pid]));
}

/** The banner's rows: each process's pid and metrics URL. */
function bannerRows(stdout: string): Map<string, { pid: number; metricsUrl: string }> {
  const out = new Map<string, { pid: number; metricsUrl: string }>();
  for (const m of stdout.matchAll(/^ {2}(coordinator|shard-[abc]) +\S+ +pid (\d+) +metrics (\S+)$/gm))
    out.set(m[1]!, { pid: Number(m[2]), metricsUrl: m[3]! });
  return out;
}

/** One sample's value from a Prometheus text page (the first line that starts with `series`). */
async function scrape(url: string, series: string): Promise<number> {
  const page = await (await fetch(url)).text();
  const line = page.split('\n').find((l) => l.startsWith(`${series} `));
  expect(line, `${series} in ${url}`).toBeDefined();
  return Number(line!.slice(series.length + 1));
}

function transfer(address: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TRANSFER], {
      env: { ...process.env, TWOPC_ADDR: address },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function waitGone(pid: number): Promise<void> {
  const until = Date.now() + goneTimeoutMs;
  while (processAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  expect(processAlive(pid), `pid ${pid} still running`).toBe(false);
}

describe('twopc dev', () => {
  it('comes up, runs the example transfer, and stops cleanly on SIGTERM', async () => {
    const dev = await startDev();
    const children = pids(dev.output.stdout);
    try {
      expect(dev.address).toBe(`127.0.0.1:${basePort}`);
      expect([...children.keys()].sort()).toEqual(['coordinator', 'shard-a', 'shard-b', 'shard-c']);
      expect(dev.output.stdout).toContain(`TWOPC_ADDR=127.0.0.1:${basePort} node examples/transfer.mjs`);

      const r = await transfer(dev.address);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/COMMITTED/);
      expect(r.stdout).toContain('shard-a account 1 balance: 90');
      expect(r.stdout).toContain('shard-b account 1 balance: 110');

      // Every process serves metrics; the transfer is counted where it happened.
      const rows = bannerRows(dev.output.stdout);
      const coordinator = rows.get('coordinator')!.metricsUrl;
      expect(await scrape(coordinator, 'twopc_txns_committed_total{path="two_phase"}')).toBe(1);
      expect(await scrape(coordinator, 'twopc_stage_duration_seconds_count{stage="decision"}')).toBe(1);
      expect(await scrape(rows.get('shard-a')!.metricsUrl, 'twopc_prepares_total{shard="shard-a"}')).toBe(1);
      expect(await scrape(rows.get('shard-c')!.metricsUrl, 'twopc_prepares_total{shard="shard-c"}')).toBe(0);
    } finally {
      dev.child.kill('SIGTERM');
    }
    const { code } = await dev.exited;
    expect(code, dev.output.stderr).toBe(0);
    expect(dev.output.stdout).toContain('twopc dev stopped\n');
    for (const pid of children.values()) await waitGone(pid);
  });

  it('keeps its data across a restart: the seed does not overwrite balances', async () => {
    const dev = await startDev();
    try {
      const r = await transfer(dev.address);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('shard-a account 1 balance: 80');
      expect(r.stdout).toContain('shard-b account 1 balance: 120');
    } finally {
      dev.child.kill('SIGINT');
    }
    expect((await dev.exited).code).toBe(0);
  });

  it('an overdraft aborts (CHECK constraint) and changes nothing', async () => {
    const dev = await startDev();
    try {
      const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, [TRANSFER, '1000'], {
          env: { ...process.env, TWOPC_ADDR: dev.address },
        });
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.once('close', (code) => resolve({ code, stdout }));
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/ABORTED/);
      expect(r.stdout).toMatch(/CONSTRAINT/);
      expect(r.stdout).toContain('shard-a account 1 balance: 80');
      expect(r.stdout).toContain('shard-b account 1 balance: 120');
    } finally {
      dev.child.kill('SIGTERM');
    }
    expect((await dev.exited).code).toBe(0);
  });

  it('says which child died unexpectedly, stops the others, and exits non-zero', async () => {
    const dev = await startDev();
    const children = pids(dev.output.stdout);
    process.kill(children.get('shard-b')!, 'SIGKILL');
    const { code } = await dev.exited;
    expect(code).toBe(1);
    expect(dev.output.stderr).toMatch(
      /twopc dev: shard-b \(pid \d+\) exited unexpectedly \(killed by SIGKILL\)/,
    );
    for (const pid of children.values()) await waitGone(pid);
  });

  it('children shut down when dev itself is killed with SIGKILL', async () => {
    const dev = await startDev();
    const children = pids(dev.output.stdout);
    dev.child.kill('SIGKILL');
    await dev.exited;
    for (const pid of children.values()) await waitGone(pid);
  });
});
