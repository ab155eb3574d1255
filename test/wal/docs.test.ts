/** Keeps docs/replication.md true: every WAL shipping setting and restore limit is documented. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { S3_REQUEST_TIMEOUT_MS_DEFAULT } from '../../participant/replica/s3.ts';
import { RESTORE_PREFETCH_OBJECTS } from '../../participant/restore/restore.ts';
import { WAL_SHIPPER_DEFAULTS } from '../../participant/wal/config.ts';

const doc = readFileSync(new URL('../../docs/replication.md', import.meta.url), 'utf8');

describe('docs/replication.md', () => {
  it('documents every shipper setting', () => {
    expect(Object.keys(WAL_SHIPPER_DEFAULTS).filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  });

  it('documents the S3 and restore limits', () => {
    expect(S3_REQUEST_TIMEOUT_MS_DEFAULT).toBe(30_000);
    expect(RESTORE_PREFETCH_OBJECTS).toBe(8);
    for (const name of ['S3_REQUEST_TIMEOUT_MS_DEFAULT', 'RESTORE_PREFETCH_OBJECTS'])
      expect(doc).toContain(name);
  });
});
