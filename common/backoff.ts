/**
 * Capped exponential backoff with full jitter: attempt n waits a random time in
 * [0, min(maxMs, baseMs * 2^n)]. `random` is injectable so simulations stay seeded.
 */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * exp) + 1;
}
