/**
 * The harness must catch a broken build (issue 6, "Done means"). Each mutation (common/mutations.ts) is
 * switched on in the cluster's processes; the run must end INVALID, for the right reason.
 *
 * The hooks that read the switches live in coordinator/decision.ts and participant/prepare.ts. If a
 * process never announces its mutation, the hook is missing and this test says so before anything else.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import type { ChaosSummary } from '../../chaos/report.ts';
import { CLI_BIN, ROOT } from '../helpers/cli.ts';
import { chaosRun, processesMentioning } from './chaos-runs.ts';

/** A 10 s chaos run with start-up, heal and checks; far below this on a busy 2-core machine. */
const cliRunTimeoutMs = 120_000;

const HOOKS = {
  'answer-before-decision-forced': 'coordinator/decision.ts (forceCommit)',
  'release-locks-at-prepare': 'participant/prepare.ts (stage)',
} as const;

function expectWired(s: ChaosSummary, mutation: keyof typeof HOOKS, context: string): void {
  expect(
    s.mutationsSeen,
    `no process announced mutation ${mutation}: its hook in ${HOOKS[mutation]} is missing ` +
      `(see common/mutations.ts)\n${context}`,
  ).toContain(mutation);
}

it(
  'catches a coordinator that answers COMMITTED before forcing the decision (via the CLI: exit 1)',
  { timeout: 150_000 },
  async () => {
    const outDir = mkdtempSync(path.join(tmpdir(), 'twopc-chaos-mutation-'));
    // Seed 5 plans four coordinator kills in 10 s: each one loses the commits acknowledged just before it.
    const args = ['chaos', '--seed', '5', '--duration', '10s', '--workload', 'bank', '--faults', 'kill'];
    args.push('--targets', 'coordinator', '--mutation', 'answer-before-decision-forced', '--out', outDir);
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI_BIN, ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chaos run did not finish in ${cliRunTimeoutMs} ms\n${out}\n${err}`));
      }, cliRunTimeoutMs);
      child.once('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, stdout: out, stderr: err });
      });
    });
    const context = `run dir ${outDir}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    const summary = JSON.parse(readFileSync(path.join(outDir, 'summary.json'), 'utf8')) as ChaosSummary;
    expectWired(summary, 'answer-before-decision-forced', context);
    expect(code, context).toBe(1);
    expect(stdout).toMatch(/^twopc chaos: INVALID: /m);
    expect(stdout).toContain('seed 5');
    expect(stdout).toContain(path.join(outDir, 'report.html'));
    const invalid = summary.checkers.filter((v) => !v.valid).map((v) => v.checker);
    expect(invalid, context).toContain('durability');
    const durability = summary.checkers.find((v) => v.checker === 'durability')!;
    expect(durability.anomalyCounts['lost-commit'], context).toBeGreaterThan(0);
    expect(processesMentioning(outDir)).toEqual([]);
    rmSync(outDir, { recursive: true, force: true });
  },
);

it('catches a participant that keeps no locks after voting YES', { timeout: 150_000 }, async () => {
  const run = await chaosRun({
    seed: 6,
    durationMs: 8_000,
    workload: 'bank',
    faults: [],
    clients: 6,
    mutations: ['release-locks-at-prepare'],
  });
  expectWired(run.summary, 'release-locks-at-prepare', run.context);
  expect(run.summary.valid, run.context).toBe(false);
  const bank = run.summary.checkers.find((v) => v.checker === 'bank')!;
  expect(bank.valid, run.context).toBe(false);
  // Lost updates: totals that do not add up, balances the ledger does not explain.
  expect(Object.keys(bank.anomalyCounts), run.context).toEqual(expect.arrayContaining(['wrong-total']));
  run.cleanUp();
});

it(
  'catches a coordinator that answers COMMITTED while its Redis decision log is down (redis-outage)',
  { timeout: 150_000 },
  async () => {
    // list-append sends no idempotency key, so nothing is written to the log before the decision: with
    // Redis down, only the decision needs it. Seed 6 plans four Redis outages (SIGSTOP and SIGKILL).
    const run = await chaosRun({
      seed: 6,
      durationMs: 15_000,
      workload: 'list-append',
      faults: ['redis-outage'],
      clients: 6,
      mutations: ['answer-before-decision-forced'],
    });
    expectWired(run.summary, 'answer-before-decision-forced', run.context);
    expect(run.summary.decisionLog).toBe('redis');
    expect(run.summary.valid, run.context).toBe(false);
    // Told COMMITTED while Redis was down (decision-log-outage), or the deferred write then failed and
    // the decision was lost (durability). Which one shows depends on how many transactions get through
    // during the outages: on a loaded machine, sometimes only the second.
    const caught = run.summary.checkers
      .filter((v) => !v.valid)
      .flatMap((v) => Object.keys(v.anomalyCounts).map((type) => `${v.checker}:${type}`));
    expect(caught, run.context).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^(decision-log-outage:acknowledged-during-outage|durability:lost-commit)$/),
      ]),
    );
    expect(processesMentioning(run.outDir)).toEqual([]);
    run.cleanUp();
  },
);
