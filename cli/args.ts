/**
 * A small, strict flag parser over node:util parseArgs, and the validators the commands share.
 * Everything a user can get wrong (an unknown flag, a missing value, a bad address) becomes a
 * TwopcError INVALID_ARGUMENT with a one-line message and a hint, which `cli/exit.ts` prints as
 * `twopc: <message>` and exit code 2 — never a stack trace.
 *
 * parseArgs runs non-strict (so its multi-line messages never reach the user) and its tokens are
 * checked here instead.
 */
import { parseArgs } from 'node:util';
import { invalidArgument } from '../common/errors.ts';

export interface FlagSpec {
  /** `list` = may be repeated; the values are collected in order. */
  readonly kind: 'string' | 'boolean' | 'list';
  /** Placeholder shown in the usage text, e.g. HOST:PORT. */
  readonly value?: string;
  readonly description: string;
  /** For `string` flags: the value when the flag is absent. */
  readonly default?: string;
  readonly required?: boolean;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export type FlagValues<S extends FlagSpecs> = {
  -readonly [K in keyof S]: S[K]['kind'] extends 'boolean'
    ? boolean
    : S[K]['kind'] extends 'list'
      ? string[]
      : S[K] extends { readonly default: string }
        ? string
        : S[K] extends { readonly required: true }
          ? string
          : string | undefined;
};

const HELP_FLAGS: ReadonlySet<string> = new Set(['--help', '-h']);

/** True if the user asked for help anywhere before a `--` (help wins over other mistakes). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (HELP_FLAGS.has(arg)) return true;
  }
  return false;
}

function helpHint(command: string): string {
  return `run 'npx twopc ${command} --help' for the flags`;
}

/** Parses `argv` (the arguments after the command name) against `specs`; no positionals allowed. */
export function parseFlags<S extends FlagSpecs>(
  command: string,
  argv: readonly string[],
  specs: S,
): FlagValues<S> {
  // Types tell parseArgs which flags take a value; strictness is checked below, on the tokens.
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] =
      spec.kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: spec.kind === 'list' };
  }
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const out: Record<string, string | string[] | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = spec.kind === 'boolean' ? false : spec.kind === 'list' ? [] : undefined;
  }
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      throw invalidArgument(`${command}: unexpected argument "${token.value}"`, helpHint(command));
    }
    const spec = specs[token.name];
    if (spec === undefined || token.rawName.length === 2) {
      throw invalidArgument(`${command}: unknown flag ${token.rawName}`, helpHint(command));
    }
    const flag = `--${token.name}`;
    if (spec.kind === 'boolean') {
      if (token.value !== undefined)
        throw invalidArgument(`${command}: ${flag} takes no value`, helpHint(command));
      out[token.name] = true;
      continue;
    }
    // `--listen --data-dir x` would otherwise read "--data-dir" as the listen address.
    const value = token.value;
    if (value === undefined || (!token.inlineValue && value.startsWith('-'))) {
      throw invalidArgument(
        `${command}: ${flag} needs a value (${spec.value ?? 'VALUE'})`,
        helpHint(command),
      );
    }
    if (value === '') throw invalidArgument(`${command}: ${flag} must not be empty`, helpHint(command));
    if (spec.kind === 'list') {
      (out[token.name] as string[]).push(value);
    } else {
      if (out[token.name] !== undefined)
        throw invalidArgument(`${command}: ${flag} given more than once`, helpHint(command));
      out[token.name] = value;
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.kind !== 'string') continue;
    if (out[name] === undefined && spec.default !== undefined) out[name] = spec.default;
    if (out[name] === undefined && spec.required) {
      throw invalidArgument(
        `${command}: missing required flag --${name} ${spec.value ?? 'VALUE'}`,
        helpHint(command),
      );
    }
  }
  return out as FlagValues<S>;
}

/** Largest TCP port. */
const portMax = 65_535;
const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6_BRACKETED = /^\[[0-9A-Fa-f:.]+\]$/;

