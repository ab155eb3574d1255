/**
 * `recover resolve` on a Redis log while a coordinator replica holds a live lease: without
 * `--coordinator` it would presume aborted every prepared transaction not in the log yet — including
 * one whose COMMIT the replica is about to write — and push Aborts that tear it. It must refuse, and
 * stop refusing once no replica is alive.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { runCli } from '../helpers/cli.ts';
import { RedisServer } from './redis-server.ts';

const leaseTtlMs = 60_000;
let server: RedisServer | undefined;
let log: RedisDecisionLog | undefined;

afterEach(async () => {
  await log?.close();
  await server?.cleanup();
  log = undefined;
  server = undefined;
});

describe('recover resolve on a Redis log with live replicas', () => {
  it('refuses without --coordinator while a replica holds a live lease, and writes nothing', async () => {
    server = await RedisServer.start();
    log = await RedisDecisionLog.open(server.url, { durability: { allowNonDurable: false } });
    const registry = log.replicaRegistry();
    await registry.register('coordinator-a/e1', '127.0.0.1:7400', leaseTtlMs);
    const args = ['recover', 'resolve', '--all', '--log', server.url, '--participant', 'shard-a=127.0.0.1:1'];

    const refused = await runCli(args);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /1 coordinator replica\(s\) hold a live lease on .*coordinator-a\/e1 at 127\.0\.0\.1:7400/,
    );
    expect(refused.stderr).toMatch(/--coordinator/);
    expect((await log.list({ statuses: [], afterTxnId: '', limit: 100 })).length).toBe(0);

    await registry.resign();
    const after = await runCli(args);
    expect(after.stderr).not.toMatch(/live lease/);
  });
});
