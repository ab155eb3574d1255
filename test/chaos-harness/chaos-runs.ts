/**
 * Runs the chaos harness in-process for a test: a temp run dir kept on failure (its path and the seed
 * are in the assertion message, so a failure can be replayed and its report read) and removed otherwise.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { runChaos, type ChaosOptions } from '../../chaos/chaos-run.ts';
import type { ChaosSummary } from '../../chaos/report.ts';

export interface TestRun {
  readonly summary: ChaosSummary;
  readonly outDir: string;
  /** Seed, run dir, reproduce command and the harness's log: for assertion messages. */
  readonly context: string;
  /** Removes the run dir (call once the test's assertions passed). */
  cleanUp(): void;
}

export async function chaosRun(options: Omit<ChaosOptions, 'outDir' | 'log'>): Promise<TestRun> {
  const outDir = mkdtempSync(path.join(tmpdir(), `twopc-chaos-${options.workload}-`));
  const log: string[] = [];
  const { summary } = await runChaos({ ...options, outDir, log: (line) => log.push(line) });
  const verdicts = summary.checkers
    .map(
      (v) =>
        `${v.checker}: ${v.valid ? 'valid' : `INVALID ${JSON.stringify(v.anomalyCounts)} e.g. ${v.counterexample?.message ?? ''}`}`,
    )
    .join('\n  ');
  const context = [
    `seed ${summary.seed}, run dir ${outDir} (report.html, logs/)`,
    `reproduce: ${summary.reproduce}`,
    `verdicts:\n  ${verdicts}`,
    `log:\n  ${log.join('\n  ')}`,
  ].join('\n');
  return { summary, outDir, context, cleanUp: () => rmSync(outDir, { recursive: true, force: true }) };
}

/** PIDs of live processes whose command line mentions `text` (a run dir): none may outlive a run. */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (cmdline.includes(text) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

/**
 * Windows a lane may drop on a busy machine: a restart that takes seconds pushes the lane behind its
 * plan, and the windows whose start the run's end overtakes are never applied (measured: the last one
 * or two of a 15 s run when other test suites share the two cores).
 */
export const windowsDroppedMax = 2;

/** Every applied window was healed; at most `windowsDroppedMax` were never applied (see above). */
export function expectFaultsApplied(summary: ChaosSummary, context: string): void {
  const windows = summary.faults.windows;
  for (const w of windows) {
    if (w.appliedAtMs === undefined) continue;
    expect(w.healedAtMs, `fault #${w.id} healed\n${context}`).toBeDefined();
  }
  const dropped = windows.filter((w) => w.appliedAtMs === undefined).map((w) => w.id);
  expect(dropped.length, `faults never applied: ${dropped.join(', ')}\n${context}`).toBeLessThanOrEqual(
    windowsDroppedMax,
  );
}
