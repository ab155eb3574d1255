/** The flag parser and validators, in-process (the process-level behaviour is in cli.test.ts). */
import { describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import {
  formatUsage,
  parseFlags,
  parseHostPort,
  parseId,
  parseIntFlag,
  parseNamedAddress,
  wantsHelp,
} from '../../cli/args.ts';

const SPECS = {
  listen: { kind: 'string', value: 'HOST:PORT', description: 'where', default: '127.0.0.1:1' },
  dir: { kind: 'string', value: 'DIR', description: 'dir', required: true },
  peer: { kind: 'list', value: 'P', description: 'peers' },
  verbose: { kind: 'boolean', description: 'more' },
  opt: { kind: 'string', description: 'optional' },
} as const;

function invalid(fn: () => unknown): TwopcError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TwopcError);
    expect((err as TwopcError).code).toBe('INVALID_ARGUMENT');
    return err as TwopcError;
  }
  throw new Error('expected an INVALID_ARGUMENT');
}

describe('parseFlags', () => {
  it('parses values, defaults, lists, booleans and --flag=value', () => {
    const v = parseFlags('t', ['--dir=d', '--peer', 'a', '--peer', 'b', '--verbose'], SPECS);
    expect(v).toEqual({ listen: '127.0.0.1:1', dir: 'd', peer: ['a', 'b'], verbose: true, opt: undefined });
  });

  it('accepts a value starting with a dash only in --flag=value form', () => {
    expect(parseFlags('t', ['--dir', 'd', '--opt=-x'], SPECS).opt).toBe('-x');
    expect(invalid(() => parseFlags('t', ['--dir', 'd', '--opt', '-x'], SPECS)).message).toMatch(
      /--opt needs a value/,
    );
  });

  it('refuses every mistake with a one-line message and a hint', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--dir', 'd', '--nope'], /unknown flag --nope/],
      [['--dir', 'd', 'extra'], /unexpected argument "extra"/],
      [['--dir'], /--dir needs a value \(DIR\)/],
      [['--dir='], /--dir must not be empty/],
      [['--dir', 'd', '--verbose=yes'], /--verbose takes no value/],
      [['--dir', 'a', '--dir', 'b'], /--dir given more than once/],
      [[], /missing required flag --dir DIR/],
    ];
    for (const [argv, message] of cases) {
      const err = invalid(() => parseFlags('t', argv, SPECS));
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('\n');
      expect(err.hint).toMatch(/npx twopc t --help/);
    }
  });

  it('treats everything after -- as arguments, which these commands do not take', () => {
    expect(invalid(() => parseFlags('t', ['--dir', 'd', '--', '--verbose'], SPECS)).message).toMatch(
      /unexpected argument "--verbose"/,
    );
    expect(wantsHelp(['--', '--help'])).toBe(false);
    expect(wantsHelp(['--x', '-h'])).toBe(true);
  });
});

describe('validators', () => {
  it('HOST:PORT', () => {
    expect(parseHostPort('--l', '127.0.0.1:7400')).toBe('127.0.0.1:7400');
    expect(parseHostPort('--l', 'localhost:0')).toBe('localhost:0');
    expect(parseHostPort('--l', 'db-1.internal:007')).toBe('db-1.internal:7');
    expect(parseHostPort('--l', '[::1]:9')).toBe('[::1]:9');
    for (const bad of [
      '',
      '7400',
      ':7400',
      'host:',
      'host:x',
      'host:65536',
      'ho st:1',
      '::1:9',
      'host:1:2',
      '-host:1',
    ]) {
      expect(invalid(() => parseHostPort('--l', bad)).message).toContain('is not HOST:PORT');
    }
  });

  it('NAME=HOST:PORT', () => {
    expect(parseNamedAddress('--p', 'shard-a=127.0.0.1:7401')).toEqual({
      name: 'shard-a',
      address: '127.0.0.1:7401',
    });
    for (const bad of [
      'shard-a',
      '=127.0.0.1:1',
      'shard-a=',
      'shard-a=host',
      '-a=127.0.0.1:1',
      'a/b=127.0.0.1:1',
    ])
      invalid(() => parseNamedAddress('--p', bad));
  });

  it('ids may hold @ and :, names may not', () => {
    expect(parseId('--id', 'coordinator@host-1:2')).toBe('coordinator@host-1:2');
    for (const bad of ['', '@x', 'a b', 'a/b', 'x'.repeat(129)]) invalid(() => parseId('--id', bad));
    invalid(() => parseNamedAddress('--p', 'a@b=127.0.0.1:1'));
  });

  it('integers in a range', () => {
    expect(parseIntFlag('--n', '10', 10, 20)).toBe(10);
    for (const bad of ['9', '21', '-1', '1.5', '1e3', '', ' 12', '0x10'])
      invalid(() => parseIntFlag('--n', bad, 10, 20));
  });
});

describe('formatUsage', () => {
  it('lists every flag with its default or requirement, and --help', () => {
    const text = formatUsage({ synopsis: 'npx twopc t', summary: 'Does t.', flags: SPECS });
    expect(text).toMatch(/--listen HOST:PORT +where \(default 127\.0\.0\.1:1\)/);
    expect(text).toMatch(/--dir DIR +dir \(required\)/);
    expect(text).toMatch(/--peer P +peers \(repeatable\)/);
    expect(text).toMatch(/-h, --help +show this help/);
  });
});
