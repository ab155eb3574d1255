/**
 * `npx twopc recover force-commit TXN --reason TEXT` and `force-abort TXN --reason TEXT`: a heuristic
 * decision, for a transaction the decision log cannot answer for (the log was lost). Refused when
 * the log already holds a decision, and whenever the shards make the outcome impossible (see
 * coordinator/recovery/heuristic.ts). Recorded in the log (forced) before any shard hears of it,
 * then pushed; always with a loud warning on stderr.
 */
import os from 'node:os';
import { invalidArgument } from '../common/errors.ts';
import { heuristicReasonBytesMax } from '../coordinator/recovery/config.ts';
import type { HeuristicOutcome, HeuristicPlan } from '../coordinator/recovery/heuristic.ts';
import { isTxnId, txnIdTimeMs } from '../coordinator/txn-id.ts';
import { formatUsage, parseFlags, parseId } from './args.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';
import { print, table, toJson, verdictJson, warn } from './recover-format.ts';
import { TARGET_FLAGS, parseTarget, parseTxnArg, splitPositionals, withCluster } from './recover-targets.ts';

const FLAGS = {
  reason: {
    kind: 'string',
    value: 'TEXT',
    description: "why: kept forever in the decision log's audit trail",
    required: true,
  },
  operator: { kind: 'string', value: 'NAME', description: 'who decides (default USER@HOSTNAME)' },
  'create-log': {
    kind: 'boolean',
    description: 'create the decision log file if it does not exist (only when the log was lost)',
  },
  'dry-run': { kind: 'boolean', description: 'print the plan and change nothing' },
  ...TARGET_FLAGS,
} as const;

export interface ForceCommand {
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[]): Promise<number>;
}

export function forceCommand(outcome: HeuristicOutcome): ForceCommand {
  const name = outcome === 'COMMITTED' ? 'force-commit' : 'force-abort';
  const verb = outcome === 'COMMITTED' ? 'commit' : 'abort';
  const command = `recover ${name}`;
  const refusedWhen =
    outcome === 'COMMITTED'
      ? 'a shard has it ABORTED (tombstone, NO vote) or never prepared it'
      : 'a shard already COMMITTED it';
  return {
    summary: `heuristic ${verb} of a txn the decision log cannot answer for (recorded, loud)`,
    usage: formatUsage({
      synopsis: `npx twopc ${command} TXN --reason TEXT (--data-dir DIR | --participant NAME=HOST:PORT … --log FILE) [flags]`,
      summary:
        `Decides TXN by hand: ${verb}. Only for a transaction the decision log cannot answer for, because\n` +
        'the log was lost. Presumed abort makes every transaction without a COMMIT record aborted, so with\n' +
        'the log intact `recover resolve` is always the right tool. The decision is recorded in the log\n' +
        '(forced, with --reason and --operator, kept for audit) before any shard hears of it, then pushed.',
      flags: FLAGS,
      notes: [
        `Refused (exit 2, nothing changed) when the log already holds a decision for TXN (a COMMIT, an`,
        `outcome, or an earlier heuristic), when ${refusedWhen}, when a shard of`,
        'TXN is not among the targets or cannot be asked, with --coordinator (stop the coordinator first:',
        'it presumes abort for whatever it has no COMMIT for), or when a file is held by a running process.',
      ].join('\n'),
    }),
    run: (argv) => runForce(command, outcome, argv),
  };
}

