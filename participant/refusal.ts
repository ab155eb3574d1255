/**
 * Why a prepare cannot say YES. Thrown by the checks deep inside prepare (validation, locks,
 * versions, trial-apply) and turned into a NO vote at the message boundary in prepare.ts, so the
 * checks stay short; it never leaves the participant as an exception. `read` turns an invalid
 * refusal into a TwopcError INVALID_ARGUMENT.
 */
import type { AbortReason } from '../common/protocol.ts';

export class Refusal extends Error {
  override name = 'Refusal';
  readonly reasonCode: AbortReason;
  /** The request itself is malformed: the coordinator reports INVALID_ARGUMENT, not an abort. */
  readonly invalid: boolean;

  constructor(reasonCode: AbortReason, message: string, invalid: boolean) {
    super(message);
    this.reasonCode = reasonCode;
    this.invalid = invalid;
  }
}

/** Bad input: unknown table or column, wrong type, not the full key. Changes nothing. */
export function invalidInput(message: string): Refusal {
  return new Refusal('CONSTRAINT', message, true);
}

/** The data refuses the write: CHECK, NOT NULL, UNIQUE, row exists, row missing. */
export function constraintFailed(message: string): Refusal {
  return new Refusal('CONSTRAINT', message, false);
}

/** Another transaction holds a conflicting lock, or what this one read has changed. */
export function conflict(message: string): Refusal {
  return new Refusal('CONFLICT', message, false);
}
