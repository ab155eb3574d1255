/**
 * `npx twopc chaos simulate`: deterministic simulation of the real protocol code over a simulated
 * network and clock (chaos/simulation/), a batch of seeds at a time. cli/chaos.ts hands it the
 * arguments after `simulate`. Exit 0 only if every seed passed every checker; 1 otherwise; 2 for a
 * bad flag. A failing seed is printed with the command that replays it.
 *
 * Light to import (usage, summary): the simulator itself, with SQLite and the protocol code, is
 * loaded only when `run` runs.
 */
import { writeFileSync } from 'node:fs';
import { formatUsage, parseFlags, parseIntFlag, wantsHelp } from '../../cli/args.ts';
import { EXIT_FAILURE, EXIT_OK } from '../../cli/exit.ts';
import { invalidArgument } from '../../common/errors.ts';
import { formatHistory } from '../history.ts';
import { MUTANTS, type Mutant } from './mutants.ts';
import { FAULT_KINDS, type FaultKind } from './nemesis.ts';
import type { SeedOutcome } from './seed-batch.ts';
import {
  SIMULATION_DEFAULTS,
  SIM_WORKLOADS,
  type SimWorkloadName,
  type SimulationOptions,
} from './simulation-options.ts';

/** A progress line at most this often (real ms) during a long batch. */
const progressEveryMs = 10_000;

const FLAGS = {
  seeds: {
    kind: 'string',
    value: 'A..B',
    description: 'seeds to run: a range A..B or one seed N',
    default: '1..100',
  },
  workload: {
    kind: 'string',
    value: 'NAME',
    description: 'bank | list-append (Elle-style checker)',
    default: SIMULATION_DEFAULTS.workload,
  },
  ops: {
    kind: 'string',
    value: 'N',
    description: 'client ops per schedule',
    default: String(SIMULATION_DEFAULTS.ops),
  },
  clients: {
    kind: 'string',
    value: 'N',
    description: 'concurrent clients',
    default: String(SIMULATION_DEFAULTS.clients),
  },
  shards: {
    kind: 'string',
    value: 'N',
    description: 'participants',
    default: String(SIMULATION_DEFAULTS.shards),
  },
  faults: {
    kind: 'string',
    value: 'LIST',
    description: `fault kinds each seed's profile may draw from, or none`,
    default: 'all',
  },
  jobs: { kind: 'string', value: 'N', description: 'worker threads running seeds in parallel', default: '1' },
  mutant: {
    kind: 'string',
    value: 'NAME',
    description: `run a deliberately broken build (${MUTANTS.join(', ')})`,
  },
  history: {
    kind: 'string',
    value: 'FILE',
    description: 'one seed only: write its history (JSON lines) here',
  },
  verbose: { kind: 'boolean', description: "one seed only: every node's debug log on stderr" },
  json: { kind: 'boolean', description: 'print the batch summary as JSON' },
} as const;

export const summary = 'deterministic simulation: the real protocol code over a simulated network and clock';

export const usage = formatUsage({
  synopsis: 'npx twopc chaos simulate [--seeds 1..10000] [--ops N] [--jobs N] [flags]',
  summary:
    'Runs the real coordinator, participants, decision log and in-doubt resolvers in one process over a\n' +
    'seeded simulated network and clock: message delays, drops, duplicates and reorders, crashes and\n' +
    'restarts, partitions, slow disks. Each seed runs the workload (bank transfers, or list-append\n' +
    'transactions), heals, waits for every in-doubt transaction, and is judged by the chaos checkers\n' +
    '(bank or the Elle-style list-append checker, durability, liveness). The same seed replays the\n' +
    'same run exactly.',
  flags: FLAGS,
  notes: [
    `Fault kinds: ${FAULT_KINDS.join(', ')}.`,
    '',
    'Examples:',
    '  npx twopc chaos simulate --seeds 1..10000 --jobs 2',
    '  npx twopc chaos simulate --seeds 1..2000 --workload list-append --jobs 2',
    '  npx twopc chaos simulate --seeds 4242 --history h.jsonl --verbose   (replay one seed)',
  ].join('\n'),
});

export async function run(argv: readonly string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(usage);
    return EXIT_OK;
  }
  const flags = parseFlags('chaos simulate', argv, FLAGS);
  const [from, to] = parseSeeds(flags.seeds);
  const options: SimulationOptions = {
    workload: parseWorkload(flags.workload),
    ops: parseIntFlag('--ops', flags.ops, 1, 100_000),
    clients: parseIntFlag('--clients', flags.clients, 1, 64),
    shards: parseIntFlag('--shards', flags.shards, 2, 8),
    faults: parseFaults(flags.faults),
    ...(flags.mutant === undefined ? {} : { mutant: parseMutant(flags.mutant) }),
  };
  const jobs = parseIntFlag('--jobs', flags.jobs, 1, 64);
  if (from !== to && (flags.history !== undefined || flags.verbose))
    throw invalidArgument('--history and --verbose need a single seed (--seeds N)');
  if (from === to) return runOne(from, options, flags.history, flags.verbose, flags.json);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let lastProgressMs = performance.now();
  let done = 0;
  const { simulateSeeds } = await import('./seed-batch.ts');
  const result = await simulateSeeds(from, to, {
    ...options,
    jobs,
    onSeed: (o) => {
      done++;
      if (!o.valid) out(failureText(o, options));
      if (performance.now() - lastProgressMs > progressEveryMs) {
        lastProgressMs = performance.now();
        out(`twopc simulate: ${done}/${to - from + 1} seeds done`);
      }
    },
  });
  if (flags.json) out(JSON.stringify(result, null, 2));
  out(
    `twopc simulate: seeds ${from}..${to}: ${result.passed}/${result.runs} passed, ${result.failed.length} failed; ` +
      `${Math.round(result.schedulesPerMinute)} schedules/min on ${jobs} job(s); ` +
      `${acknowledged(result.totals)} acknowledged, ${(result.totals['crashes.coordinator'] ?? 0) + (result.totals['crashes.participants'] ?? 0)} crashes`,
  );
  return result.failed.length === 0 ? EXIT_OK : EXIT_FAILURE;
}

