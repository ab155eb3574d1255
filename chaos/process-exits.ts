/**
 * A checker of the harness's own making: every process exit during the run must be one the nemesis
 * caused — a SIGKILL it sent, or a crash failpoint it armed. Anything else (an assertion, an unhandled
 * rejection, an out-of-memory) is a bug the other checkers might never see.
 */
import { AnomalyCollector, type Verdict } from './checkers/verdict.ts';
import type { ProcessExit } from './cluster-runner.ts';

export interface ProcessExitAnomaly {
  readonly type: 'unexpected-exit';
  readonly message: string;
  readonly process: string;
  readonly atMs: number;
  /** The process's last output lines. */
  readonly tail: string;
}

export function checkProcessExits(
  exits: readonly ProcessExit[],
): Verdict<ProcessExitAnomaly, { exits: number; failpointCrashes: number }> {
  const collector = new AnomalyCollector<ProcessExitAnomaly>();
  for (const e of exits) {
    if (e.failpoint !== undefined) continue;
    collector.add({
      type: 'unexpected-exit',
      message: `${e.name} (pid ${e.pid ?? '?'}) exited on its own at ${e.atMs} ms: ${e.status}`,
      process: e.name,
      atMs: e.atMs,
      tail: e.tail,
    });
  }
  const failpointCrashes = exits.filter((e) => e.failpoint !== undefined).length;
  return collector.verdict('process-exits', { exits: exits.length, failpointCrashes });
}
