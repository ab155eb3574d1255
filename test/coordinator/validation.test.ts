/**
 * Static validation: every kind of bad input is INVALID_ARGUMENT, names what is wrong, and sends
 * nothing to any participant. Bad config is refused at construction.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientOp } from '../../common/api.ts';
import { TwopcError } from '../../common/errors.ts';
import type { ParticipantClient } from '../../common/protocol.ts';
import { Coordinator } from '../../coordinator/coordinator.ts';
import { add, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

const valid = add('s1', 1, 1n);

describe('static validation', () => {
  it('refuses bad requests with INVALID_ARGUMENT before sending anything', async () => {
    cluster = await startCluster({
      config: { opsPerTxnMax: 4, valueBytesMax: 64, requestBytesMax: 400, txnTimeoutMsMax: 60_000 },
    });
    const c = cluster.coordinator;
    const op = (patch: Partial<ClientOp>): ClientOp => ({ ...add('s2', 1, 1n), ...patch });
    const cases: Array<[string, { ops: ClientOp[]; timeoutMs?: number; idempotencyKey?: string }, RegExp]> = [
      ['empty ops', { ops: [] }, /no ops/],
      ['too many ops', { ops: Array.from({ length: 5 }, (_, i) => add('s1', i, 1n)) }, /5 ops .* limit of 4/],
      ['unknown shard', { ops: [valid, add('nope', 1, 1n)] }, /unknown shard "nope"/],
      ['empty table', { ops: [valid, op({ table: '' })] }, /op\[1\].*table is empty/],
      ['reserved table', { ops: [valid, op({ table: '_twopc_pending' })] }, /reserved/],
      ['empty key', { ops: [valid, op({ key: {} })] }, /key is empty/],
      ['bad kind', { ops: [valid, op({ kind: 'MERGE' as ClientOp['kind'] })] }, /kind "MERGE"/],
      [
        'text too large',
        { ops: [valid, op({ kind: 'UPSERT', values: { owner: 'é'.repeat(40) } })] },
        /80 bytes is over the limit of 64/,
      ],
      [
        'blob too large',
        { ops: [valid, op({ kind: 'UPSERT', values: { data: Buffer.alloc(65) } })] },
        /65 bytes/,
      ],
      [
        'request too large',
        {
          ops: Array.from({ length: 4 }, (_, i) => ({
            ...add('s1', i, 1n),
            kind: 'UPSERT' as const,
            values: { a: 'x'.repeat(60), b: 'y'.repeat(60) },
          })),
        },
        /size limit of 400/,
      ],
      ['integer out of range', { ops: [op({ values: { balance: 2n ** 63n } })] }, /64-bit range/],
      ['NaN', { ops: [op({ values: { balance: Number.NaN } })] }, /NaN/],
      [
        'ADD with text',
        { ops: [op({ values: { balance: 'lots' } })] },
        /ADD delta values.balance is not a number/,
      ],
      ['DELETE with values', { ops: [op({ kind: 'DELETE' })] }, /DELETE takes no values/],
      ['CHECK without version', { ops: [op({ kind: 'CHECK', values: {} })] }, /CHECK needs expected_version/],
      ['negative version', { ops: [op({ expectedVersion: -1n })] }, /expected_version/],
      ['column in key and values', { ops: [op({ values: { id: 2n } })] }, /"id" is in both key and values/],
      ['timeout over max', { ops: [valid], timeoutMs: 60_001 }, /over the maximum of 60000/],
      ['negative timeout', { ops: [valid], timeoutMs: -1 }, /timeout_ms/],
      [
        'key too long',
        { ops: [valid], idempotencyKey: 'k'.repeat(257) },
        /idempotency_key is over 256 bytes/,
      ],
    ];
    for (const [name, input, message] of cases) {
      const err = await c.execute({ timeoutMs: 0, idempotencyKey: '', ...input }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(TwopcError);
      expect((err as TwopcError).code, name).toBe('INVALID_ARGUMENT');
      expect((err as TwopcError).message, name).toMatch(message);
    }
    for (const s of cluster.shards.values()) expect(s.calls.prepare).toBe(0);
    expect(cluster.log.stats().records).toBe(0);
  });

  it('refuses a Query that is not a SELECT before sending it', async () => {
    cluster = await startCluster();
    const c = cluster.coordinator;
    await expect(c.query('s1', 'DELETE FROM accounts', [])).rejects.toThrow(/only a single SELECT/);
    await expect(c.query('s1', '  ', [])).rejects.toThrow(/empty/);
    await expect(c.query('nope', 'SELECT 1', [])).rejects.toThrow(/unknown shard/);
    expect(cluster.shard('s1').calls.query).toBe(0);
    expect(await c.query('s1', '/* hi */ select count(*) AS n FROM accounts WHERE id > ?', [1n])).toEqual({
      columns: ['n'],
      rows: [{ n: 0n }],
    });
  });

  it('refuses a bad configuration at construction', async () => {
    cluster = await startCluster();
    const base = {
      coordinatorId: 'c',
      log: cluster.log,
      participants: cluster.shards as ReadonlyMap<string, ParticipantClient>,
    };
    expect(() => new Coordinator({ ...base, config: { prepareTimeoutMs: 0 } })).toThrow(
      /prepareTimeoutMs must be a positive integer/,
    );
    expect(
      () => new Coordinator({ ...base, config: { txnTimeoutMsDefault: 10, txnTimeoutMsMax: 5 } }),
    ).toThrow(/over txnTimeoutMsMax/);
    expect(
      () => new Coordinator({ ...base, config: { decisionRetryBackoff: { baseMs: 10, maxMs: 1 } } }),
    ).toThrow(/decisionRetryBackoff/);
    expect(() => new Coordinator({ ...base, participants: new Map() })).toThrow(/no participants/);
  });
});
