/**
 * `npx twopc chaos`: a seeded chaos run against a real cluster (chaos/chaos-run.ts) — processes,
 * a fault proxy on every link, a workload, a nemesis, the checkers, and a report. Exit 0 only if every
 * checker passed; 1 if one did not (or the run failed); 2 for a bad flag; 130 when interrupted.
 */
import path from 'node:path';
import { invalidArgument } from '../common/errors.ts';
import { MUTATION_NAMES, type MutationName } from '../common/mutations.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';
import { formatUsage, parseFlags, parseIntFlag } from './args.ts';
import * as simulate from '../chaos/simulation/simulate-command.ts';
import type { FaultKind } from '../chaos/schedule.ts';

/** `chaos simulate …` prints its own --help (cli/main.ts must not answer it with this page). */
export const subcommands: readonly string[] = ['simulate'];

/** Exit code after SIGINT/SIGTERM, as shells report a signal death. */
export const EXIT_INTERRUPTED = 130;
const durationMsMin = 1_000;
const durationMsMax = 24 * 3_600_000;
const clientsMax = 64;
const shardsMax = 8;
const DEFAULT_FAULTS = 'kill,pause,partition,delay,failpoints,replica-outage,redis-outage';
const REPLICATION_MODES = ['off', 'async', 'sync'] as const;
const DECISION_LOGS = ['sqlite', 'redis'] as const;

const FLAGS = {
  seed: {
    kind: 'string',
    value: 'N',
    description: 'seed of the schedule and the workload (default: random, printed)',
  },
  duration: {
    kind: 'string',
    value: 'D',
    description: 'how long faults and load run, e.g. 60s, 2m, 500ms',
    default: '60s',
  },
  workload: { kind: 'string', value: 'NAME', description: 'bank | list-append', default: 'bank' },
  faults: {
    kind: 'string',
    value: 'LIST',
    description: `comma-separated fault kinds, or none`,
    default: DEFAULT_FAULTS,
  },
  out: {
    kind: 'string',
    value: 'DIR',
    description: 'run dir for the report, logs and data (default chaos-runs/WORKLOAD-seedN-TIME)',
  },
  clients: { kind: 'string', value: 'N', description: 'concurrent clients', default: '6' },
  shards: { kind: 'string', value: 'N', description: 'participants (shards)', default: '3' },
  targets: {
    kind: 'string',
    value: 'LIST',
    description: 'only fault these: coordinator, shard-a…, clients (default all)',
  },
  replication: {
    kind: 'string',
    value: 'MODE',
    description:
      'WAL shipping to an s3rver the run starts: off | async | sync (default: off, or with ' +
      'replica-outage sync for an even seed and async for an odd one)',
  },
  'decision-log': {
    kind: 'string',
    value: 'KIND',
    description: 'sqlite | redis (a redis-server the run starts; default redis with redis-outage)',
  },
  mutation: {
    kind: 'string',
    value: 'NAME',
    description: `test the harness: run a deliberately broken build (${MUTATION_NAMES.join(', ')})`,
  },
} as const;

export const summary = 'run a seeded chaos test: real processes, injected faults, independent checkers';

export const usage = formatUsage({
  synopsis:
    'npx twopc chaos [--seed N] [--duration 60s] [--workload bank|list-append] [--faults LIST] [flags]',
  summary:
    'Starts a coordinator and participants as real processes behind a TCP fault proxy on every link,\n' +
    'runs a workload of concurrent clients while a seeded nemesis injects faults, heals everything,\n' +
    'waits for every in-doubt transaction to resolve, and judges the recorded history and the final\n' +
    'shard files with checkers that know nothing about twopc. Exit code 0 only if all of them pass.',
  flags: FLAGS,
  notes: [
    'Fault kinds:',
    '  kill            SIGKILL the coordinator or a participant, restart it on the same port',
    '  pause           SIGSTOP a process, SIGCONT it later',
    "  partition       blackhole (or reset) a process's links, both ways or one way",
    "  delay           add latency on a process's links",
    '  failpoints      restart a process with a crash failpoint armed (see `npx twopc failpoints`)',
    '  replica-outage  stop the s3rver the participants ship their WAL to (SIGKILL, restarted on its',
    '                  port and directory; or SIGSTOP/SIGCONT); at the end every shard is verified and',
    '                  restored from it and must hold what the shard holds',
    '  redis-outage    stop the redis-server of the decision log (SIGKILL, restarted on its port and',
    '                  AOF; or SIGSTOP/SIGCONT); the coordinator then runs on --decision-log redis',
    'Fault targets (--targets): coordinator, shard-a…, clients, replica, redis.',
    'Deterministic simulation (one process, simulated network and clock): npx twopc chaos simulate --help',
    '',
    'The run dir gets history.jsonl, summary.json, report.html, logs/ and data/. The same seed',
    'replays the same fault schedule and workload choices (process timing differs).',
    '',
    'Example:',
    '  npx twopc chaos --seed 7 --duration 2m --workload list-append --faults kill,partition,delay',
  ].join('\n'),
});

export interface ChaosCliOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly workload: 'bank' | 'list-append';
  readonly faults: FaultKind[];
  readonly outDir: string;
  readonly clients: number;
  readonly shards: number;
  readonly targets?: string[];
  readonly mutations: MutationName[];
  readonly replication?: (typeof REPLICATION_MODES)[number];
  readonly decisionLog?: (typeof DECISION_LOGS)[number];
}

