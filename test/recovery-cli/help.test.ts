/**
 * `recover` help as a user meets it (real processes): the overview, each subcommand's usage, and
 * `recover` with nothing after it.
 */
import { describe, expect, it } from 'vitest';
import { recover } from './in-doubt-cluster.ts';

const SUBCOMMANDS = ['status', 'show', 'resolve', 'force-commit', 'force-abort', 'log'] as const;

describe('recover help', () => {
  it('--help lists every subcommand and the target flags', async () => {
    const r = await recover(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const sub of SUBCOMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${sub} `, 'm'));
    for (const flag of [
      '--data-dir DIR',
      '--log FILE',
      '--shard NAME=FILE',
      '--participant NAME=HOST:PORT',
      '--coordinator HOST:PORT',
      '--json',
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });

  it.each(SUBCOMMANDS)('help %s prints its usage, and --help exits 0', async (sub) => {
    const r = await recover(['help', sub]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: npx twopc recover ${sub}`);
    expect(r.stdout).toContain('--json');
    if (sub !== 'status' && sub !== 'show' && sub !== 'log') expect(r.stdout).toContain('--dry-run');
    const h = await recover([sub, '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain(sub);
  });

  it('recover alone prints the overview on stderr and exits 2', async () => {
    const r = await recover([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: npx twopc recover <subcommand>');
  });
});
