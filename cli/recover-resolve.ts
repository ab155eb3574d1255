/**
 * `npx twopc recover resolve TXN | --all`: pushes the decision the log (or the running coordinator)
 * holds to every shard holding the transaction in doubt. It never decides: COMMIT where a COMMIT was
 * logged, abort where none was (presumed abort), nothing where the coordinator is still deciding.
 * --dry-run prints the plan and changes nothing.
 */
import { invalidArgument } from '../common/errors.ts';
import type { ResolvePlan, ResolveResult, ResolveStep } from '../coordinator/recovery/resolve.ts';
import { formatUsage, parseFlags } from './args.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';
import { print, table, toJson, verdictJson, warn } from './recover-format.ts';
import { TARGET_FLAGS, parseTarget, parseTxnArg, splitPositionals, withCluster } from './recover-targets.ts';

const FLAGS = {
  all: { kind: 'boolean', description: 'every transaction in doubt (instead of one TXN)' },
  'dry-run': { kind: 'boolean', description: 'print the plan and change nothing' },
  ...TARGET_FLAGS,
} as const;

export const summary = 'push the logged decision (or presumed abort) to the shards holding a txn in doubt';

export const usage = formatUsage({
  synopsis:
    'npx twopc recover resolve (TXN | --all) (--data-dir DIR | --participant NAME=HOST:PORT …) [flags]',
  summary:
    'Asks the decision log (or the running coordinator, with --coordinator) for the decision and pushes\n' +
    'it to every shard that holds the transaction in doubt: a COMMIT record commits, with its\n' +
    'decision_seq; no COMMIT aborts (presumed abort). A transaction the coordinator is still deciding\n' +
    "is left alone. Decisions are applied by the shard's own code (offline: in the file; online: by the\n" +
    'participant) and are idempotent, so running it twice is harmless.',
  flags: FLAGS,
  notes: [
    'Refused (exit 2, nothing changed) without a decision source, when the log file is held by a running',
    'coordinator (online: pass --coordinator instead), or offline when a shard file is held by a running',
    'participant. Exit 1 when a shard could not be reached or a push failed; 0 otherwise.',
  ].join('\n'),
});

export async function run(argv: readonly string[]): Promise<number> {
  const { positionals, flags: rest } = splitPositionals(argv, FLAGS);
  const flags = parseFlags('recover resolve', rest, FLAGS);
  if (flags.all && positionals.length > 0)
    throw invalidArgument('recover resolve: give one TXN or --all, not both');
  const which = flags.all ? { all: true as const } : { txnId: parseTxnArg('recover resolve', positionals) };
  const target = parseTarget('recover resolve', flags);
  return withCluster(target, async (cluster) => {
    const { executeResolve, planResolve } = await import('../coordinator/recovery/resolve.ts');
    const plan = await planResolve(cluster, which);
    if (plan.omitted > 0)
      warn(`warning: ${plan.omitted} more transactions in doubt; run resolve --all again for them`);
    for (const u of plan.unreachable)
      warn(`warning: shard ${u.shard} at ${u.location} could not be asked: ${u.error}`);
    if (flags['dry-run']) {
      if (flags.json) print(toJson({ dryRun: true, steps: plan.steps.map(stepJson) }));
      else print(planText(plan));
      return plan.unreachable.length > 0 ? EXIT_FAILURE : EXIT_OK;
    }
    const results = await executeResolve(cluster, plan);
    const failed = results.some((r) => r.shards.some((s) => !s.ok));
    if (flags.json) print(toJson({ dryRun: false, results: results.map(resultJson) }));
    else print(resultText(results));
    return failed || plan.unreachable.length > 0 ? EXIT_FAILURE : EXIT_OK;
  });
}

function action(s: ResolveStep): string {
  if (s.skip !== undefined) return s.skip;
  const to = s.shards.join(', ');
  if (s.verdict.kind === 'COMMIT') return `commit on ${to} with decision_seq ${s.verdict.decisionSeq}`;
  return `abort on ${to}`;
}

function planText(plan: ResolvePlan): string {
  if (plan.steps.length === 0) return 'Nothing in doubt: nothing to do (dry run).';
  const rows = plan.steps.map((s) => [
    `  ${s.txnId}`,
    s.skip !== undefined ? 'SKIP' : s.verdict.kind,
    action(s),
    s.skip !== undefined ? '' : `(${s.verdict.why})`,
  ]);
  return ['Plan (dry run: nothing was changed):', table(rows)].join('\n');
}

function resultText(results: readonly ResolveResult[]): string {
  if (results.length === 0) return 'Nothing in doubt: nothing to do.';
  const rows: string[][] = [];
  let resolved = 0;
  let skipped = 0;
  let failed = 0;
  for (const r of results) {
    if (r.skip !== undefined) {
      skipped++;
      rows.push([`  ${r.txnId}`, 'SKIPPED', r.skip]);
      continue;
    }
    const bad = r.shards.filter((s) => !s.ok);
    if (bad.length > 0) failed++;
    else resolved++;
    const verb = r.verdict.kind === 'COMMIT' ? 'committed' : 'aborted';
    const ok = r.shards.filter((s) => s.ok).map((s) => s.shard);
    const text = [
      ...(ok.length > 0 ? [`${verb} on ${ok.join(', ')}`] : []),
      ...bad.map((s) => `FAILED on ${s.shard}: ${s.detail}`),
    ].join('; ');
    rows.push([`  ${r.txnId}`, bad.length > 0 ? 'FAILED' : r.verdict.kind, text]);
  }
  const total = `Resolved ${resolved} of ${results.length}; ${skipped} left alone; ${failed} failed.`;
  return [table(rows), total].join('\n');
}

function stepJson(s: ResolveStep): Record<string, unknown> {
  return { txnId: s.txnId, decision: verdictJson(s.verdict), shards: s.shards, skip: s.skip ?? null };
}

function resultJson(r: ResolveResult): Record<string, unknown> {
  return { txnId: r.txnId, decision: verdictJson(r.verdict), skip: r.skip ?? null, shards: r.shards };
}
