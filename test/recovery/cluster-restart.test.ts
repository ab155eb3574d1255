/**
 * The test cluster itself (test/integration/cluster.ts), where the crash suites lean on it: a
 * process that dies before it serves must come back on its old address at the next restart (its
 * peers and the coordinator know it by that address), and the participants know the coordinator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../integration/cluster.ts';
import { RECOVERY_SCHEMA } from './recovery-cluster.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe('the test cluster', () => {
  it('restarts a process that died before serving on the address it had before', async () => {
    cluster = await Cluster.start({ shards: ['s1'], schemaSql: RECOVERY_SCHEMA });
    const address = cluster.address('s1');
    const coordinator = cluster.coordinatorAddress;
    expect(cluster.processes.get('s1')!.args).toEqual(expect.arrayContaining(['--coordinator', coordinator]));
    // A bad failpoint spec: the participant exits at start-up, before it prints its serving line.
    await expect(cluster.restart('s1', { TWOPC_FAILPOINTS: 'no.such-failpoint=crash' })).rejects.toThrow(
      /exited \(2\) before serving/,
    );
    expect(cluster.address('s1')).toBe(address);
    await cluster.restart('s1');
    expect(cluster.address('s1')).toBe(address);
    // Same for the coordinator, which the participants were started pointing at.
    await expect(cluster.restart('coordinator', { TWOPC_FAILPOINTS: 'bad' })).rejects.toThrow(
      /before serving/,
    );
    await cluster.restart('coordinator');
    expect(cluster.coordinatorAddress).toBe(coordinator);
  });
});
