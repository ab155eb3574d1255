/**
 * Opening the decision log a spec (spec.ts) names, as the coordinator: the epoch goes up. A Redis log
 * is checked for durability first (FAILED_PRECONDITION on a non-durable one unless allowed, then
 * logged loudly); how durability was established is logged at start-up.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../common/log.ts';
import type { DecisionLog } from '../decision-log.ts';
import { RedisDecisionLog } from './redis.ts';
import type { DecisionLogSpec } from './spec.ts';
import { SqliteDecisionLog } from './sqlite.ts';

/** Opens the log as the coordinator (the epoch goes up). */
export async function openDecisionLog(spec: DecisionLogSpec, logger: Logger): Promise<DecisionLog> {
  if (spec.kind === 'sqlite') {
    mkdirSync(path.dirname(path.resolve(spec.path)), { recursive: true });
    return SqliteDecisionLog.open(spec.path);
  }
  const log = await RedisDecisionLog.open(spec.url, { durability: spec.durability, logger });
  const plan = log.durability;
  if (plan !== undefined) {
    const fields = { url: spec.url.display, durability: plan.summary, epoch: log.epoch };
    if (spec.durability.allowNonDurable && plan.summary.startsWith('NOT DURABLE')) {
      logger.warn(
        'DECISION LOG IS NOT DURABLE: started with --allow-non-durable-log; a crash of Redis can lose ' +
          'acknowledged commits, and shards may then diverge',
        { ...fields, problems: plan.warnings },
      );
    } else {
      logger.info('redis decision log open', fields);
      for (const warning of plan.warnings)
        logger.warn('redis decision log durability risk', { ...fields, warning });
    }
  }
  return log;
}
