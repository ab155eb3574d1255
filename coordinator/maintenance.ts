/**
 * The coordinator's background work once started: re-driving logged COMMITs without END (at once,
 * then every `redriveIntervalMs`) and garbage-collecting the decision log every `gcIntervalMs`. Each
 * loop stops at its next wait when `stopSignal` aborts; the returned promises resolve then.
 */
import { describeError } from '../common/errors.ts';
import { pause } from './participant-call.ts';
import type { ProtocolContext } from './protocol-context.ts';

export function startMaintenance(ctx: ProtocolContext): Promise<void>[] {
  const { config, delivery, logger } = ctx;
  void delivery
    .redriveFromLog()
    .catch((err: unknown) => logger.error('start-up re-drive failed', { error: describeError(err) }));
  return [every(ctx, config.redriveIntervalMs, () => delivery.redriveFromLog()), collectGarbage(ctx)];
}

/**
 * A GC run removes at most `gcRecordsPerRunMax` records so it never stalls the event loop for long.
 * A full run means a backlog (the decision rate is above what one run a minute can keep up with), so
 * the next run comes after `gcBacklogPauseMs` instead of the whole interval: the log stays near its
 * retention at any sustained rate, in small steps.
 */
async function collectGarbage(ctx: ProtocolContext): Promise<void> {
  const { config, log, clock, logger } = ctx;
  let waitMs = config.gcIntervalMs;
  while (await pause(clock, waitMs, ctx.stopSignal)) {
    waitMs = config.gcIntervalMs;
    try {
      const removed = await log.gc(clock.nowMs() - config.decisionRetentionMs, config.gcRecordsPerRunMax);
      if (removed > 0) logger.debug('decision log GC', { removed });
      if (removed >= config.gcRecordsPerRunMax) waitMs = gcBacklogPauseMs;
    } catch (err) {
      logger.warn('decision log GC failed', { error: describeError(err) });
    }
  }
}

/** Pause between GC runs while a backlog remains: short enough to drain 10k records in ~1 s of runs. */
export const gcBacklogPauseMs = 100;

async function every(ctx: ProtocolContext, intervalMs: number, work: () => Promise<unknown>): Promise<void> {
  while (await pause(ctx.clock, intervalMs, ctx.stopSignal)) {
    await work().catch((err: unknown) =>
      ctx.logger.warn('periodic task failed', { error: describeError(err) }),
    );
  }
}