async function runForce(
  command: string,
  outcome: HeuristicOutcome,
  argv: readonly string[],
): Promise<number> {
  const { positionals, flags: rest } = splitPositionals(argv, FLAGS);
  const flags = parseFlags(command, rest, FLAGS);
  const txnId = parseTxnArg(command, positionals);
  const reason = parseReason(command, flags.reason);
  const operator = flags.operator === undefined ? defaultOperator() : parseId('--operator', flags.operator);
  const target = parseTarget(command, flags);
  return withCluster(target, async (cluster) => {
    const { executeHeuristic, planHeuristic } = await import('../coordinator/recovery/heuristic.ts');
    const plan = await planHeuristic(cluster, txnId, outcome, { createLog: flags['create-log'] });
    const verb = outcome === 'COMMITTED' ? 'COMMIT' : 'ABORT';
    if (flags['dry-run']) {
      warn(
        `warning: (dry run) this would be a HEURISTIC ${verb} of ${txnId}, decided by hand, not by the protocol`,
      );
      if (flags.json) print(toJson({ dryRun: true, ...planJson(plan, operator, reason) }));
      else print(planText(plan, operator, reason, cluster.log?.file ?? ''));
      return EXIT_OK;
    }
    warn(`WARNING: HEURISTIC ${verb} of ${txnId} by ${operator} (reason: ${JSON.stringify(reason)}).`);
    warn(
      'WARNING: decided by hand, not by the protocol: if anyone was told another outcome, atomicity is broken.',
    );
    const prepared = plan.lookup.states.map((s) => s.preparedAtMs).filter((ms) => ms > 0);
    const startedAtMs = isTxnId(txnId) ? txnIdTimeMs(txnId) : Math.min(Date.now(), ...prepared);
    const result = await executeHeuristic(cluster, plan, {
      operator,
      reason,
      nowMs: Date.now(),
      startedAtMs,
    });
    const failed = result.pushed.shards.filter((s) => !s.ok);
    if (flags.json) {
      print(
        toJson({
          dryRun: false,
          ...planJson(plan, operator, reason),
          decisionSeq: result.decisionSeq,
          shards: result.pushed.shards,
        }),
      );
    } else {
      const seq = outcome === 'COMMITTED' ? ` (decision_seq ${result.decisionSeq})` : '';
      print(
        [
          `Recorded heuristic ${verb} of ${txnId}${seq} in ${cluster.log?.file ?? 'the decision log'}.`,
          table(result.pushed.shards.map((s) => [`  ${s.shard}`, s.ok ? s.detail : `FAILED: ${s.detail}`])),
          ...(failed.length > 0
            ? [`Not every shard took it: 'npx twopc recover resolve ${txnId}' pushes it again.`]
            : []),
        ].join('\n'),
      );
    }
    return failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
  });
}

function parseReason(command: string, raw: string): string {
  const reason = raw.trim();
  if (reason === '') throw invalidArgument(`${command}: --reason must say why`);
  if (/[\r\n]/.test(reason)) throw invalidArgument(`${command}: --reason must be one line`);
  if (Buffer.byteLength(reason) > heuristicReasonBytesMax)
    throw invalidArgument(`${command}: --reason is longer than ${heuristicReasonBytesMax} bytes`);
  return reason;
}

function defaultOperator(): string {
  let user = 'operator';
  try {
    user = os.userInfo().username || user;
  } catch {
    // no passwd entry (a container): keep the generic name
  }
  return `${user}@${os.hostname()}`;
}

function planText(plan: HeuristicPlan, operator: string, reason: string, logFile: string): string {
  const verb = plan.outcome === 'COMMITTED' ? 'commit' : 'abort';
  const rows = plan.lookup.states.map((s) => [
    `  ${s.shard}`,
    s.state,
    plan.pushTo.includes(s.shard)
      ? `→ ${verb}`
      : plan.lookup.involved.includes(s.shard)
        ? 'unchanged'
        : 'not involved',
  ]);
  return [
    'Plan (dry run: nothing was changed):',
    `  1. record a heuristic ${plan.outcome} of ${plan.txnId} in ${logFile}${plan.createsLog ? ' (creating it)' : ''}`,
    `     operator ${operator}, reason ${JSON.stringify(reason)}, shards ${plan.lookup.involved.join(', ')}`,
    `  2. ${verb} on ${plan.pushTo.join(', ') || 'no shard'}`,
    'Shards:',
    table(rows),
  ].join('\n');
}

function planJson(plan: HeuristicPlan, operator: string, reason: string): Record<string, unknown> {
  return {
    txnId: plan.txnId,
    outcome: plan.outcome,
    operator,
    reason,
    involved: plan.lookup.involved,
    pushTo: plan.pushTo,
    createsLog: plan.createsLog,
    shardStates: plan.lookup.states,
    logDecisionBefore: verdictJson(plan.lookup.verdict),
  };
}
