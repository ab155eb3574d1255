/**
 * Plain JS values <-> twopc.v1.Value, through the real wire encoding (protobuf bytes produced by the
 * same proto-loader options the SDK uses), so a round trip here is a round trip over gRPC.
 */
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { LOADER_OPTIONS } from '../../common/proto.ts';
import { INT64_MAX, INT64_MIN, type PbValue, type SqlValue } from '../../common/value.ts';
import { opsToWire } from '../../client/ops.ts';
import {
  fromValue,
  fromValueMap,
  real,
  toSqlValue,
  toValue,
  toValueMap,
  type PlainValue,
} from '../../client/values.ts';

const definition = protoLoader.loadSync('twopc/v1/transactions.proto', LOADER_OPTIONS);
const query = (
  definition['twopc.v1.Transactions'] as Record<string, protoLoader.MethodDefinition<object, object>>
).Query!;

/** Encodes values as QueryRequest.params to protobuf bytes and decodes them again. */
function overTheWire(values: PbValue[]): PbValue[] {
  const bytes = query.requestSerialize({ shard: 's', sql: 'SELECT 1', params: values });
  return (query.requestDeserialize(bytes) as { params: PbValue[] }).params;
}

function roundTrip(value: PlainValue): SqlValue {
  return fromValue(overTheWire([toValue(value)])[0]);
}

function invalid(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TwopcError);
  expect((caught as TwopcError).code).toBe('INVALID_ARGUMENT');
  expect((caught as TwopcError).message).toMatch(message);
}

describe('values', () => {
  it('integers become int_value and come back as bigint, exactly, over 64 bits', () => {
    expect(toValue(1n)).toEqual({ int_value: '1' });
    expect(toValue(42)).toEqual({ int_value: '42' });
    expect(roundTrip(42)).toBe(42n);
    expect(roundTrip(-0)).toBe(0n);
    expect(roundTrip(INT64_MAX)).toBe(INT64_MAX);
    expect(roundTrip(INT64_MIN)).toBe(INT64_MIN);
    expect(roundTrip(Number.MAX_SAFE_INTEGER)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    expect(roundTrip(true)).toBe(1n);
    expect(roundTrip(false)).toBe(0n);
  });

  it('non-integers are REAL; real() forces REAL for an integral number', () => {
    expect(toValue(1.5)).toEqual({ real_value: 1.5 });
    expect(roundTrip(-0.25)).toBe(-0.25);
    expect(toValue(real(2))).toEqual({ real_value: 2 });
    expect(roundTrip(real(2))).toBe(2);
  });

  it('text, blobs and null', () => {
    expect(roundTrip('')).toBe('');
    expect(roundTrip('héllo ✓')).toBe('héllo ✓');
    expect(roundTrip(null)).toBeNull();
    const blob = roundTrip(Buffer.from([0, 1, 255]));
    expect(Buffer.isBuffer(blob) && [...blob]).toEqual([0, 1, 255]);
    // A view into a bigger buffer sends only its own bytes.
    const view = new Uint8Array(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2);
    expect([...(roundTrip(view) as Buffer)]).toEqual([8, 7]);
  });

  it('refuses what SQLite cannot store exactly, naming the place', () => {
    invalid(() => toValue(2n ** 63n, 'key.id'), /^key\.id: .* outside the 64-bit integer range/);
    invalid(() => toValue(INT64_MIN - 1n), /outside the 64-bit integer range/);
    invalid(() => toValue(2 ** 53 + 2), /beyond 2\^53/);
    invalid(() => toValue(Number.NaN), /not a finite number/);
    invalid(() => toValue(Infinity), /not a finite number/);
    invalid(() => toValue(real(Number.NaN)), /not a finite number/);
    invalid(
      () => toValue(undefined as unknown as PlainValue, 'values.x'),
      /^values\.x: undefined cannot be stored/,
    );
    invalid(() => toValue({} as unknown as PlainValue), /an object .* cannot be stored/);
    invalid(() => toValue(Symbol('s') as unknown as PlainValue), /a symbol cannot be stored/);
    invalid(
      () => toValueMap({ a: 1n, b: undefined as unknown as PlainValue }, 'values'),
      /^values\.b: undefined/,
    );
  });

  it('maps keep their columns', () => {
    const row = { id: 7n, owner: 'ann', balance: 10, ratio: 0.5, photo: Buffer.from('x'), note: null };
    const wire = toValueMap(row, 'row');
    expect(fromValueMap(wire, 'row')).toEqual({ ...row, balance: 10n });
  });

  it('any plain value survives the wire (property)', () => {
    const plain = fc.oneof(
      fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
      fc.maxSafeInteger(),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
      fc.string({ unit: 'grapheme' }),
      fc.uint8Array({ maxLength: 64 }),
      fc.boolean(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 8 }), (values) => {
        const back = overTheWire(values.map((v) => toValue(v))).map((v) => fromValue(v));
        expect(back).toEqual(values.map((v) => toSqlValue(v)));
      }),
      { seed: 20240607, numRuns: 300 },
    );
  });
});

describe('ops', () => {
  it('encode kinds, keys, values and expected versions as the wire wants them', () => {
    const [op] = opsToWire([
      {
        shard: 'shard-a',
        table: 'accounts',
        kind: 'ADD',
        key: { id: 1n },
        values: { balance: -10 },
        expectedVersion: 3,
      },
    ]);
    expect(op).toEqual({
      shard: 'shard-a',
      table: 'accounts',
      kind: 'ADD',
      key: { id: { int_value: '1' } },
      values: { balance: { int_value: '-10' } },
      expected_version: '3',
    });
    const [noValues] = opsToWire([{ shard: 's', table: 't', kind: 'DELETE', key: { k: 'x' } }]);
    expect(noValues).toEqual({
      shard: 's',
      table: 't',
      kind: 'DELETE',
      key: { k: { text_value: 'x' } },
      values: {},
    });
  });

  it('name the op and field of a mistake', () => {
    const ok = { shard: 's', table: 't', kind: 'UPSERT', key: { id: 1n } } as const;
    invalid(() => opsToWire([ok, { ...ok, values: { v: Number.NaN } }]), /^ops\[1\]\.values\.v: NaN/);
    invalid(
      () => opsToWire([{ ...ok, kind: 'MERGE' as 'UPSERT' }]),
      /^ops\[0\]\.kind: "MERGE" is not one of/,
    );
    invalid(() => opsToWire([{ ...ok, expectedVersion: -1 }]), /expectedVersion: -1 is not a version/);
  });
});
