/**
 * The simulator's own verdict next to the chaos checkers: no request handler threw anything but a
 * TwopcError. Expected failures are TwopcErrors by the code base's rule; anything else (an assertion,
 * a TypeError) is a bug that the clients would only have seen as an unknown outcome.
 */
import { AnomalyCollector, type Verdict } from '../checkers/verdict.ts';

export interface InternalErrorAnomaly {
  readonly type: 'internal-error';
  readonly message: string;
}

export function checkInternalErrors(
  bugs: readonly string[],
): Verdict<InternalErrorAnomaly, { errors: number }> {
  const collector = new AnomalyCollector<InternalErrorAnomaly>();
  for (const message of bugs) collector.add({ type: 'internal-error', message });
  return collector.verdict('internal-errors', { errors: bugs.length });
}
