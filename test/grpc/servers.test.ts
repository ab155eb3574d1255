/**
 * Server life cycles: start-up errors are clear, close() is graceful and bounded, state survives a
 * restart on the same data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { silentLogger } from '../../common/log.ts';
import { loadServices } from '../../common/proto.ts';
import { startCoordinatorServer } from '../../coordinator/coordinator-server.ts';
import { startParticipantServer, type ParticipantServer } from '../../participant/participant-server.ts';
import { freePort } from '../helpers/ports.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);';

let dir: string;
const cleanups: Array<() => unknown> = [];
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-servers-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function participant(shard: string, dataDir = path.join(dir, shard)): Promise<ParticipantServer> {
  const p = await startParticipantServer({
    shard,
    listen: '127.0.0.1:0',
    dataDir,
    schemaSql: SCHEMA,
    logger: silentLogger,
  });
  cleanups.push(() => p.close());
  return p;
}

function api(address: string) {
  const client = new (loadServices().transactions)(
    address,
    grpc.credentials.createInsecure(),
  ) as grpc.Client & Record<string, (...args: unknown[]) => void>;
  cleanups.push(() => client.close());
  return (method: string, request: object): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) =>
      client[method]!(
        request,
        { deadline: Date.now() + 20_000 },
        (err: grpc.ServiceError | null, res: Record<string, unknown>) => (err ? reject(err) : resolve(res)),
      ),
    );
}

const put = (shard: string, k: string, v: number) => ({
  shard,
  table: 'kv',
  kind: 'UPSERT',
  key: { k: { text_value: k } },
  values: { v: { int_value: String(v) } },
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('server life cycle', () => {
  it('a participant refuses a port in use with FAILED_PRECONDITION and releases its shard file', async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const dataDir = path.join(dir, 'busy');
    const err = await rejection(
      startParticipantServer({
        shard: 'busy',
        listen: `127.0.0.1:${port}`,
        dataDir,
        schemaSql: SCHEMA,
        logger: silentLogger,
      }),
    );
    expect(err).toBeInstanceOf(TwopcError);
    expect((err as TwopcError).code).toBe('FAILED_PRECONDITION');
    expect((err as TwopcError).message).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}`));
    const again = await participant('busy', dataDir);
    expect(again.store.describe().map((t) => t.name)).toEqual(['kv']);
  });

  it('refuses bad listen addresses and duplicate shards with INVALID_ARGUMENT', async () => {
    const bad = await rejection(
      startParticipantServer({
        shard: 'x',
        listen: 'nonsense',
        dataDir: path.join(dir, 'x'),
        schemaSql: SCHEMA,
        logger: silentLogger,
      }),
    );
    expect((bad as TwopcError).code).toBe('INVALID_ARGUMENT');
    const dup = await rejection(
      startCoordinatorServer({
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, 'dup'),
        participants: [
          { shard: 'a', address: '127.0.0.1:1' },
          { shard: 'a', address: '127.0.0.1:2' },
        ],
        logger: silentLogger,
      }),
    );
    expect((dup as TwopcError).code).toBe('INVALID_ARGUMENT');
  });

  it('a coordinator starts while a participant is down, and serves once it is up', async () => {
    const port = await freePort();
    const coordinator = await startCoordinatorServer({
      listen: '127.0.0.1:0',
      dataDir: path.join(dir, 'early'),
      participants: [{ shard: 'late', address: `127.0.0.1:${port}` }],
      logger: silentLogger,
    });
    cleanups.push(() => coordinator.close());
    const call = api(coordinator.address);
    const late = await startParticipantServer({
      shard: 'late',
      listen: `127.0.0.1:${port}`,
      dataDir: path.join(dir, 'late'),
      schemaSql: SCHEMA,
      logger: silentLogger,
    });
    cleanups.push(() => late.close());
    expect((await call('Execute', { ops: [put('late', 'k', 1)] })).outcome).toBe('COMMITTED');
  });

  it('coordinator close() lets calls in flight finish, refuses new ones, and the log survives a restart', async () => {
    const a = await participant('ca');
    const b = await participant('cb');
    const dataDir = path.join(dir, 'coordinator');
    const participants = [a, b].map((p) => ({ shard: p.store.shard, address: p.address }));
    const first = await startCoordinatorServer({
      listen: '127.0.0.1:0',
      dataDir,
      participants,
      logger: silentLogger,
    });
    const call = api(first.address);
    await call('Execute', { ops: [put('ca', 'warm', 0), put('cb', 'warm', 0)] });
    let started = 0;
    const execute = first.coordinator.execute.bind(first.coordinator);
    first.coordinator.execute = (input) => {
      started++;
      return execute(input);
    };
    const inflight = Array.from({ length: 40 }, (_, i) =>
      call('Execute', {
        ops: [put('ca', `k${i}`, i), put('cb', `k${i}`, i)],
        idempotency_key: `key-${i}`,
      }).then(
        (res) => res.outcome as string,
        (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`,
      ),
    );
    await expect.poll(() => started, { interval: 1 }).toBeGreaterThan(0);
    const closeStartedAt = Date.now();
    const startedBeforeClose = started;
    await first.close();
    expect(Date.now() - closeStartedAt).toBeLessThan(6_000);
    const outcomes = await Promise.all(inflight);
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
    console.log(`outcomes at close: ${JSON.stringify([...counts])}`);
    // Calls the coordinator had started finish with an outcome; the rest are refused, nothing applied.
    expect(outcomes.filter((o) => o === 'COMMITTED' || o === 'ABORTED').length).toBeGreaterThanOrEqual(
      startedBeforeClose,
    );
    for (const o of outcomes) expect(['COMMITTED', 'ABORTED', 'UNAVAILABLE']).toContain(o.replace(/:.*/, ''));
    const second = await startCoordinatorServer({
      listen: '127.0.0.1:0',
      dataDir,
      participants,
      logger: silentLogger,
    });
    cleanups.push(() => second.close());
    const again = api(second.address);
    // Every transaction told COMMITTED is committed on both shards, and its key still answers COMMITTED.
    for (const [i, o] of outcomes.entries()) {
      if (o !== 'COMMITTED') continue;
      expect(a.store.read('kv', { k: `k${i}` }).found || (await waitFound(a, `k${i}`))).toBe(true);
      expect(b.store.read('kv', { k: `k${i}` }).found || (await waitFound(b, `k${i}`))).toBe(true);
      const retry = await again('Execute', {
        ops: [put('ca', `k${i}`, i), put('cb', `k${i}`, i)],
        idempotency_key: `key-${i}`,
      });
      expect(retry.outcome).toBe('COMMITTED');
    }
  });
});

async function waitFound(p: ParticipantServer, k: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (p.store.read('kv', { k }).found) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
