/**
 * Every failpoint, over real processes: a concurrent cross-shard transfer workload runs, the
 * failpoint SIGKILLs its process a few hits in, the process is restarted without it, the workload
 * goes on for a while; then, within a bounded time, nothing is left in doubt on any shard, and
 * every acknowledged outcome, the total, and atomicity hold (DESIGN.md invariants 1, 2 and 5).
 *
 * The list comes from common/failpoints.ts: a new failpoint gets this test without anyone asking.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FAILPOINTS, type FailpointName } from '../../common/failpoints.ts';
import { seedFromEnv } from '../../common/random.ts';
import {
  crashWaitMsMax,
  restartClean,
  startRecoveryCluster,
  until,
  waitForExit,
  type RecoveryCluster,
} from './recovery-cluster.ts';
import { learnKeyedOutcomes, startWorkload, summarize, type Workload } from './transfer-workload.ts';
import { checkShards, expectConvergence } from './shard-files.ts';

/** Which hit crashes: a few transfers in, so there is work in flight on every path. */
const CRASH_ON_HIT: Readonly<Record<FailpointName, number>> = {
  'coordinator.before-decision-logged': 4,
  'coordinator.after-decision-logged': 4,
  'coordinator.after-first-commit-sent': 4,
  'coordinator.before-abort-sent': 3,
  'participant.after-prepare-before-vote': 6,
  'participant.before-commit-applied': 4,
  'participant.after-commit-applied-before-ack': 4,
};
/** The participant that carries participant.* failpoints. */
const CRASHING_SHARD = 's2';
/** After the restart, the workload must get this many more commits through (liveness), ... */
const commitsAfterRestartMin = 5;
/** ... within this long. */
const commitsAfterRestartWaitMs = 15_000;

let rc: RecoveryCluster | undefined;
afterEach(async () => {
  await rc?.stop();
  rc = undefined;
});

describe('SIGKILL at every failpoint, then restart', () => {
  for (const name of Object.keys(FAILPOINTS) as FailpointName[]) {
    it(`${name}: no acknowledged outcome lost, nothing left in doubt`, async () => {
      const target = name.startsWith('coordinator.') ? 'coordinator' : CRASHING_SHARD;
      const seed = seedFromEnv();
      const spec = `${name}=${CRASH_ON_HIT[name]}*crash`;
      let stage = 'starting';
      let workload: Workload | undefined;
      try {
        rc = await startRecoveryCluster({ [target]: { TWOPC_FAILPOINTS: spec } });
        stage = 'workload until the crash';
        const w = startWorkload(rc.client, { seed, tag: 'fp', workers: 6, transfersPerWorkerMax: 150 });
        workload = w;
        const exit = await waitForExit(rc, target, crashWaitMsMax);
        expect(exit).toBe('SIGKILL');
        expect(rc.deadStderr.at(-1)).toContain(`failpoint ${name} fired`);
        stage = 'restart';
        await restartClean(rc, target);
        const before = w.committed();
        stage = 'workload after the restart';
        await until(
          'commits after the restart',
          commitsAfterRestartWaitMs,
          () => w.committed() >= before + commitsAfterRestartMin,
        );
        await w.stop();
        stage = 'learning keyed outcomes';
        await learnKeyedOutcomes(rc.client, w.transfers);
        stage = 'convergence';
        await expectConvergence(rc.cluster);
        stage = 'checking the shards';
        checkShards(rc.cluster, w.transfers);
        const counts = summarize(w.transfers);
        expect(counts.COMMITTED).toBeGreaterThan(0);
        expect(counts.ABORTED).toBeGreaterThan(0);
      } catch (err) {
        await workload?.stop();
        const counts = workload ? JSON.stringify(summarize(workload.transfers)) : 'no workload';
        console.error(
          `failpoint ${spec} on ${target} failed at "${stage}" (transfers: ${counts}); ` +
            `reproduce with TWOPC_SEED=${seed}\n${rc?.deadStderr.join('\n') ?? ''}`,
        );
        throw err;
      }
    });
  }
});
