/**
 * Query: read-only SQL against one shard's committed state. The participant is the authority on
 * what is read-only (it runs the statement on a read-only connection); the coordinator only refuses
 * what is plainly not a query before sending it, so a typo'd DELETE never leaves the coordinator.
 */
import { invalidArgument } from '../common/errors.ts';
import type { QueryResult } from '../common/protocol.ts';
import type { SqlValue } from '../common/value.ts';
import { validateRow, validateShard, type ValidationContext } from './op-validation.ts';
import { callParticipant } from './participant-call.ts';
import { participantFor, type ProtocolContext } from './protocol-context.ts';

/** Leading whitespace and SQL comments, which may precede the first keyword. */
const LEADING_NOISE = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;
const QUERY_START = /^(?:select|with|values)\b/i;

export function validateQuery(sql: string, params: readonly SqlValue[], ctx: ValidationContext): void {
  if (typeof sql !== 'string' || sql.trim() === '') throw invalidArgument('query: sql is empty');
  if (Buffer.byteLength(sql, 'utf8') > ctx.config.requestBytesMax)
    throw invalidArgument('query: sql is over the size limit');
  if (!QUERY_START.test(sql.replace(LEADING_NOISE, ''))) {
    throw invalidArgument(
      'query: only a single SELECT is allowed',
      'writes go through Execute or an interactive transaction',
    );
  }
  if (!Array.isArray(params)) throw invalidArgument('query: params is not a list');
  validateRow(Object.fromEntries(params.map((p, i) => [`$${i + 1}`, p])), 'params', ctx, 'query');
}

export function runQuery(
  ctx: ProtocolContext,
  validation: ValidationContext,
  shard: string,
  sql: string,
  params: readonly SqlValue[],
): Promise<QueryResult> {
  validateShard(shard, validation, 'query');
  validateQuery(sql, params, validation);
  const client = participantFor(ctx, shard);
  return callParticipant(ctx.clock, `query at ${shard}`, ctx.config.queryTimeoutMs, ctx.stopSignal, (t) =>
    client.query(sql, params, t),
  );
}
