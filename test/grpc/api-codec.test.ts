/**
 * The wire codec, through real protobuf encoding: every message is serialized and parsed by the
 * method definitions grpc-js uses, with common/proto.ts's loader options, and (for requests) with
 * @grpc/proto-loader's defaults as a client in another style would.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as apiCodec from '../../common/api-codec.ts';
import * as protocolCodec from '../../common/protocol-codec.ts';
import type { Pb } from '../../common/pb-fields.ts';

const codec = { ...apiCodec, ...protocolCodec };
import { TwopcError } from '../../common/errors.ts';
import { PROTO_ROOT, loadServices } from '../../common/proto.ts';
import type { ClientOp, TxnOutcome, TxnView } from '../../common/api.ts';
import type {
  Ack,
  DecisionMessage,
  InDoubtTxn,
  PrepareMessage,
  TableInfo,
  TxnStateInfo,
  Vote,
} from '../../common/protocol.ts';
import { INT64_MAX, INT64_MIN } from '../../common/value.ts';

type Def = grpc.MethodDefinition<object, object>;
const tx = loadServices().transactions.service;
const pt = loadServices().participant.service;
const req = (def: unknown, value: object): unknown => {
  const d = def as Def;
  return d.requestDeserialize(d.requestSerialize(value));
};
const res = (def: unknown, value: object): unknown => {
  const d = def as Def;
  return d.responseDeserialize(d.responseSerialize(value));
};

const UINT64_MAX = 2n ** 64n - 1n;
const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const OPS: ClientOp[] = [
  {
    shard: 's1',
    table: 't',
    kind: 'INSERT',
    key: { id: INT64_MIN },
    values: { big: INT64_MAX, r: -1.5, s: 'héllo ✓', b: blob, n: null },
  },
  { shard: 's2', table: 't', kind: 'CHECK', key: { id: 0n }, values: {}, expectedVersion: 0n },
  {
    shard: 's2',
    table: 't',
    kind: 'UPDATE',
    key: { a: 'x', b: -1n },
    values: { e: Buffer.alloc(0), z: '' },
    expectedVersion: UINT64_MAX,
  },
  { shard: 's3', table: 't', kind: 'ADD', key: { id: 1n }, values: { balance: -10n } },
  { shard: 's3', table: 't', kind: 'DELETE', key: { id: 2n }, values: {} },
  { shard: 's3', table: 't', kind: 'UPSERT', key: { id: 3n }, values: { r: 0 } },
];

function invalid(fn: () => unknown, pattern: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(TwopcError);
  expect((thrown as TwopcError).code).toBe('INVALID_ARGUMENT');
  expect((thrown as TwopcError).message).toMatch(pattern);
}

describe('public API codec', () => {
  it('round-trips ops through protobuf: int64 extremes, blobs, null, expected_version present or absent', () => {
    const wire = req(tx.Execute, { ops: OPS.map(codec.opToPb), timeout_ms: 1234, idempotency_key: 'k' });
    const input = codec.executeInputFromPb(wire);
    expect(input).toEqual({ ops: OPS, timeoutMs: 1234, idempotencyKey: 'k' });
    expect('expectedVersion' in (input.ops[0] as object)).toBe(false);
    expect(input.ops[1]?.expectedVersion).toBe(0n);
  });

  it('sees expected_version presence via the synthetic oneof `_expected_version`', () => {
    const wire = req(tx.Execute, { ops: OPS.slice(0, 2).map(codec.opToPb) }) as {
      ops: Record<string, unknown>[];
    };
    expect(wire.ops[0]?._expected_version).toBeUndefined();
    expect(wire.ops[0]?.expected_version).toBeUndefined();
    expect(wire.ops[1]?._expected_version).toBe('expected_version');
    expect(wire.ops[1]?.expected_version).toBe('0');
  });

  it('decodes requests serialized by a client using proto-loader defaults (camelCase, Longs, numeric enums)', () => {
    const def = protoLoader.loadSync('twopc/v1/transactions.proto', { includeDirs: [PROTO_ROOT] });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      twopc: { v1: { Transactions: grpc.ServiceClientConstructor } };
    };
    const execute = pkg.twopc.v1.Transactions.service.Execute as Def;
    const bytes = execute.requestSerialize({
      ops: [
        {
          shard: 's1',
          table: 't',
          kind: 5,
          key: { id: { intValue: '-9223372036854775808' } },
          values: { b: { blobValue: blob } },
        },
        { shard: 's1', table: 't', kind: 'CHECK', key: { id: { intValue: 7 } }, expectedVersion: 0 },
      ],
      timeoutMs: 50,
      idempotencyKey: 'other-style',
    });
    const input = codec.executeInputFromPb((tx.Execute as Def).requestDeserialize(bytes));
    expect(input).toEqual({
      ops: [
        { shard: 's1', table: 't', kind: 'ADD', key: { id: INT64_MIN }, values: { b: blob } },
        { shard: 's1', table: 't', kind: 'CHECK', key: { id: 7n }, values: {}, expectedVersion: 0n },
      ],
      timeoutMs: 50,
      idempotencyKey: 'other-style',
    });
  });

  it('refuses bad enums, missing fields and empty requests with INVALID_ARGUMENT naming the field', () => {
    const op = (o: object) => ({ ops: [{ ...codec.opToPb(OPS[3] as ClientOp), ...o }] });
    invalid(
      () => codec.executeInputFromPb(req(tx.Execute, op({ kind: 'OP_KIND_UNSPECIFIED' }))),
      /ops\[0\]\.kind: required/,
    );
    invalid(
      () => codec.executeInputFromPb(req(tx.Execute, op({ kind: 42 }))),
      /ops\[0\]\.kind: unknown value 42/,
    );
    invalid(() => codec.executeInputFromPb(req(tx.Execute, op({ shard: '' }))), /ops\[0\]\.shard: required/);
    invalid(() => codec.executeInputFromPb(req(tx.Execute, op({ table: '' }))), /ops\[0\]\.table: required/);
    invalid(() => codec.executeInputFromPb(req(tx.Execute, op({ key: {} }))), /ops\[0\]\.key: empty/);
    invalid(
      () => codec.executeInputFromPb(req(tx.Execute, op({ key: { id: {} } }))),
      /ops\[0\]\.key\.id: value has no kind/,
    );
    invalid(() => codec.executeInputFromPb(req(tx.Execute, { ops: [] })), /at least one op/);
    invalid(
      () => codec.listInputFromPb(req(tx.ListTransactions, { states: ['TXN_STATE_UNSPECIFIED'] })),
      /states\[0\]/,
    );
    invalid(
      () => codec.queryInputFromPb(req(tx.Query, { shard: 's', sql: 'SELECT 1', params: [{}] })),
      /params\[0\]/,
    );
    invalid(() => codec.txnIdFromPb(req(tx.Commit, {})), /txn_id: required/);
  });

  it('never throws anything but INVALID_ARGUMENT on arbitrary input', () => {
    const decoders = [
      codec.executeInputFromPb,
      codec.readInputFromPb,
      codec.writeInputFromPb,
      codec.listInputFromPb,
      codec.queryInputFromPb,
      codec.beginInputFromPb,
      codec.txnIdFromPb,
      (v: unknown) => codec.prepareFromPb(v),
      (v: unknown) => codec.decisionFromPb(v),
      (v: unknown) => codec.voteFromPb(v),
      (v: unknown) => codec.sessionReplyFromPb(v, 'm', 'x'),
    ];
    const anything = fc.anything({
      withNullPrototype: true,
      withObjectString: true,
      withBigInt: true,
      withBoxedValues: true,
      withTypedArray: true,
      withSparseArray: true,
    });
    const valueLike = fc.oneof(
      anything,
      fc.record({ int_value: anything }),
      fc.record({ text_value: anything, blob_value: anything, kind: fc.string() }),
    );
    const arb = fc.oneof(
      anything,
      fc.record({
        ops: fc.array(
          fc.record({
            shard: anything,
            table: anything,
            kind: anything,
            key: fc.dictionary(fc.string(), valueLike),
          }),
        ),
      }),
      fc.record({
        txn_id: anything,
        key: anything,
        vote: anything,
        seq: anything,
        states: anything,
      }),
    );
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: decoders.length - 1 }), (value, i) => {
        try {
          decoders[i]?.(value);
        } catch (err) {
          expect(err).toBeInstanceOf(TwopcError);
          expect((err as TwopcError).code).toBe('INVALID_ARGUMENT');
        }
      }),
      { seed: 7, numRuns: 2000 },
    );
  });

  it('encodes outcomes, transactions, reads and queries so they decode to the same values', () => {
    const outcome: TxnOutcome = {
      txnId: 'tx_1',
      outcome: 'ABORTED',
      reason: 'no',
      abortReason: 'CONSTRAINT',
      decisionSeq: 0n,
    };
    expect(codec.txnOutcomeFromPb(res(tx.Execute, codec.txnOutcomeToPb(outcome)))).toEqual(outcome);
    const committed: TxnOutcome = {
      txnId: 'tx_2',
      outcome: 'COMMITTED',
      reason: '',
      decisionSeq: UINT64_MAX,
    };
    expect(codec.txnOutcomeFromPb(res(tx.Execute, codec.txnOutcomeToPb(committed)))).toEqual(committed);

    const view: TxnView = {
      txnId: 'tx_3',
      state: 'COMMITTING',
      outcome: 'COMMITTED',
      shards: ['a', 'b'],
      decisionSeq: 17n,
      startedAtMs: 1_700_000_000_000,
      decidedAtMs: 1_700_000_000_123,
      reason: '',
      idempotencyKey: 'k',
    };
    expect(codec.txnViewFromPb(res(tx.GetTransaction, codec.txnViewToPb(view)))).toEqual(view);
    const page = res(
      tx.ListTransactions,
      codec.txnPageToPb({ transactions: [view], nextPageToken: 'n' }),
    ) as Pb;
    expect(page.next_page_token).toBe('n');
    expect(codec.txnViewFromPb((page.transactions as unknown[])[0])).toEqual(view);

    const read = { found: true, row: { id: INT64_MAX, b: blob, n: null, r: 0.25 }, version: UINT64_MAX };
    expect(codec.readResultFromPb(res(tx.Read, codec.readResultToPb(read)))).toEqual(read);
    const query = {
      columns: ['id', 'x'],
      rows: [
        { id: INT64_MIN, x: null },
        { id: 1n, x: 'y' },
      ],
    };
    expect(codec.queryResultFromPb(res(tx.Query, codec.queryResultToPb(query)))).toEqual(query);
  });
});

describe('participant protocol codec', () => {
  const prepare: PrepareMessage = {
    txnId: 'tx_p',
    ops: OPS.map(({ shard: _shard, ...op }) => op),
    reads: [
      { table: 't', key: { id: 5n }, version: 0n },
      { table: 't', key: { id: INT64_MAX }, version: UINT64_MAX },
    ],
    onePhase: false,
    readOnlyOk: true,
    peers: [{ shard: 's2', address: '127.0.0.1:1' }],
    coordinatorId: 'c1',
    epoch: UINT64_MAX,
    deadlineMs: 1_700_000_000_000,
  };
  const decision: DecisionMessage = { txnId: 'tx_p', commit: true, decisionSeq: 99n, epoch: 3n };

  it('round-trips Session batches: prepares, decisions, seqs', () => {
    const batch = {
      messages: [
        codec.sessionRequestToPb('1', { prepare, shard: 's1' }),
        codec.sessionRequestToPb(UINT64_MAX.toString(), { decision }),
      ],
    };
    const wire = req(pt.Session, batch) as { messages: unknown[] };
    expect(codec.sessionRequestFromPb(wire.messages[0], 'm')).toEqual({
      ok: true,
      request: { seq: '1', kind: 'prepare', message: prepare },
    });
    expect(codec.sessionRequestFromPb(wire.messages[1], 'm')).toEqual({
      ok: true,
      request: { seq: UINT64_MAX.toString(), kind: 'decision', message: decision },
    });
    const noBody = codec.sessionRequestFromPb(
      (req(pt.Session, { messages: [{ seq: '5' }] }) as { messages: unknown[] }).messages[0],
      'm',
    );
    expect(noBody.ok).toBe(false);
    expect(!noBody.ok && noBody.seq).toBe('5');
  });

  it('round-trips every vote, acks and errors in ParticipantBatch', () => {
    const votes: Vote[] = [
      { txnId: 'a', vote: 'YES' },
      { txnId: 'b', vote: 'READ_ONLY' },
      { txnId: 'c', vote: 'COMMITTED_ONE_PHASE' },
      { txnId: 'd', vote: 'NO', reasonCode: 'CONFLICT', reason: 'locked', invalid: false },
      { txnId: 'e', vote: 'NO', reasonCode: 'CONSTRAINT', reason: 'no such column', invalid: true },
    ];
    const acks: Ack[] = [
      { txnId: 'f', state: 'COMMITTED' },
      { txnId: 'g', state: 'ABORTED' },
    ];
    const messages = [
      ...votes.map((v, i) => ({ seq: String(i), vote: codec.voteToPb(v) })),
      ...acks.map((a, i) => ({ seq: String(10 + i), ack: codec.ackToPb(a) })),
      { seq: '20', error: codec.sessionErrorText('RESOURCE_EXHAUSTED', 'queue full') },
      { seq: '21', error: 'disk on fire' },
    ];
    const wire = res(pt.Session, { messages }) as { messages: unknown[] };
    const replies = wire.messages.map((m, i) => codec.sessionReplyFromPb(m, `m[${i}]`, 'shard s1'));
    expect(replies.slice(0, 5).map((r) => r.kind === 'vote' && r.vote)).toEqual(votes);
    expect(replies.slice(5, 7).map((r) => r.kind === 'ack' && r.ack)).toEqual(acks);
    const [e1, e2] = replies.slice(7).map((r) => (r.kind === 'error' ? r.error : undefined));
    expect([e1?.code, e1?.message]).toEqual(['RESOURCE_EXHAUSTED', 'shard s1: queue full']);
    expect([e2?.code, e2?.message]).toEqual(['UNAVAILABLE', 'shard s1: disk on fire']);
  });

  it('round-trips unary messages and responses', () => {
    expect(codec.prepareFromPb(req(pt.Prepare, codec.prepareToPb(prepare)))).toEqual(prepare);
    expect(codec.decisionFromPb(req(pt.Decide, codec.decisionToPb(decision)))).toEqual(decision);
    expect(codec.shardReadFromPb(req(pt.Read, codec.shardReadToPb('t', { id: INT64_MIN, k: blob })))).toEqual(
      {
        table: 't',
        key: { id: INT64_MIN, k: blob },
      },
    );
    const params = [INT64_MAX, 1.25, 'x', blob, null];
    expect(codec.shardQueryFromPb(req(pt.Query, codec.shardQueryToPb('SELECT ?', params)))).toEqual({
      sql: 'SELECT ?',
      params,
    });
    const state: TxnStateInfo = {
      txnId: 'x',
      state: 'PREPARED',
      decisionSeq: 0n,
      preparedAtMs: 123,
      decidedAtMs: 0,
    };
    expect(codec.txnStateFromPb(res(pt.GetTxnState, codec.txnStateToPb(state)))).toEqual(state);
    expect(codec.txnStateRequestFromPb(req(pt.GetTxnState, { txn_id: 'x', abort_if_unknown: true }))).toEqual(
      {
        txnId: 'x',
        abortIfUnknown: true,
      },
    );
    const inDoubt: InDoubtTxn[] = [
      { txnId: 'y', coordinatorId: 'c', preparedAtMs: 5, peers: [{ shard: 'p', address: 'h:1' }] },
    ];
    expect(codec.inDoubtFromPb(res(pt.ListInDoubt, codec.inDoubtToPb('s', inDoubt)))).toEqual(inDoubt);
    const tables: TableInfo[] = [
      {
        name: 't',
        columns: [
          { name: 'id', declaredType: 'INTEGER', notNull: true, pkIndex: 1 },
          { name: 'v', declaredType: '', notNull: false, pkIndex: 0 },
        ],
      },
    ];
    expect(codec.describeFromPb(res(pt.Describe, codec.describeToPb('s', tables)))).toEqual({
      shard: 's',
      tables,
    });
  });

  it('refuses malformed protocol messages', () => {
    invalid(
      () => codec.voteFromPb({ txn_id: 'a', vote: 'NO', reason_code: 'ABORT_REASON_UNSPECIFIED' }),
      /reason_code: required/,
    );
    invalid(() => codec.voteFromPb({ txn_id: 'a', vote: 'VOTE_UNSPECIFIED' }), /vote: required/);
    invalid(() => codec.ackFromPb({ txn_id: 'a', state: 'LOCAL_STATE_UNSPECIFIED' }), /state: required/);
    invalid(
      () =>
        codec.prepareFromPb({
          txn_id: 'a',
          ops: [{ table: 't', kind: 'INSERT', key: { id: { int_value: 'x' } } }],
        }),
      /ops\[0\]\.key\.id/,
    );
    invalid(() => codec.prepareFromPb({ txn_id: 'a', epoch: '-1' }), /epoch: -1 is out of range/);
  });

  it('keeps the proto files where the loader expects them', () => {
    expect(path.basename(PROTO_ROOT)).toBe('proto');
  });
});
