/**
 * Views of transactions for GetTransaction and ListTransactions, merged from memory (active and
 * recent transactions: memory wins, it is newer) and the decision log (commits, and outcomes of keyed
 * transactions). Unkeyed aborts are never logged, so they are listed only while in the recent window.
 * Pages are in txn-id order (= start time); the page token is an opaque cursor (the last id served).
 */
import { TXN_STATES, type TxnOutcome, type TxnPage, type TxnState, type TxnView } from '../common/api.ts';
import { invalidArgument } from '../common/errors.ts';
import type { CoordinatorConfig } from './config.ts';
import { logStatus, type DecisionLog, type DecisionRecord, type LogStatus } from './decision-log.ts';
import type { TxnTable } from './txn-table.ts';

const PRESUMED_ABORTED = 'the coordinator stopped before deciding: presumed aborted';

/** The client's answer from a decided record (INVALID_ARGUMENT if the participants refused it as malformed). */
export function outcomeFromRecord(r: DecisionRecord): TxnOutcome {
  if (r.state === 'ABORTED' && r.invalid) throw invalidArgument(r.reason);
  if (r.state === 'COMMITTED')
    return { txnId: r.txnId, outcome: 'COMMITTED', reason: '', decisionSeq: r.decisionSeq };
  return {
    txnId: r.txnId,
    outcome: 'ABORTED',
    reason: r.reason,
    abortReason: r.abortReason ?? 'COORDINATOR_RESTART',
    decisionSeq: 0n,
  };
}

/**
 * A record as a view. An INTENT without outcome whose transaction is not in memory is undecided only
 * in name: with several shards it is ABORTED (presumed abort); with one, the shard decided and
 * GetTransaction finds out, so until then it shows as PREPARING.
 */
export function viewFromRecord(r: DecisionRecord): TxnView {
  const base = {
    txnId: r.txnId,
    shards: [...r.shards, ...r.readOnlyShards].sort(),
    decisionSeq: r.decisionSeq,
    startedAtMs: r.startedAtMs,
    decidedAtMs: r.decidedAtMs,
    idempotencyKey: r.idempotencyKey,
  };
  const status = logStatus(r);
  switch (status) {
    case 'COMMITTED':
    case 'COMMITTING':
      return { ...base, state: status, outcome: 'COMMITTED', reason: '' };
    case 'ABORTED':
      return {
        ...base,
        state: 'ABORTED',
        outcome: 'ABORTED',
        reason: r.reason,
        abortReason: r.abortReason ?? 'COORDINATOR_RESTART',
      };
    case 'INTENT':
      if (r.shards.length === 1) return { ...base, state: 'PREPARING', reason: '' };
      return {
        ...base,
        state: 'ABORTED',
        outcome: 'ABORTED',
        reason: PRESUMED_ABORTED,
        abortReason: 'COORDINATOR_RESTART',
      };
  }
}

/** The log statuses that can produce each listed state; null = the log cannot contribute. */
function logStatusesFor(states: ReadonlySet<TxnState>): readonly LogStatus[] | null {
  if (states.size === 0) return [];
  const out = new Set<LogStatus>();
  for (const s of states) {
    if (s === 'PREPARING') out.add('INTENT');
    if (s === 'COMMITTING') out.add('COMMITTING');
    if (s === 'COMMITTED') out.add('COMMITTED');
    if (s === 'ABORTED') out.add('ABORTED').add('INTENT');
  }
  return out.size === 0 ? null : [...out];
}

function encodeToken(afterTxnId: string): string {
  return Buffer.from(JSON.stringify({ after: afterTxnId }), 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  if (token === '') return '';
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string' && parsed.after !== '') return parsed.after;
  } catch {
    // fall through
  }
  throw invalidArgument('page_token is not one this coordinator issued');
}

export interface ListInput {
  readonly states: readonly TxnState[];
  readonly pageSize: number;
  readonly pageToken: string;
}

export async function listTransactions(
  deps: { table: TxnTable; log: DecisionLog; config: CoordinatorConfig },
  input: ListInput,
): Promise<TxnPage> {
  const { table, log, config } = deps;
  if (!Number.isSafeInteger(input.pageSize) || input.pageSize < 0)
    throw invalidArgument('page_size must be a non-negative integer');
  const pageSize =
    input.pageSize === 0 ? config.listPageSizeDefault : Math.min(input.pageSize, config.listPageSizeMax);
  for (const s of input.states)
    if (!TXN_STATES.includes(s)) throw invalidArgument(`unknown transaction state "${String(s)}"`);
  const wanted = new Set(input.states);
  const keep = (v: TxnView) => wanted.size === 0 || wanted.has(v.state);
  const after = decodeToken(input.pageToken);

  const statuses = logStatusesFor(wanted);
  const records = statuses === null ? [] : await log.list({ statuses, afterTxnId: after, limit: pageSize });
  // With a full page from the log there may be more records beyond the last one: nothing past it is
  // known to be complete, so this page stops there.
  const bound = records.length === pageSize ? records[records.length - 1]?.txnId : undefined;
  const candidates: TxnView[] = [];
  for (const t of table.after(after)) if (bound === undefined || t.id <= bound) candidates.push(t.view());
  for (const r of records) if (table.get(r.txnId) === undefined) candidates.push(viewFromRecord(r));
  const page = candidates.filter(keep).sort((a, b) => (a.txnId < b.txnId ? -1 : a.txnId > b.txnId ? 1 : 0));
  if (page.length > pageSize) {
    const served = page.slice(0, pageSize);
    return { transactions: served, nextPageToken: encodeToken(served[served.length - 1]?.txnId as string) };
  }
  return { transactions: page, nextPageToken: bound === undefined ? '' : encodeToken(bound) };
}