export async function parseChaosOptions(argv: readonly string[]): Promise<ChaosCliOptions> {
  const flags = parseFlags('chaos', argv, FLAGS);
  const { FAULT_KINDS } = await import('../chaos/schedule.ts');
  const seed =
    flags.seed === undefined
      ? Math.floor(Math.random() * 2 ** 31)
      : parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
  const workload = flags.workload;
  if (workload !== 'bank' && workload !== 'list-append')
    throw invalidArgument(`--workload: "${workload}" is not bank or list-append`);
  const faults: ChaosCliOptions['faults'] = [];
  for (const raw of flags.faults === 'none' ? [] : flags.faults.split(',').map((f) => f.trim())) {
    if (!(FAULT_KINDS as readonly string[]).includes(raw))
      throw invalidArgument(
        `--faults: unknown fault "${raw}"`,
        `choose from ${FAULT_KINDS.join(', ')}, or none`,
      );
    if (!faults.includes(raw as never)) faults.push(raw as FaultKind);
  }
  const replication = oneOf('--replication', flags.replication, REPLICATION_MODES);
  const decisionLog = oneOf('--decision-log', flags['decision-log'], DECISION_LOGS);
  if (replication === 'off' && faults.includes('replica-outage'))
    throw invalidArgument(
      '--faults: replica-outage needs WAL shipping, but --replication is off',
      'give --replication async or sync, or drop replica-outage',
    );
  if (decisionLog === 'sqlite' && faults.includes('redis-outage'))
    throw invalidArgument(
      '--faults: redis-outage needs the Redis decision log, but --decision-log is sqlite',
      'give --decision-log redis, or drop redis-outage',
    );
  const shards = parseIntFlag('--shards', flags.shards, 2, shardsMax);
  const shardNames = Array.from({ length: shards }, (_, i) => `shard-${String.fromCharCode(97 + i)}`);
  let targets: string[] | undefined;
  if (flags.targets !== undefined) {
    targets = flags.targets.split(',').map((t) => t.trim());
    const known = ['coordinator', 'clients', ...shardNames, 'replica', 'redis'];
    const bad = targets.find((t) => !known.includes(t));
    if (bad !== undefined)
      throw invalidArgument(`--targets: unknown target "${bad}"`, `choose from ${known.join(', ')}`);
  }
  const mutations: MutationName[] = [];
  for (const raw of flags.mutation?.split(',').map((m) => m.trim()) ?? []) {
    if (!(MUTATION_NAMES as readonly string[]).includes(raw))
      throw invalidArgument(
        `--mutation: unknown mutation "${raw}"`,
        `choose from ${MUTATION_NAMES.join(', ')}`,
      );
    mutations.push(raw as MutationName);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    seed,
    durationMs: parseDuration(flags.duration),
    workload,
    faults,
    outDir: flags.out ?? path.join('chaos-runs', `${workload}-seed${seed}-${stamp}`),
    clients: parseIntFlag('--clients', flags.clients, 1, clientsMax),
    shards,
    ...(targets ? { targets } : {}),
    mutations,
    ...(replication === undefined ? {} : { replication }),
    ...(decisionLog === undefined ? {} : { decisionLog }),
  };
}

/** undefined if not given; one of `allowed`, or a one-line error. */
function oneOf<T extends string>(
  flag: string,
  raw: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw))
    throw invalidArgument(`${flag}: "${raw}" is not one of ${allowed.join(', ')}`);
  return raw as T;
}

/** `60s`, `2m`, `500ms`, or a plain number of seconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(raw);
  const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m?.[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = m ? Number(m[1]) * unitMs : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < durationMsMin || ms > durationMsMax)
    throw invalidArgument(
      `--duration: "${raw}" is not a duration from 1s to 24h`,
      'for example 60s, 2m or 500ms',
    );
  return ms;
}

export async function run(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'simulate') return simulate.run(argv.slice(1));
  const o = await parseChaosOptions(argv);
  const { runChaos } = await import('../chaos/chaos-run.ts');
  const { verdictLine } = await import('../chaos/report.ts');
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals++;
    process.stderr.write(signals === 1 ? 'twopc chaos: interrupted; stopping the cluster\n' : '');
    controller.abort();
    // A second signal: the run's exit hook still kills every process it started, by PID.
    if (signals > 1) process.exit(EXIT_INTERRUPTED);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { resolveServices } = await import('../chaos/service-verdicts.ts');
  const services = resolveServices(o);
  process.stdout.write(
    `twopc chaos: seed ${o.seed}, ${o.workload}, faults ${o.faults.join(',') || 'none'}, ` +
      `replication ${services.replication}, decision log ${services.decisionLog}, run dir ${o.outDir}\n`,
  );
  try {
    const { summary: s, outDir } = await runChaos({
      ...o,
      signal: controller.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(
      `twopc chaos: ${verdictLine(s)}\n` +
        `twopc chaos: ${s.faults.injected} fault(s) injected; ${Object.entries(s.ops)
          .map(([f, c]) => `${f} ok ${c.ok} / fail ${c.fail} / info ${c.info}`)
          .join('; ')}\n` +
        `twopc chaos: seed ${s.seed}; report ${path.join(outDir, 'report.html')}\n` +
        `twopc chaos: reproduce with: ${s.reproduce}\n`,
    );
    const unwired = s.mutations.filter((m) => !s.mutationsSeen.includes(m));
    if (unwired.length > 0) {
      process.stdout.write(
        `twopc chaos: WARNING: no process announced mutation ${unwired.join(', ')}: its hook is not in this build, ` +
          'so this run tested the correct code\n',
      );
    }
    if (s.interrupted) return EXIT_INTERRUPTED;
    return s.valid ? EXIT_OK : EXIT_FAILURE;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
