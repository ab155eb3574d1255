/**
 * The start-up durability check, against real redis-servers (each started by the test on a free port
 * and killed by PID): the log refuses a server without `appendonly yes` + `appendfsync always`, one
 * with CONFIG disabled (managed Redis) unless the operator asserts durability, a false assertion, and
 * an evicting memory policy; `--allow-non-durable-log` starts anyway with a loud warning. The CLI
 * cases run the real `npx twopc coordinator` process: a non-durable Redis is exit 1 (the command line
 * is fine, the environment is not), a malformed URL exit 2.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { parseDurabilityAssertion } from '../../coordinator/decision-log/redis-durability.ts';
import { KeyLayout } from '../../coordinator/decision-log/redis-keys.ts';
import { lines, runCli, startCli } from '../helpers/cli.ts';
import { RedisServer } from './redis-server.ts';

const servers: RedisServer[] = [];

async function server(options: Parameters<typeof RedisServer.start>[0] = {}): Promise<RedisServer> {
  const s = await RedisServer.start(options);
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.cleanup()));
});

const strict = { allowNonDurable: false } as const;

describe('Redis durability check (open)', () => {
  it('accepts AOF with fsync always, verified with CONFIG GET', async () => {
    const s = await server();
    const log = await RedisDecisionLog.open(s.url, { durability: strict });
    expect(log.durability).toMatchObject({
      waitReplicas: 0,
      summary: expect.stringMatching(/verified with CONFIG GET/),
    });
    await log.close();
  });

  it('refuses a server without AOF, or with fsync every second, and writes nothing there', async () => {
    const none = await server({ durable: false });
    await expect(RedisDecisionLog.open(none.url, { durability: strict })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/not durable: appendonly=no, appendfsync=\w+/),
      hint: expect.stringMatching(/appendfsync always/),
    });
    expect(none.cli('DBSIZE')).toBe('0');
    const everysec = await server({ extraArgs: ['--appendfsync', 'everysec'] });
    await expect(RedisDecisionLog.open(everysec.url, { durability: strict })).rejects.toThrow(
      /appendonly=yes, appendfsync=everysec/,
    );
  });

  it('refuses an evicting memory policy, since evicted keys would be lost decisions', async () => {
    const s = await server({ extraArgs: ['--maxmemory-policy', 'allkeys-lru'] });
    await expect(RedisDecisionLog.open(s.url, { durability: strict })).rejects.toThrow(
      /allkeys-lru.*noeviction/,
    );
  });

  it('with CONFIG disabled, refuses unless the operator asserts durability; a false assertion is refused', async () => {
    const managed = await server({ extraArgs: ['--rename-command', 'CONFIG', ''] });
    await expect(RedisDecisionLog.open(managed.url, { durability: strict })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/CONFIG is not available .*--redis-durability aof-always\|wait:N/),
    });
    const asserted = { allowNonDurable: false, asserted: parseDurabilityAssertion('aof-always') };
    const log = await RedisDecisionLog.open(managed.url, { durability: asserted });
    expect(log.durability?.summary).toMatch(/asserted/);
    await log.close();
    // INFO still tells whether AOF is on at all: an assertion it contradicts is refused.
    const noAof = await server({ durable: false, extraArgs: ['--rename-command', 'CONFIG', ''] });
    await expect(RedisDecisionLog.open(noAof.url, { durability: asserted })).rejects.toThrow(/aof_enabled:0/);
    // wait:N needs N replicas connected now.
    const wait = { allowNonDurable: false, asserted: parseDurabilityAssertion('wait:1') };
    await expect(RedisDecisionLog.open(managed.url, { durability: wait })).rejects.toThrow(
      /wait:1, but 0 replicas are connected/,
    );
  });

  it('makes every forced write wait for the asserted replicas', async () => {
    // No 5 s wait for more replicas before the first full sync.
    const primary = await server({ extraArgs: ['--repl-diskless-sync-delay', '0'] });
    const replica = await server({ extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)] });
    for (let i = 0; !primary.cli('INFO', 'replication').includes('state=online'); i++) {
      expect(i).toBeLessThan(200);
      await new Promise((r) => setTimeout(r, 50));
    }
    const durability = { allowNonDurable: false, asserted: parseDurabilityAssertion('aof-always,wait:1') };
    const log = await RedisDecisionLog.open(primary.url, { durability });
    expect(log.durability).toMatchObject({ waitReplicas: 1 });
    const seq = await log.logCommit({
      txnId: 'tx_1',
      shards: ['a'],
      readOnlyShards: [],
      idempotencyKey: '',
      startedAtMs: 1,
      atMs: 2,
    });
    // Acknowledged means the replica has it.
    const key = new KeyLayout(16).ofTxn('tx_1').record('tx_1');
    expect(replica.cli('HGET', key, 'seq')).toBe(String(seq));
    // The replica gone, a forced write cannot be acknowledged: UNAVAILABLE (outcome unknown), not success.
    await replica.kill();
    await expect(
      log.logCommit({
        txnId: 'tx_2',
        shards: ['a'],
        readOnlyShards: [],
        idempotencyKey: '',
        startedAtMs: 1,
        atMs: 2,
      }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/replicas acknowledged/) });
    await log.close();
  });

  it('refuses to write to a replica', async () => {
    const primary = await server();
    const replica = await server({ extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)] });
    await expect(
      RedisDecisionLog.open(replica.url, { durability: { allowNonDurable: true } }),
    ).rejects.toThrow(/not a master/);
  });
});

describe('npx twopc coordinator --decision-log redis://…', () => {
  const participant = ['--participant', 'a=127.0.0.1:1'];

  it('refuses a non-durable Redis with one clear line and exit 1, and starts with --allow-non-durable-log', async () => {
    const s = await server({ durable: false });
    const refused = await runCli([
      'coordinator',
      '--listen',
      '127.0.0.1:0',
      '--decision-log',
      s.url,
      ...participant,
    ]);
    expect(refused.code).toBe(1);
    const [message, hint] = lines(refused.stderr).filter(
      (l) => l.startsWith('twopc:') || l.startsWith('hint:'),
    );
    expect(message).toMatch(
      /^twopc: Redis decision log redis:\/\/127\.0\.0\.1:\d+\/0 is not durable: appendonly=no/,
    );
    expect(hint).toMatch(/^hint: .*--allow-non-durable-log/);
    expect(s.cli('DBSIZE')).toBe('0');

    const running = await startCli(
      [
        'coordinator',
        '--listen',
        '127.0.0.1:0',
        '--decision-log',
        s.url,
        '--allow-non-durable-log',
        ...participant,
      ],
      { env: { TWOPC_LOG_LEVEL: 'warn' } },
    );
    try {
      expect(running.output.stderr).toContain('DECISION LOG IS NOT DURABLE');
    } finally {
      running.child.kill('SIGTERM');
      expect((await running.exited).code).toBe(0);
    }
  });

  it('rejects a malformed --decision-log or durability flag with exit 2 and one line', async () => {
    for (const [args, message] of [
      [['--decision-log', 'redis://127.0.0.1:notaport/0'], /bad host:port/],
      [
        ['--decision-log', 'redis://:secret@127.0.0.1:6379/x'],
        /redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/x: the database number/,
      ],
      [['--decision-log', 'mysql://db'], /not a Redis URL/],
      [['--decision-log', 'decisions.db'], /neither sqlite:PATH nor a redis:\/\/ URL/],
      [
        ['--decision-log', 'redis://127.0.0.1:1/0', '--redis-durability', 'fsync'],
        /--redis-durability: bad value "fsync"/,
      ],
      [['--data-dir', '/tmp/x', '--allow-non-durable-log'], /apply to a Redis decision log only/],
      [
        ['--data-dir', '/tmp/x', '--lease-ttl-ms', '2000'],
        /lease-renew-ms apply to a Redis decision log only/,
      ],
      [
        ['--decision-log', 'redis://127.0.0.1:1/0', '--lease-ttl-ms', '1000', '--lease-renew-ms', '800'],
        /--lease-renew-ms 800 must be at most half of --lease-ttl-ms 1000/,
      ],
      [['--decision-log', 'redis://127.0.0.1:1/0', '--lease-ttl-ms', '5'], /--lease-ttl-ms/],
    ] as const) {
      const r = await runCli(['coordinator', ...args, ...participant]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain('secret');
      expect(lines(r.stderr).filter((l) => l.startsWith('twopc:'))).toHaveLength(1);
    }
  });
});
