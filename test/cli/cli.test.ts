/**
 * The CLI as a user meets it: real `node cli/bin.mjs` processes. Help exits 0; every mistake is one
 * `twopc: …` line (plus an optional `hint: …`) on stderr, exit code 2, and never a stack trace.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILPOINTS } from '../../common/failpoints.ts';
import { lines, runCli, type CliResult } from '../helpers/cli.ts';

const COMMANDS = ['dev', 'coordinator', 'participant', 'failpoints', 'shard'] as const;

let dir: string;
let schema: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-cli-'));
  schema = path.join(dir, 'schema.sql');
  writeFileSync(schema, 'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY);\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Exit 2, nothing on stdout, and exactly `twopc: <message>` (+ `hint: …`) on stderr. */
function expectUsageError(r: CliResult, message: RegExp): void {
  const err = lines(r.stderr);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(err.some((l) => l.startsWith('    at '))).toBe(false);
  expect(err.length).toBeGreaterThanOrEqual(1);
  expect(err.length).toBeLessThanOrEqual(2);
  expect(err[0]).toMatch(/^twopc: /);
  expect(err[0]).toMatch(message);
  if (err.length === 2) expect(err[1]).toMatch(/^hint: /);
}

describe('help', () => {
  it.each(COMMANDS)('%s --help prints its usage and exits 0', async (command) => {
    const r = await runCli([command, '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Usage: npx twopc ${command}`);
    expect(r.stdout).toContain('--help');
    expect(r.stderr).toBe('');
  });

  it('-h works too, and wins over other mistakes on the line', async () => {
    const r = await runCli(['coordinator', '--bogus', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: npx twopc coordinator');
  });

  it.each([['--help'], ['help'], ['-h']])('%s lists every command', async (arg) => {
    const r = await runCli([arg]);
    expect(r.code).toBe(0);
    for (const command of COMMANDS) expect(r.stdout).toContain(`  ${command} `);
  });

  it("help <command> prints that command's usage", async () => {
    const r = await runCli(['help', 'participant']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: npx twopc participant');
  });

  it('no command prints the usage on stderr and exits 2', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: npx twopc <command>');
  });
});

describe('usage errors', () => {
  it('an unknown command is one line', async () => {
    const r = await runCli(['frobnicate']);
    expectUsageError(r, /unknown command "frobnicate"/);
    expect(lines(r.stderr)).toHaveLength(1);
  });

  const participantOk = () => [
    'participant',
    '--shard',
    'shard-a',
    '--data-dir',
    path.join(dir, 'p'),
    '--schema',
    schema,
  ];
  const coordinatorOk = () => [
    'coordinator',
    '--data-dir',
    path.join(dir, 'c'),
    '--participant',
    'shard-a=127.0.0.1:7401',
  ];

  it.each<[string, () => string[], RegExp]>([
    ['unknown flag', () => [...coordinatorOk(), '--bogus'], /unknown flag --bogus/],
    ['unknown short flag', () => [...coordinatorOk(), '-x'], /unknown flag -x/],
    ['stray argument', () => [...coordinatorOk(), 'stray'], /unexpected argument "stray"/],
    ['missing value at the end', () => [...coordinatorOk(), '--listen'], /--listen needs a value/],
    [
      'missing value before a flag',
      () => ['coordinator', '--data-dir', '--participant', 'a=127.0.0.1:1'],
      /--data-dir needs a value/,
    ],
    [
      'value on a flag given twice',
      () => [...coordinatorOk(), '--listen', '127.0.0.1:1', '--listen', '127.0.0.1:2'],
      /--listen given more than once/,
    ],
    [
      'missing required flag',
      () => ['coordinator', '--participant', 'a=127.0.0.1:1'],
      /missing required flag --data-dir/,
    ],
    [
      'no participant',
      () => ['coordinator', '--data-dir', path.join(dir, 'c')],
      /at least one --participant/,
    ],
    [
      'bad listen address',
      () => [...coordinatorOk(), '--listen', '127.0.0.1'],
      /--listen: "127.0.0.1" is not HOST:PORT/,
    ],
    ['port out of range', () => [...coordinatorOk(), '--listen', '127.0.0.1:65536'], /is not HOST:PORT/],
    [
      'participant without =',
      () => ['coordinator', '--data-dir', dir, '--participant', 'shard-a'],
      /"shard-a" is not NAME=HOST:PORT/,
    ],
    [
      'participant without port',
      () => ['coordinator', '--data-dir', dir, '--participant', 'shard-a=localhost'],
      /"localhost" is not HOST:PORT/,
    ],
    [
      'participant with a bad name',
      () => ['coordinator', '--data-dir', dir, '--participant', 'sh ard=127.0.0.1:1'],
      /"sh ard" is not a valid name/,
    ],
    [
      'participant given twice',
      () => [...coordinatorOk(), '--participant', 'shard-a=127.0.0.1:2'],
      /shard "shard-a" given more than once/,
    ],
    [
      'txn timeout not a number',
      () => [...coordinatorOk(), '--txn-timeout-ms', '10s'],
      /--txn-timeout-ms: "10s" is not an integer/,
    ],
    [
      'bad metrics address',
      () => [...coordinatorOk(), '--metrics', '9090'],
      /--metrics: "9090" is not HOST:PORT/,
    ],
    [
      'metrics on the listen address',
      () => [...coordinatorOk(), '--listen', '127.0.0.1:7499', '--metrics', '127.0.0.1:7499'],
      /--metrics: 127.0.0.1:7499 is also the --listen address/,
    ],
    [
      'participant bad metrics address',
      () => [...participantOk(), '--metrics', 'localhost:http'],
      /--metrics: "localhost:http" is not HOST:PORT/,
    ],
    ['participant bad flag', () => [...participantOk(), '--replicas', 'x'], /unknown flag --replicas/],
    [
      'participant bad --coordinator',
      () => [...participantOk(), '--coordinator', 'nowhere'],
      /--coordinator: "nowhere" is not HOST:PORT/,
    ],
    [
      'missing --schema',
      () => ['participant', '--shard', 'a', '--data-dir', dir],
      /missing required flag --schema/,
    ],
    [
      'schema file missing',
      () => ['participant', '--shard', 'a', '--data-dir', dir, '--schema', path.join(dir, 'nope.sql')],
      /cannot read .*nope\.sql.*: no such file/,
    ],
    [
      'schema is a directory',
      () => ['participant', '--shard', 'a', '--data-dir', dir, '--schema', dir],
      /cannot read .*: is a directory/,
    ],
    [
      'dev bad port',
      () => ['dev', '--port', '0', '--data-dir', path.join(dir, 'dev')],
      /--port: "0" is not an integer/,
    ],
    ['failpoints takes no arguments', () => ['failpoints', 'now'], /unexpected argument "now"/],
  ])('%s', async (_name, args, message) => {
    expectUsageError(await runCli(args()), message);
  });

  it('nothing is created when the flags are wrong', async () => {
    const dataDir = path.join(dir, 'never');
    await runCli(['coordinator', '--data-dir', dataDir, '--participant', 'bad']);
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('failpoints', () => {
  it('lists every failpoint with its description and how to enable them', async () => {
    const r = await runCli(['failpoints']);
    expect(r.code, r.stderr).toBe(0);
    for (const [name, description] of Object.entries(FAILPOINTS)) {
      expect(r.stdout).toMatch(new RegExp(`^  ${escapeRegExp(name)} +${escapeRegExp(description)}$`, 'm'));
    }
    expect(r.stdout).toContain('TWOPC_FAILPOINTS=');
  });

  it('checks and shows a TWOPC_FAILPOINTS spec', async () => {
    const r = await runCli(['failpoints'], {
      env: { TWOPC_FAILPOINTS: 'participant.before-commit-applied=2*delay(50)' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('participant.before-commit-applied=2*delay(50)');
  });

  const bad = { TWOPC_FAILPOINTS: 'coordinator.no-such-point=crash' };

  it.each<[string, () => string[]]>([
    ['failpoints', () => ['failpoints']],
    [
      'coordinator',
      () => ['coordinator', '--data-dir', path.join(dir, 'fc'), '--participant', 'a=127.0.0.1:1'],
    ],
    [
      'participant',
      () => ['participant', '--shard', 'a', '--data-dir', path.join(dir, 'fp'), '--schema', schema],
    ],
    ['dev', () => ['dev', '--data-dir', path.join(dir, 'fd')]],
  ])('a bad TWOPC_FAILPOINTS stops %s with exit 2', async (_name, args) => {
    expectUsageError(await runCli(args(), { env: bad }), /unknown failpoint "coordinator\.no-such-point"/);
  });

  it('a malformed action is refused too', async () => {
    const r = await runCli(['failpoints'], {
      env: { TWOPC_FAILPOINTS: 'participant.before-commit-applied=explode' },
    });
    expectUsageError(r, /bad failpoint/);
  });
});
