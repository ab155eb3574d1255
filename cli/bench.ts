/**
 * `npx twopc bench`: twopc against PostgreSQL's native two-phase commit and a single SQLite file, in
 * one invocation on one machine, systems alternating slice by slice. Prints a table, writes JSON.
 * The pieces live in cli/bench/; this file is the flags and the output.
 */
import os from 'node:os';
import path from 'node:path';
import { invalidArgument } from '../common/errors.ts';
import { EXIT_OK } from './exit.ts';
import { formatUsage, parseFlags, parseIntFlag } from './args.ts';
import type { BenchOptions } from './bench/bench-run.ts';
import { SYSTEMS, type SystemName } from './bench/system.ts';
import { memorySoakTime } from './bench/targets.ts';
import { SCENARIOS, clientsMax, type Scenario } from './bench/workload.ts';

export const DEFAULT_BENCH_JSON = 'bench-results.json';
export const DEFAULT_BENCH_CLIENTS = '1,16,64';
/** Per row (system × scenario × clients), split over the rounds. */
export const DEFAULT_BENCH_DURATION = '10s';
export const DEFAULT_BENCH_WARMUP = '1s';
export const DEFAULT_BENCH_ROUNDS = 2;
/** --quick: a few seconds per system, for CI. */
export const QUICK_BENCH_DURATION = '1s';
export const QUICK_BENCH_WARMUP = '250ms';
/**
 * Unmeasured load on every system and scenario once, before the first slice. twopc runs on V8: its
 * coordinator spent about a third of its CPU compiling hot code (TurboFan) 7–13 s into a run, so
 * without this the first slices (1 client) measured the JIT, not the protocol. The same for every
 * system, so PostgreSQL and SQLite get it too.
 */
export const DEFAULT_BENCH_PREWARM = '10s';
export const QUICK_BENCH_PREWARM = '0s';
/**
 * twopc at the most clients after the regular slices, RSS sampled (cli/bench/soak.ts): long enough
 * that the full run judges the memory target (memorySoakSecMin: a 5-minute span after a 1-minute
 * warm start). --quick has none; --soak 0 turns it off.
 */
export const DEFAULT_BENCH_SOAK = memorySoakTime;
export const QUICK_BENCH_SOAK = '0s';
/** A slice shorter than this measures start-up noise, not throughput. */
const sliceMsMin = 100;
const durationMsMax = 3_600_000;
/** Below this a soak samples RSS less than 200 ms apart (a fifth of it): timer noise, not a series. */
const soakMsMin = 1_000;
/** A day: room for slow leaks, and a typo (--soak 600m for 60m) still costs at most one night. */
const soakMsMax = 86_400_000;
const warmupMsMax = 60_000;
const roundsMax = 100;

const FLAGS = {
  quick: {
    kind: 'boolean',
    description: `short run for CI: --duration ${QUICK_BENCH_DURATION}, --warmup ${QUICK_BENCH_WARMUP}, 1 round`,
  },
  duration: {
    kind: 'string',
    value: 'TIME',
    description: `measured time per row, e.g. 30s, 500ms, 2m; 0 = only the soak (default ${DEFAULT_BENCH_DURATION}; --quick ${QUICK_BENCH_DURATION})`,
  },
  soak: {
    kind: 'string',
    value: 'TIME',
    description: `then twopc's 2-shard transfer at the most clients for TIME, RSS sampled: judges the memory target from ${memorySoakTime} on; 0 = none (default ${DEFAULT_BENCH_SOAK} if twopc runs; --quick ${QUICK_BENCH_SOAK})`,
  },
  warmup: {
    kind: 'string',
    value: 'TIME',
    description: `unmeasured warm-up before each slice (default ${DEFAULT_BENCH_WARMUP}; --quick ${QUICK_BENCH_WARMUP})`,
  },
  prewarm: {
    kind: 'string',
    value: 'TIME',
    description: `unmeasured load on every system and scenario once, at the most clients, before the first slice (default ${DEFAULT_BENCH_PREWARM}; --quick ${QUICK_BENCH_PREWARM})`,
  },
  rounds: {
    kind: 'string',
    value: 'N',
    description: `slices per row, systems alternating between them (default ${DEFAULT_BENCH_ROUNDS}; --quick 1)`,
  },
  clients: {
    kind: 'string',
    value: 'LIST',
    description: 'concurrent clients, each with one transaction outstanding',
    default: DEFAULT_BENCH_CLIENTS,
  },
  systems: { kind: 'string', value: 'LIST', description: 'systems to run', default: SYSTEMS.join(',') },
  scenarios: {
    kind: 'string',
    value: 'LIST',
    description: '2shard (2PC), 1shard (one phase), 2shard-wal-async|sync (2shard, WAL shipped to s3rver)',
    default: SCENARIOS.join(','),
  },
  json: {
    kind: 'string',
    value: 'FILE',
    description: 'where to write the results as JSON',
    default: DEFAULT_BENCH_JSON,
  },
  dir: {
    kind: 'string',
    value: 'DIR',
    description:
      "parent of the run's temporary data directory: put it on the disk you care about (default: the OS temp dir)",
  },
  'pg-bin': {
    kind: 'string',
    value: 'DIR',
    description:
      "directory of PostgreSQL's initdb and postgres (default: newest /usr/lib/postgresql/*/bin, then PATH)",
  },
  'cpu-prof': {
    kind: 'string',
    value: 'DIR',
    description: 'write V8 CPU profiles of the twopc processes to DIR/<process>/ (they cost some throughput)',
  },
  keep: {
    kind: 'boolean',
    description: 'keep the data directory (shards, decision log, logs) for a look afterwards',
  },
} as const;

