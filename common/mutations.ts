/**
 * Mutations: deliberately broken builds, switched on by TWOPC_MUTATION, that exist only so the chaos
 * harness can prove it catches real bugs (issue 6, "Done means"). A harness that passes a broken build
 * proves nothing about a correct one. Never set TWOPC_MUTATION outside that test.
 *
 *   TWOPC_MUTATION=answer-before-decision-forced   (several: comma-separated)
 *
 * Free when unset: `mutation(name)` is one boolean test. The first time a switch is found on, the process
 * says so on stderr, so a harness can tell a mutation that is wired from one that is not.
 */
import type { TxnOutcome } from './api.ts';

export const MUTATIONS = {
  'answer-before-decision-forced':
    'the coordinator answers COMMITTED at once and forces the COMMIT record only after mutationForceLagMs, ' +
    'so a coordinator killed in between forgets decisions it acknowledged',
  'release-locks-at-prepare':
    'a participant votes YES but keeps no intent locks, so conflicting transactions prepare side by side',
} as const satisfies Record<string, string>;
export type MutationName = keyof typeof MUTATIONS;
export const MUTATION_NAMES = Object.keys(MUTATIONS) as MutationName[];

/**
 * How long answer-before-decision-forced keeps a COMMIT record in memory after answering: long enough
 * that a coordinator kill during a busy workload always catches some, as a lost fsync would.
 */
export const mutationForceLagMs = 1_000;

/** The line a process prints once when a mutation is first used (the harness greps logs for it). */
export const MUTATION_BANNER = 'twopc: MUTATION ACTIVE';

function parseMutations(raw: string | undefined): ReadonlySet<string> {
  const names = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(n in MUTATIONS)) process.stderr.write(`twopc: unknown TWOPC_MUTATION "${n}" ignored\n`);
  }
  return new Set(names.filter((n) => n in MUTATIONS));
}

const active = parseMutations(process.env.TWOPC_MUTATION);
const enabled = active.size > 0;
const announced = new Set<string>();

/** Whether the mutation `name` is switched on in this process. */
export function mutation(name: MutationName): boolean {
  if (!enabled || !active.has(name)) return false;
  if (!announced.has(name)) {
    announced.add(name);
    process.stderr.write(`${MUTATION_BANNER} ${name}: ${MUTATIONS[name]}\n`);
  }
  return true;
}

/**
 * answer-before-decision-forced: the client's COMMITTED answer for `txnId`, now; `force` (write the
 * COMMIT record, then phase two) runs after `mutationForceLagMs`, in the background.
 */
export function answerBeforeForced(txnId: string, force: () => Promise<unknown>): TxnOutcome {
  setTimeout(() => {
    force().catch((err: unknown) => {
      process.stderr.write(`twopc: mutation: forcing a deferred COMMIT failed: ${String(err)}\n`);
    });
  }, mutationForceLagMs);
  return { txnId, outcome: 'COMMITTED', reason: '', decisionSeq: 0n };
}

