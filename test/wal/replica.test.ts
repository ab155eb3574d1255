/**
 * The replica backends against the same contract — a real directory and a real s3rver — plus the
 * object codec (a damaged object is refused, never decoded) and URL parsing.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import type { ReplicaClient } from '../../participant/replica/replica.ts';
import { CorruptObjectError, decodeObject, encodeObject } from '../../participant/replica/replica-object.ts';
import { openReplicaClient, parseReplicaUrl } from '../../participant/replica/replica-url.ts';
import { S3rverProcess, tempDir, useS3rverCredentials } from './helpers.ts';

let s3: S3rverProcess;
let dir: string;
beforeAll(async () => {
  useS3rverCredentials();
  s3 = await S3rverProcess.start();
  dir = tempDir();
});
afterAll(async () => {
  await s3.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

const backends: Array<[string, () => Promise<ReplicaClient>]> = [
  ['file', () => openReplicaClient(parseReplicaUrl(`file://${dir}/replica`))],
  // A 2-key page makes every listing below span several pages.
  ['s3', () => openReplicaClient(parseReplicaUrl(s3.url('conformance')), { listPageKeysMax: 2 })],
];

describe.each(backends)('%s replica client', (_name, open) => {
  it('puts, gets, lists in key order across pages, and deletes idempotently', async () => {
    const client = await open();
    try {
      const keys = [
        's/generations/g/wal/0000000001-2',
        's/generations/g/wal/0000000000-1',
        's/generations/g/snapshots/0',
        's/other/x',
        't/generations/y',
      ];
      for (const [i, key] of keys.entries()) await client.put(key, Buffer.from(`body ${i}`));
      expect((await client.get(keys[0] as string))?.toString()).toBe('body 0');
      expect(await client.get('s/generations/nope')).toBeUndefined();
      const listed = await client.list('s/generations/');
      expect(listed.map((o) => o.key)).toEqual([keys[2], keys[1], keys[0]]);
      expect(listed.every((o) => o.size === 6)).toBe(true);
      expect((await client.list('')).length).toBe(5);
      await client.put(keys[0] as string, Buffer.from('replaced'));
      expect((await client.get(keys[0] as string))?.toString()).toBe('replaced');
      await client.delete(keys[0] as string);
      await client.delete(keys[0] as string);
      expect(await client.get(keys[0] as string)).toBeUndefined();
      expect((await client.list('s/generations/g/wal/')).map((o) => o.key)).toEqual([keys[1]]);
    } finally {
      client.close();
    }
  });

  it('keeps binary bodies byte for byte', async () => {
    const client = await open();
    try {
      const body = Buffer.alloc(300_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
      await client.put('bin/x', body);
      expect((await client.get('bin/x'))?.equals(body)).toBe(true);
    } finally {
      client.close();
    }
  });
});

describe('s3 replica client errors', () => {
  it('reports a missing bucket as NOT_FOUND and a dead endpoint as UNAVAILABLE', async () => {
    const noBucket = await openReplicaClient(
      parseReplicaUrl(s3.url('x').replace('twopc-test', 'no-such-bucket')),
    );
    await expect(noBucket.put('k', Buffer.from('v'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    noBucket.close();
    const dead = await openReplicaClient(
      parseReplicaUrl('s3://twopc-test/x?endpoint=http://127.0.0.1:1&region=us-east-1'),
    );
    const err = await dead.put('k', Buffer.from('v')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TwopcError);
    expect((err as TwopcError).code).toBe('UNAVAILABLE');
    expect((err as TwopcError).retryable).toBe(true);
    dead.close();
  });
});

describe('replica objects', () => {
  const identity = {
    kind: 'segment',
    shard: 's',
    generation: 'g',
    index: 3,
    offset: 4152,
    timeMs: 1,
  } as const;

  it('round-trips and refuses any damage', async () => {
    const raw = Buffer.from('wal bytes '.repeat(1000));
    const encoded = await encodeObject(identity, 4096, raw, { salt1: 1 });
    const { header, raw: back } = await decodeObject('k', encoded, identity);
    expect(back.equals(raw)).toBe(true);
    expect(header.extra).toEqual({ salt1: 1 });
    for (const at of [0, 9, 20, encoded.length - 10, encoded.length - 1]) {
      const bad = Buffer.from(encoded);
      bad[at] = (bad[at] as number) ^ 0x55;
      await expect(decodeObject('k', bad, identity), `byte ${at}`).rejects.toBeInstanceOf(CorruptObjectError);
    }
    await expect(decodeObject('k', encoded.subarray(0, encoded.length - 5), identity)).rejects.toBeInstanceOf(
      CorruptObjectError,
    );
    await expect(decodeObject('k', encoded, { ...identity, offset: 0 })).rejects.toThrow(
      /its offset is 4152, its name says 0/,
    );
    await expect(decodeObject('k', encoded, { ...identity, kind: 'snapshot' })).rejects.toThrow(/bad magic/);
  });

  it('tells a prefix of an object (an upload cut short) from damage', async () => {
    const raw = Buffer.from('wal bytes '.repeat(1000));
    const encoded = await encodeObject(identity, 4096, raw);
    const headerEnd = 12 + encoded.readUInt32BE(8);
    for (const length of [0, 3, 8, 11, 12, 40, headerEnd, headerEnd + 5, encoded.length - 1])
      await expect(
        decodeObject('k', encoded.subarray(0, length), identity),
        `${length} bytes`,
      ).rejects.toMatchObject({
        truncated: true,
      });
    for (const at of [0, 5, 20, encoded.length - 10, encoded.length - 1]) {
      const bad = Buffer.from(encoded);
      bad[at] = (bad[at] as number) ^ 0x55;
      await expect(decodeObject('k', bad, identity), `byte ${at}`).rejects.toMatchObject({
        truncated: false,
      });
    }
  });
});

describe('replica URLs', () => {
  it('parses file:// and s3:// URLs', () => {
    expect(parseReplicaUrl('file:///var/replica')).toEqual({ kind: 'file', dir: '/var/replica' });
    expect(parseReplicaUrl('s3://my-bucket/a/b?endpoint=http://127.0.0.1:9000&region=eu-west-1')).toEqual({
      kind: 's3',
      config: {
        bucket: 'my-bucket',
        prefix: 'a/b/',
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-1',
        forcePathStyle: true,
      },
    });
    expect(parseReplicaUrl('s3://my-bucket')).toMatchObject({ config: { prefix: '' } });
  });

  it.each([
    ['ftp://x', /not a file:\/\/ or s3:\/\/ URL/],
    ['file://', /names no directory/],
    ['s3://B!/x', /not a valid URL|not an S3 bucket name/],
    ['s3://ab/x', /not an S3 bucket name/],
    ['s3://bucket/x?endpoint=localhost:9000', /endpoint "localhost:9000" is not/],
    ['s3://bucket/x?bucket=y', /unknown parameter "bucket"/],
    ['s3://bucket/../x', /may not contain/],
  ])('refuses %s', (url, message) => {
    expect(() => parseReplicaUrl(url)).toThrow(message);
  });
});