export const summary = 'benchmark twopc against PostgreSQL two-phase commit and a single SQLite file';

export const usage = formatUsage({
  synopsis:
    'npx twopc bench [--quick] [--duration TIME] [--soak TIME] [--clients LIST] [--systems LIST] [flags]',
  summary:
    'Runs money transfers in a closed loop on twopc (a coordinator and two participants, separate\n' +
    "processes, synchronous=FULL), on PostgreSQL's native two-phase commit (its own throw-away server,\n" +
    'PREPARE TRANSACTION / COMMIT PREPARED on two databases) and on one local SQLite file, alternating\n' +
    'the systems slice by slice; and twopc again with its participants shipping their WAL (async and\n' +
    'sync) to a throw-away s3rver. Prints txn/s, p50/p99 latency, CPU and peak RSS per process, the\n' +
    'ratio twopc / PostgreSQL per row and the cost of WAL shipping; then soaks twopc at one load for\n' +
    '--soak TIME, sampling its RSS; judges the targets of issue 7, and writes the same as JSON.',
  flags: FLAGS,
  notes: [
    `LISTs are comma-separated: --clients 1,16,64 (1 to ${clientsMax}), --systems ${SYSTEMS.join(',')},`,
    `--scenarios ${SCENARIOS.join(',')}.`,
    'Without PostgreSQL binaries that system is skipped with a note; without s3rver (a dev dependency)',
    'the WAL rows are. The cost of WAL shipping is measured against the 2shard row of the same clients.',
    'Progress goes to stderr, the table to stdout. Ctrl-C stops cleanly (and writes what was measured);',
    'a second Ctrl-C kills everything the bench started. See docs/benchmarks.md for what the numbers mean.',
    '',
    'Examples:',
    '  npx twopc bench --quick',
    '  npx twopc bench --duration 60s --clients 1,16,64 --json results/bench.json',
    '  npx twopc bench --systems twopc --scenarios 2shard --clients 16 --cpu-prof prof/',
    '  npx twopc bench --systems twopc --scenarios 2shard --clients 64 --duration 0 --soak 10m',
  ].join('\n'),
});

/** "10s", "500ms", "2m", or a plain number of seconds. */
export function parseDurationMs(flag: string, raw: string, minMs: number, maxMs: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw);
  const unitMs = m?.[2] === 'ms' ? 1 : m?.[2] === 'm' ? 60_000 : 1_000;
  const ms = m ? Math.round(Number(m[1]) * unitMs) : Number.NaN;
  if (!(ms >= minMs && ms <= maxMs)) {
    throw invalidArgument(
      `${flag}: "${raw}" is not a duration from ${minMs} ms to ${maxMs / 1000} s`,
      'write it like 10s, 500ms or 2m',
    );
  }
  return ms;
}

/** A comma-separated subset of `allowed`, deduplicated, in the order of `allowed`. */
function parseChoices<T extends string>(flag: string, raw: string, allowed: readonly T[]): T[] {
  const picked = new Set<string>();
  for (const item of raw.split(',')) {
    const name = item.trim();
    if (!(allowed as readonly string[]).includes(name)) {
      throw invalidArgument(`${flag}: "${name}" is not one of ${allowed.join(', ')}`);
    }
    picked.add(name);
  }
  return allowed.filter((a) => picked.has(a));
}

