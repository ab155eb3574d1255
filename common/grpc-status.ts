/**
 * The one place where errors become gRPC statuses and statuses become errors again.
 * TwopcErrors keep their code; an AbortSignal's abort becomes CANCELLED; anything else is a bug and
 * becomes INTERNAL (logged by the caller with its stack).
 */
import * as grpc from '@grpc/grpc-js';
import { AssertionError } from './assert.ts';
import { ERROR_CODES, TwopcError, type ErrorCode } from './errors.ts';

const TO_STATUS: Record<ErrorCode, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  ABORTED: grpc.status.ABORTED,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  CANCELLED: grpc.status.CANCELLED,
  INTERNAL: grpc.status.INTERNAL,
};

export interface StatusError {
  code: grpc.status;
  details: string;
  metadata?: grpc.Metadata;
}

/** Maps a thrown value to the status a handler returns. `bug` is true when it was not expected. */
export function toStatus(err: unknown): StatusError & { bug: boolean } {
  if (err instanceof TwopcError) {
    const details = err.hint ? `${err.message} (hint: ${err.hint})` : err.message;
    return { code: TO_STATUS[err.code], details, bug: false };
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return { code: grpc.status.CANCELLED, details: 'cancelled', bug: false };
  }
  const message = err instanceof AssertionError ? err.message : `internal error: ${String((err as Error)?.message ?? err)}`;
  return { code: grpc.status.INTERNAL, details: message, bug: true };
}

/** Maps an error from a gRPC call (a ServiceError) back to a TwopcError. */
export function fromStatus(err: unknown, what: string): TwopcError {
  if (err instanceof TwopcError) return err;
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code !== 'number') return new TwopcError('INTERNAL', `${what}: ${String((err as Error)?.message ?? err)}`);
  const name = grpc.status[e.code] as string | undefined;
  const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(name ?? '')
    ? (name as ErrorCode)
    : e.code === grpc.status.UNKNOWN
      ? 'INTERNAL'
      : 'UNAVAILABLE';
  return new TwopcError(code, `${what}: ${e.details || e.message || name}`, { cause: err });
}