async function runOne(
  seed: number,
  options: SimulationOptions,
  historyFile: string | undefined,
  verbose: boolean,
  json: boolean,
): Promise<number> {
  const { runSimulation } = await import('./simulation.ts');
  const r = await runSimulation(seed, { ...options, verbose });
  if (historyFile !== undefined) writeFileSync(historyFile, formatHistory(r.history));
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (json)
    out(
      JSON.stringify(
        { seed, valid: r.valid, verdicts: r.verdicts, stats: r.stats, faults: r.faults },
        replacer,
        2,
      ),
    );
  out(
    `twopc simulate: seed ${seed}: ${r.valid ? 'passed' : 'FAILED'} ` +
      `(faults ${JSON.stringify(r.profile)}, coordinator ${JSON.stringify(r.coordinatorConfig)})`,
  );
  for (const f of r.faults) out(`  ${f.atMs.toFixed(3).padStart(11)} ms  ${f.what}`);
  for (const v of r.verdicts)
    out(
      `  ${v.checker}: ${v.valid ? 'valid' : `INVALID ${JSON.stringify(v.anomalyCounts)} e.g. ${v.counterexample?.message}`}`,
    );
  out(`  stats ${JSON.stringify(r.stats)}`);
  for (const line of r.errorsLogged) out(`  logged: ${line}`);
  return r.valid ? EXIT_OK : EXIT_FAILURE;
}

function failureText(o: SeedOutcome, options: SimulationOptions): string {
  const why = o.error !== undefined ? `run error: ${o.error}` : o.failures.join('; ');
  return `twopc simulate: FAIL seed ${o.seed}: ${why}\n  replay: ${replayCommand(o.seed, options)}`;
}

/** The command that replays one seed of a batch run with `options`. */
export function replayCommand(seed: number, o: SimulationOptions): string {
  const all = o.faults === undefined || FAULT_KINDS.every((k) => o.faults?.includes(k));
  const faults = all ? 'all' : o.faults?.length === 0 ? 'none' : o.faults?.join(',');
  return (
    `npx twopc chaos simulate --seeds ${seed}${o.workload === undefined || o.workload === 'bank' ? '' : ` --workload ${o.workload}`} --ops ${o.ops} --clients ${o.clients} --shards ${o.shards} ` +
    `--faults ${faults}${o.mutant === undefined ? '' : ` --mutant ${o.mutant}`} --history seed-${seed}.jsonl`
  );
}

export function parseSeeds(raw: string): [number, number] {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(raw);
  const from = Number(m?.[1]);
  const to = m?.[2] === undefined ? from : Number(m[2]);
  if (!m || !Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from || to > 2 ** 32 - 1)
    throw invalidArgument(
      `--seeds: "${raw}" is not a seed N or a range A..B`,
      'for example --seeds 1..10000',
    );
  return [from, to];
}

function parseFaults(raw: string): FaultKind[] {
  if (raw === 'all') return [...FAULT_KINDS];
  if (raw === 'none') return [];
  return raw.split(',').map((f) => {
    const kind = f.trim();
    if (!(FAULT_KINDS as readonly string[]).includes(kind))
      throw invalidArgument(
        `--faults: unknown fault "${kind}"`,
        `choose from ${FAULT_KINDS.join(', ')}, all or none`,
      );
    return kind as FaultKind;
  });
}

/** "N transfers" (bank), "N transactions" (list-append), or both. */
function acknowledged(totals: Readonly<Record<string, number>>): string {
  const parts: string[] = [];
  if (totals['transfer.ok'] !== undefined) parts.push(`${totals['transfer.ok']} transfers`);
  if (totals['txn.ok'] !== undefined) parts.push(`${totals['txn.ok']} transactions`);
  return parts.length === 0 ? 'nothing' : parts.join(' and ');
}

function parseWorkload(raw: string): SimWorkloadName {
  if (!(SIM_WORKLOADS as readonly string[]).includes(raw))
    throw invalidArgument(`--workload: "${raw}" is not ${SIM_WORKLOADS.join(' or ')}`);
  return raw as SimWorkloadName;
}

function parseMutant(raw: string): Mutant {
  if (!(MUTANTS as readonly string[]).includes(raw))
    throw invalidArgument(`--mutant: unknown mutant "${raw}"`, `choose from ${MUTANTS.join(', ')}`);
  return raw as Mutant;
}

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