/** Validates HOST:PORT (a hostname, an IPv4 address or a bracketed IPv6 address; port 0 allowed). */
export function parseHostPort(flag: string, raw: string): string {
  const colon = raw.lastIndexOf(':');
  const host = colon < 0 ? '' : raw.slice(0, colon);
  const port = colon < 0 ? '' : raw.slice(colon + 1);
  const hostOk = HOSTNAME.test(host) || IPV6_BRACKETED.test(host);
  const portOk = /^\d{1,5}$/.test(port) && Number(port) <= portMax;
  if (!hostOk || !portOk) {
    throw invalidArgument(
      `${flag}: "${raw}" is not HOST:PORT`,
      'for example 127.0.0.1:7400 (port 0 = any free port)',
    );
  }
  return `${host}:${Number(port)}`;
}

/** Shard names and ids: safe in file names, logs and NAME=HOST:PORT flags. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function parseName(flag: string, raw: string): string {
  if (!NAME.test(raw)) {
    throw invalidArgument(
      `${flag}: "${raw}" is not a valid name`,
      'use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  return raw;
}

/** Ids such as a coordinator id (`coordinator@host-1`): a name that may also hold "@" and ":". */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/;

export function parseId(flag: string, raw: string): string {
  if (!ID.test(raw)) {
    throw invalidArgument(
      `${flag}: "${raw}" is not a valid id`,
      'use 1-128 letters, digits, ".", "_", "-", "@" or ":", starting with a letter or digit',
    );
  }
  return raw;
}

/** Validates NAME=HOST:PORT. */
export function parseNamedAddress(flag: string, raw: string): { name: string; address: string } {
  const eq = raw.indexOf('=');
  if (eq <= 0)
    throw invalidArgument(`${flag}: "${raw}" is not NAME=HOST:PORT`, 'for example shard-a=127.0.0.1:7401');
  return { name: parseName(flag, raw.slice(0, eq)), address: parseHostPort(flag, raw.slice(eq + 1)) };
}

/** A decimal integer in [min, max]. */
export function parseIntFlag(flag: string, raw: string, min: number, max: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw invalidArgument(`${flag}: "${raw}" is not an integer from ${min} to ${max}`);
  }
  return n;
}

export interface UsageText {
  readonly synopsis: string;
  readonly summary: string;
  readonly flags: FlagSpecs;
  /** Extra paragraphs after the flags. */
  readonly notes?: string;
}

/** The text of `<command> --help`. */
export function formatUsage(u: UsageText): string {
  const rows = Object.entries(u.flags).map(([name, spec]) => {
    const left = `  --${name}${spec.value ? ` ${spec.value}` : ''}`;
    const extra =
      spec.default !== undefined ? ` (default ${spec.default})` : spec.required ? ' (required)' : '';
    const repeat = spec.kind === 'list' ? ' (repeatable)' : '';
    return [left, `${spec.description}${extra}${repeat}`] as const;
  });
  rows.push(['  -h, --help', 'show this help']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const flagLines = rows.map(([left, right]) => left.padEnd(width) + right);
  return [
    `Usage: ${u.synopsis}`,
    '',
    u.summary,
    '',
    'Flags:',
    ...flagLines,
    ...(u.notes ? ['', u.notes] : []),
    '',
  ].join('\n');
}

/**
 * `--metrics HOST:PORT`, which must not be the `--listen` address (both would bind it; the second
 * bind would fail with a hint about the wrong flag). Port 0 is fine on both: each gets its own port.
 */
export function parseMetricsAddress(raw: string, listen: string): string {
  const metrics = parseHostPort('--metrics', raw);
  if (metrics === listen && !metrics.endsWith(':0'))
    throw invalidArgument(
      `--metrics: ${metrics} is also the --listen address`,
      'serve metrics on a port of its own, e.g. --metrics 127.0.0.1:9400',
    );
  return metrics;
}
