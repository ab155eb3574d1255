/**
 * Assertions are for programmer errors: a broken invariant means the process can no longer be trusted
 * to make decisions, so it throws an AssertionError that no handler maps to a user-facing status.
 * Expected failures (conflicts, timeouts, a dead peer) are values or TwopcErrors, never assertions.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(`assertion failed: ${message}`);
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}
