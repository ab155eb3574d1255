/**
 * `npx twopc chaos simulate` as the CLI runs it (chaos/simulation/simulate-command.ts): flag
 * parsing, a passing batch (exit 0) on worker threads, a failing one (exit 1) that prints the seed
 * and the command replaying it, and one seed replayed with its history written to a file.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseHistory } from '../../chaos/history.ts';
import { parseSeeds, replayCommand, run } from '../../chaos/simulation/simulate-command.ts';

function captureStdout() {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return { text: () => lines.join(''), restore: () => spy.mockRestore() };
}

let dir: string | undefined;
afterEach(() => {
  vi.restoreAllMocks();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('chaos simulate command', () => {
  it('parses seeds as N or A..B and refuses anything else', () => {
    expect(parseSeeds('7')).toEqual([7, 7]);
    expect(parseSeeds('1..10000')).toEqual([1, 10_000]);
    for (const bad of ['', '5..1', '1..', 'x', '-3']) expect(() => parseSeeds(bad)).toThrow(/--seeds/);
  });

  it('refuses a bad flag with a usage error', async () => {
    await expect(run(['--faults', 'meteor'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(run(['--workload', 'ledger'])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/--workload: "ledger" is not bank or list-append/),
    });
    await expect(run(['--seeds', '1..2', '--history', 'h.jsonl'])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('runs a batch on two worker threads and exits 0 when every seed passes', async () => {
    const out = captureStdout();
    const code = await run(['--seeds', '1..4', '--ops', '15', '--jobs', '2']);
    out.restore();
    expect(out.text()).toMatch(/seeds 1\.\.4: 4\/4 passed, 0 failed/);
    expect(code).toBe(0);
  });

  it('exits 1 on a failing seed, printing it with the command that replays it', async () => {
    const out = captureStdout();
    const code = await run(['--seeds', '1..20', '--mutant', 'answer-before-forced']);
    out.restore();
    expect(code).toBe(1);
    const seed = /FAIL seed (\d+)/.exec(out.text())?.[1];
    expect(seed).toBeDefined();
    expect(out.text()).toContain(
      `replay: ${replayCommand(Number(seed), { ops: 40, clients: 4, shards: 3, mutant: 'answer-before-forced' })}`,
    );
  });

  it('replays one seed and writes its history', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'twopc-simulate-'));
    const file = path.join(dir, 'h.jsonl');
    const out = captureStdout();
    const code = await run(['--seeds', '3', '--ops', '10', '--history', file]);
    out.restore();
    expect(code).toBe(0);
    expect(out.text()).toMatch(/seed 3: passed/);
    expect(parseHistory(readFileSync(file, 'utf8')).length).toBeGreaterThan(10);
  });
});
