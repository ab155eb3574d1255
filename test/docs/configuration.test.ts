/** Keeps docs/configuration.md true: every coordinator and participant setting must be documented. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_DEFAULTS } from '../../coordinator/config.ts';
import * as participantConfig from '../../participant/config.ts';
import { FAILPOINTS } from '../../common/failpoints.ts';

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  it('documents every coordinator setting', () => {
    const missing = Object.keys(COORDINATOR_DEFAULTS).filter((k) => !doc.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });

  it('documents every participant limit', () => {
    const missing = Object.keys(participantConfig).filter((k) => !doc.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });

  it('names the failpoints variable, and every failpoint has a description', () => {
    expect(doc).toContain('TWOPC_FAILPOINTS');
    for (const [name, text] of Object.entries(FAILPOINTS)) expect(text.length, name).toBeGreaterThan(10);
  });
});
