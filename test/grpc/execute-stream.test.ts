/**
 * ExecuteStream on a real coordinator and two real participants, spoken raw (no SDK): a bad request
 * fails alone and the stream lives on; the per-message limit; a stream cut off does not cancel the
 * transaction it carried; close() answers what is in flight, then ends the stream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeStreamBatchMax } from '../../common/api.ts';
import type { Pb } from '../../common/pb-fields.ts';
import { loadServices } from '../../common/proto.ts';
import type { CoordinatorServer } from '../../coordinator/coordinator-server.ts';
import type { ParticipantServer } from '../../participant/participant-server.ts';
import { startCoordinatorFor, startParticipants } from '../helpers/servers.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);';
const SHARDS = ['shard-a', 'shard-b'] as const;

let dir: string;
let participants: ParticipantServer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-exec-stream-'));
  participants = await startParticipants(dir, SHARDS, SCHEMA);
});

afterAll(async () => {
  await Promise.all(participants.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

function startCoordinator(name: string): Promise<CoordinatorServer> {
  return startCoordinatorFor(participants, path.join(dir, name));
}

const upsert = (shard: string, k: string, v: number): Pb => ({
  shard,
  table: 'kv',
  kind: 'UPSERT',
  key: { k: { text_value: k } },
  values: { v: { int_value: String(v) } },
});
const transfer = (k: string, idempotencyKey = ''): Pb => ({
  ops: [upsert('shard-a', k, 1), upsert('shard-b', k, 1)],
  timeout_ms: 0,
  idempotency_key: idempotencyKey,
});

/** A raw ExecuteStream: write batches, collect replies by seq. */
class RawStream {
  readonly replies = new Map<string, Pb>();
  readonly call: grpc.ClientDuplexStream<Pb, Pb>;
  readonly status: Promise<grpc.StatusObject>;
  private readonly client: grpc.Client;

