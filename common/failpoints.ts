/**
 * Named failpoints: places in the protocol where a test or the chaos harness can crash the process
 * (as SIGKILL would), throw an error, or stall. Enabled by TWOPC_FAILPOINTS, e.g.
 *   TWOPC_FAILPOINTS="coordinator.after-decision-logged=crash;participant.before-commit-applied=delay(200)"
 * An action may carry a count, `3*crash` = fire on the third hit (earlier hits pass), so a workload
 * gets going before the crash. Free when off: one boolean test.
 */
import { TwopcError, invalidArgument } from './errors.ts';

export const FAILPOINTS = {
  'coordinator.before-decision-logged': 'all votes are YES; the COMMIT record is not yet forced to the log',
  'coordinator.after-decision-logged': 'the COMMIT record is durable; no participant and no client has been told',
  'coordinator.after-first-commit-sent': 'one participant has been sent Commit; the others have not',
  'coordinator.before-abort-sent': 'the transaction is decided ABORTED (presumed); no participant has been told',
  'participant.after-prepare-before-vote': 'the prepare is durable (locks, pending rows); the YES vote is not sent',
  'participant.before-commit-applied': 'a Commit arrived; nothing of it is applied yet',
  'participant.after-commit-applied-before-ack': 'the commit is durable on the shard; the acknowledgement is not sent',
} as const satisfies Record<string, string>;
export type FailpointName = keyof typeof FAILPOINTS;

export type FailpointAction =
  | { readonly kind: 'crash'; readonly onHit: number }
  | { readonly kind: 'error'; readonly onHit: number }
  | { readonly kind: 'delay'; readonly onHit: number; readonly ms: number };

/** A stall longer than this is a hang, not a delay: refuse it at parse time. */
export const failpointDelayMsMax = 60_000;

const active = new Map<string, FailpointAction>();
const hits = new Map<string, number>();
let enabled = false;

export function parseFailpoints(spec: string): Map<FailpointName, FailpointAction> {
  const out = new Map<FailpointName, FailpointAction>();
  for (const part of spec.split(/[;,]/).map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9.-]+)=(?:(\d+)\*)?(crash|error|delay\((\d+)\))$/.exec(part);
    if (!m) throw invalidArgument(`bad failpoint "${part}"`, 'expected NAME=crash|error|delay(MS), optionally N*ACTION');
    const name = m[1] as string;
    if (!(name in FAILPOINTS)) throw invalidArgument(`unknown failpoint "${name}"`, 'run `npx twopc failpoints` for the list');
    const onHit = m[2] === undefined ? 1 : Number(m[2]);
    const action = m[3] as string;
    if (action === 'crash' || action === 'error') out.set(name as FailpointName, { kind: action, onHit });
    else {
      const ms = Number(m[4]);
      if (ms > failpointDelayMsMax) throw invalidArgument(`failpoint delay ${ms} ms is over ${failpointDelayMsMax} ms`);
      out.set(name as FailpointName, { kind: 'delay', onHit, ms });
    }
  }
  return out;
}

/** Replaces the active set (from TWOPC_FAILPOINTS at start-up, or from a test). */
export function configureFailpoints(spec: string): void {
  const parsed = parseFailpoints(spec);
  active.clear();
  hits.clear();
  for (const [k, v] of parsed) active.set(k, v);
  enabled = active.size > 0;
}

export function configureFailpointsFromEnv(env: NodeJS.ProcessEnv = process.env): void {
  configureFailpoints(env.TWOPC_FAILPOINTS ?? '');
}

/**
 * Whether `name` is configured (whichever hit it fires on). For code that must reach a precise state
 * before it marks a failpoint (e.g. wait for an acknowledgement that is otherwise not awaited) and
 * should not pay for that when nobody is watching. Free when off: one boolean test.
 */
export function failpointArmed(name: FailpointName): boolean {
  return enabled && active.has(name);
}

/**
 * Marks a failpoint. Synchronous on purpose: it sits inside synchronous SQLite transactions too.
 * A delay blocks the whole process, as a stalled disk or a GC pause would.
 */
export function failpoint(name: FailpointName): void {
  if (!enabled) return;
  const action = active.get(name);
  if (action === undefined) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (action.kind !== 'delay' && n !== action.onHit) return;
  if (action.kind === 'delay' && n < action.onHit) return;
  switch (action.kind) {
    case 'crash':
      process.stderr.write(`twopc: failpoint ${name} fired: crashing\n`);
      process.kill(process.pid, 'SIGKILL');
      break;
    case 'error':
      throw new TwopcError('INTERNAL', `failpoint ${name} fired`);
    case 'delay':
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, action.ms);
      break;
  }
}