function parseClients(raw: string): number[] {
  const counts = raw.split(',').map((c) => parseIntFlag('--clients', c.trim(), 1, clientsMax));
  return [...new Set(counts)];
}

/** --soak: 0 (none) or soakMsMin..soakMsMax; by default on for a full run that includes twopc. */
function parseSoakMs(raw: string | undefined, quick: boolean, systems: readonly SystemName[]): number {
  const twopc = systems.includes('twopc');
  const soakMs = parseDurationMs(
    '--soak',
    raw ?? (quick || !twopc ? QUICK_BENCH_SOAK : DEFAULT_BENCH_SOAK),
    0,
    soakMsMax,
  );
  if (soakMs > 0 && soakMs < soakMsMin) {
    throw invalidArgument(
      `--soak: "${raw}" is shorter than ${soakMsMin / 1000} s`,
      `use 0 for no soak, or e.g. ${memorySoakTime}`,
    );
  }
  if (soakMs > 0 && !twopc) {
    throw invalidArgument(
      '--soak runs twopc, which is not among --systems',
      'add twopc to --systems, or --soak 0',
    );
  }
  return soakMs;
}

export function parseBenchOptions(argv: readonly string[], cwd = process.cwd()): BenchOptions {
  const flags = parseFlags('bench', argv, FLAGS);
  const systems = parseChoices<SystemName>('--systems', flags.systems, SYSTEMS);
  const durationMs = parseDurationMs(
    '--duration',
    flags.duration ?? (flags.quick ? QUICK_BENCH_DURATION : DEFAULT_BENCH_DURATION),
    0,
    durationMsMax,
  );
  const soakMs = parseSoakMs(flags.soak, flags.quick, systems);
  const warmupMs = parseDurationMs(
    '--warmup',
    flags.warmup ?? (flags.quick ? QUICK_BENCH_WARMUP : DEFAULT_BENCH_WARMUP),
    0,
    warmupMsMax,
  );
  const prewarmMs = parseDurationMs(
    '--prewarm',
    flags.prewarm ?? (flags.quick ? QUICK_BENCH_PREWARM : DEFAULT_BENCH_PREWARM),
    0,
    warmupMsMax,
  );
  const rounds =
    flags.rounds === undefined
      ? flags.quick
        ? 1
        : DEFAULT_BENCH_ROUNDS
      : parseIntFlag('--rounds', flags.rounds, 1, roundsMax);
  if (durationMs === 0 && soakMs === 0) {
    throw invalidArgument('--duration 0 runs no regular slices, and there is no soak', 'add --soak TIME');
  }
  if (durationMs > 0 && durationMs / rounds < sliceMsMin) {
    throw invalidArgument(
      `--duration ${flags.duration ?? ''} over ${rounds} rounds gives slices under ${sliceMsMin} ms`,
      'use fewer --rounds or a longer --duration',
    );
  }
  return Object.freeze({
    quick: flags.quick,
    durationMs,
    warmupMs,
    prewarmMs,
    rounds,
    clients: parseClients(flags.clients),
    systems,
    scenarios: parseChoices<Scenario>('--scenarios', flags.scenarios, SCENARIOS),
    soakMs,
    jsonPath: path.resolve(cwd, flags.json),
    dir: path.resolve(cwd, flags.dir ?? os.tmpdir()),
    ...(flags['pg-bin'] === undefined ? {} : { pgBin: path.resolve(cwd, flags['pg-bin']) }),
    ...(flags['cpu-prof'] === undefined ? {} : { cpuProfDir: path.resolve(cwd, flags['cpu-prof']) }),
    keep: flags.keep,
    command: ['npx twopc bench', ...argv].join(' '),
  });
}

export async function run(argv: readonly string[]): Promise<number> {
  const options = parseBenchOptions(argv);
  // Imported here so `--help` and flag errors stay fast and never load SQLite, gRPC or pg.
  const { runBench, EXIT_INTERRUPTED } = await import('./bench/bench-run.ts');
  const { writeReport } = await import('./bench/report.ts');
  const { formatReport } = await import('./bench/report-table.ts');
  const report = await runBench(options, { progress: (line) => process.stderr.write(`bench: ${line}\n`) });
  process.stdout.write(formatReport(report));
  writeReport(options.jsonPath, report);
  process.stdout.write(`results written to ${options.jsonPath}\n`);
  return report.interrupted ? EXIT_INTERRUPTED : EXIT_OK;
}