  constructor(address: string) {
    const { transactions } = loadServices();
    this.client = new transactions(address, grpc.credentials.createInsecure());
    const def = transactions.service.ExecuteStream as grpc.MethodDefinition<Pb, Pb>;
    this.call = this.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize);
    this.call.on('data', (batch: Pb) => {
      for (const r of batch.replies as Pb[]) this.replies.set(String(r.seq), r);
    });
    this.status = new Promise((resolve) => this.call.on('status', resolve));
    this.call.on('error', () => {});
  }

  send(requests: Array<{ seq: string; request: Pb | undefined }>): void {
    this.call.write({ requests });
  }

  async waitFor(seqs: readonly string[], timeoutMs = 20_000): Promise<Pb[]> {
    const until = Date.now() + timeoutMs;
    while (!seqs.every((s) => this.replies.has(s))) {
      if (Date.now() > until) throw new Error(`no reply for ${seqs.filter((s) => !this.replies.has(s))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return seqs.map((s) => this.replies.get(s) as Pb);
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

function outcome(reply: Pb): string {
  return reply.result === 'response' ? String((reply.response as Pb).outcome) : 'error';
}
function errorCode(reply: Pb): string {
  return reply.result === 'error' ? (grpc.status[Number((reply.error as Pb).code)] as string) : 'none';
}

describe('ExecuteStream', () => {
  it('answers each request by seq; a bad one fails alone with the unary status, and the stream lives on', async () => {
    const coordinator = await startCoordinator('c1');
    const stream = new RawStream(coordinator.address);
    try {
      stream.send([
        { seq: '1', request: transfer('a') },
        { seq: '2', request: { ops: [], timeout_ms: 0, idempotency_key: '' } },
        { seq: '0', request: transfer('never') },
        { seq: '3', request: undefined },
        { seq: '4', request: transfer('b') },
      ]);
      const [r1, r2, r0, r3, r4] = await stream.waitFor(['1', '2', '0', '3', '4']);
      expect(outcome(r1!)).toBe('COMMITTED');
      expect(errorCode(r2!)).toBe('INVALID_ARGUMENT');
      expect(String((r2!.error as Pb).message)).toMatch(/at least one op/);
      expect(errorCode(r0!)).toBe('INVALID_ARGUMENT');
      expect(errorCode(r3!)).toBe('INVALID_ARGUMENT');
      expect(outcome(r4!)).toBe('COMMITTED');
      stream.send([{ seq: '5', request: transfer('c') }]);
      expect(outcome((await stream.waitFor(['5']))[0]!)).toBe('COMMITTED');
      // seq 0 was refused before running: its row was never written.
      const rows = await coordinator.coordinator.query('shard-a', 'SELECT k FROM kv ORDER BY k', []);
      expect(rows.rows.map((r) => r.k)).toEqual(['a', 'b', 'c']);
    } finally {
      stream.close();
      await coordinator.close();
    }
  });

  it(`refuses requests past ${executeStreamBatchMax} in one message with RESOURCE_EXHAUSTED`, async () => {
    const coordinator = await startCoordinator('c2');
    const stream = new RawStream(coordinator.address);
    try {
      const empty = { ops: [], timeout_ms: 0, idempotency_key: '' };
      const requests = Array.from({ length: executeStreamBatchMax + 2 }, (_, i) => ({
        seq: String(i + 1),
        request: empty,
      }));
      stream.send(requests);
      const replies = await stream.waitFor(requests.map((r) => r.seq));
      const codes = replies.map(errorCode);
      expect(codes.slice(0, executeStreamBatchMax).every((c) => c === 'INVALID_ARGUMENT')).toBe(true);
      expect(codes.slice(executeStreamBatchMax)).toEqual(['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED']);
    } finally {
      stream.close();
      await coordinator.close();
    }
  });

  it('a stream cut off while its request runs does not cancel the transaction', async () => {
    const coordinator = await startCoordinator('c3');
    try {
      const stream = new RawStream(coordinator.address);
      stream.send([{ seq: '1', request: transfer('cut', 'key-cut') }]);
      // Cut the stream the moment the coordinator has the transaction.
      let seen: string | undefined;
      while (seen === undefined) {
        const page = await coordinator.coordinator.listTransactions({
          states: [],
          pageSize: 10,
          pageToken: '',
        });
        seen = page.transactions[0]?.txnId;
        if (seen === undefined) await new Promise((r) => setTimeout(r, 1));
      }
      stream.close();
      // The same idempotency key on a new stream finds that transaction, committed, applied once.
      const again = new RawStream(coordinator.address);
      try {
        again.send([{ seq: '1', request: transfer('cut', 'key-cut') }]);
        const [reply] = await again.waitFor(['1']);
        expect(outcome(reply!)).toBe('COMMITTED');
        expect(String((reply!.response as Pb).txn_id)).toBe(seen);
        const page = await coordinator.coordinator.listTransactions({
          states: [],
          pageSize: 10,
          pageToken: '',
        });
        expect(page.transactions.map((t) => t.txnId)).toEqual([seen]);
      } finally {
        again.close();
      }
    } finally {
      await coordinator.close();
    }
  });

  it('close() answers the requests in flight, then ends the stream with OK', async () => {
    const coordinator = await startCoordinator('c4');
    const stream = new RawStream(coordinator.address);
    try {
      stream.send([{ seq: '100', request: transfer('close-first') }]);
      await stream.waitFor(['100']); // the stream is up
      const seqs = Array.from({ length: 40 }, (_, i) => String(i + 1));
      stream.send(seqs.map((seq) => ({ seq, request: transfer(`close-${seq}`) })));
      await new Promise((r) => setTimeout(r, 5));
      await coordinator.close();
      const status = await stream.status;
      expect(status.code).toBe(grpc.status.OK);
      // Every request got an answer before the end: committed, or refused as the server closed.
      const replies = await stream.waitFor(seqs, 1_000);
      for (const r of replies) {
        if (outcome(r) === 'error') expect(errorCode(r)).toBe('UNAVAILABLE');
        else expect(outcome(r)).toBe('COMMITTED');
      }
      expect(replies.some((r) => outcome(r) === 'COMMITTED')).toBe(true);
    } finally {
      stream.close();
    }
  });
});
