/**
 * The coordinator's background work once started: re-driving logged COMMITs without END (at once,
 * then every `redriveIntervalMs`) and garbage-collecting the decision log every `gcIntervalMs`. Each
 * loop stops at its next wait when `stopSignal` aborts; the returned promises resolve then.
 */
import { describeError } from '../common/errors.ts';
import { pause } from './participant-call.ts';
import type { ProtocolContext } from './protocol-context.ts';

export function startMaintenance(ctx: ProtocolContext): Promise<void>[] {
  const { config, delivery, log, clock, logger } = ctx;
  void delivery
    .redriveFromLog()
    .catch((err: unknown) => logger.error('start-up re-drive failed', { error: describeError(err) }));
  return [
    every(ctx, config.redriveIntervalMs, () => delivery.redriveFromLog()),
    every(ctx, config.gcIntervalMs, async () => {
      const removed = await log.gc(clock.nowMs() - config.decisionRetentionMs, config.gcRecordsPerRunMax);
      if (removed > 0) logger.debug('decision log GC', { removed });
    }),
  ];
}

async function every(ctx: ProtocolContext, intervalMs: number, work: () => Promise<unknown>): Promise<void> {
  while (await pause(ctx.clock, intervalMs, ctx.stopSignal)) {
    await work().catch((err: unknown) =>
      ctx.logger.warn('periodic task failed', { error: describeError(err) }),
    );
  }
}
