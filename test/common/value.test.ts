import { describe, expect, it } from 'vitest';
import { decodeRow, encodeKey, encodeRow, fromPb, INT64_MAX, INT64_MIN, toPb } from '../../common/value.ts';
import { TwopcError } from '../../common/errors.ts';

describe('value codec', () => {
  it('round-trips every kind through protobuf form, ints exact to 64 bits', () => {
    const values = [INT64_MAX, INT64_MIN, 0n, 1.5, 'héllo', Buffer.from([0, 1, 255]), null];
    for (const v of values) expect(fromPb(toPb(v), 'x')).toEqual(v);
  });

  it('rejects a value with no kind and an out-of-range int', () => {
    expect(() => fromPb({}, 'op.key.id')).toThrow(TwopcError);
    expect(() => fromPb({ int_value: (INT64_MAX + 1n).toString() }, 'v')).toThrow(/64-bit/);
  });

  it('stores rows losslessly and keys canonically', () => {
    const row = { id: 7n, name: 'a', score: 2.25, data: Buffer.from('x'), gone: null };
    expect(decodeRow(encodeRow(row))).toEqual(row);
    expect(encodeKey([1n, 'a'])).toBe(encodeKey([1n, 'a']));
    expect(encodeKey([1n])).not.toBe(encodeKey(['1']));
    expect(encodeKey([1n])).not.toBe(encodeKey([1]));
  });
});
