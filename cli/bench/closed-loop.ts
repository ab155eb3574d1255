/**
 * The closed-loop driver: `clients` concurrent loops, each with exactly one transaction outstanding
 * (issue the next one as soon as the last one answered), as many application threads would.
 *
 * One *slice* = a warm-up (connections hot, caches filled, batches at their steady size; nothing
 * recorded) and then a measured window. A transaction counts if it *completes* inside the window;
 * its latency is from its start to its answer. When the window closes the loops stop issuing and
 * the transactions still out are awaited but not counted, so the next slice starts from a quiet
 * system.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyHistogram } from './latency-histogram.ts';

/** One transaction of a client; resolves with whether it committed (an abort is a normal outcome). */
export type TxnFn = () => Promise<TxnResult>;

export type TxnResult = { readonly committed: true } | { readonly committed: false; readonly reason: string };

export const COMMITTED: TxnResult = Object.freeze({ committed: true });

/** After a failed call (not an abort: an error), a client waits this long, so a dead system is not spun on. */
const errorPauseMs = 10;
/** Distinct error messages and abort reasons kept per slice; the rest are only counted. */
const distinctReasonsMax = 20;

export interface SliceOptions {
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Called when the measured window opens and closes (process probes snapshot here). */
  readonly onWindowStart?: () => void;
  readonly onWindowEnd?: () => void;
  /** Called about every `sampleEveryMs` inside the window. */
  readonly onSample?: () => void;
  readonly sampleEveryMs?: number;
  /** Stops the slice early (Ctrl-C); the result then covers the window so far. */
  readonly signal?: AbortSignal;
}

export interface SliceResult {
  readonly clients: number;
  readonly measuredMs: number;
  readonly committed: number;
  readonly aborted: number;
  readonly errors: number;
  /** Counts per abort reason and per error message (the first `distinctReasonsMax` distinct ones). */
  readonly abortReasons: Record<string, number>;
  readonly errorMessages: Record<string, number>;
  /** Latency of committed transactions. */
  readonly latency: LatencyHistogram;
}

function bump(map: Record<string, number>, key: string): void {
  if (key in map || Object.keys(map).length < distinctReasonsMax) map[key] = (map[key] ?? 0) + 1;
}

/** Runs one slice with one TxnFn per client. */
export async function runSlice(txns: readonly TxnFn[], options: SliceOptions): Promise<SliceResult> {
  const latency = new LatencyHistogram();
  const abortReasons: Record<string, number> = {};
  const errorMessages: Record<string, number> = {};
  let committed = 0;
  let aborted = 0;
  let errors = 0;
  let measuring = false;
  let stopped = false;

  const loop = async (txn: TxnFn) => {
    while (!stopped) {
      const startMs = performance.now();
      let result: TxnResult | undefined;
      try {
        result = await txn();
      } catch (err) {
        if (measuring) {
          errors++;
          bump(errorMessages, err instanceof Error ? err.message : String(err));
        }
        await sleep(errorPauseMs);
        continue;
      }
      if (!measuring) continue;
      if (result.committed) {
        committed++;
        latency.recordMs(performance.now() - startMs);
      } else {
        aborted++;
        bump(abortReasons, result.reason);
      }
    }
  };

  const loops = txns.map((txn) => loop(txn));
  const signal = options.signal;
  await sleep(options.warmupMs, undefined, signal ? { signal } : {}).catch(() => {});
  options.onWindowStart?.();
  measuring = true;
  const windowStartMs = performance.now();
  const sampleEveryMs = options.sampleEveryMs ?? 1_000;
  const sampler = options.onSample ? setInterval(options.onSample, sampleEveryMs) : undefined;
  if (!signal?.aborted) {
    await sleep(options.measureMs, undefined, signal ? { signal } : {}).catch(() => {});
  }
  measuring = false;
  const measuredMs = performance.now() - windowStartMs;
  if (sampler) clearInterval(sampler);
  options.onWindowEnd?.();
  stopped = true;
  await Promise.all(loops);
  return {
    clients: txns.length,
    measuredMs,
    committed,
    aborted,
    errors,
    abortReasons,
    errorMessages,
    latency,
  };
}
